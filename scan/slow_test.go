package scan_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/filestore-go/filestore/scan"
)

// These tests upload content that stalls in the middle, as a slow client's
// does: the streaming scan gives up without holding its slot, and the
// verdict on the whole content, scanned again after the pass, decides.

// stalled returns a reader of head and then tail that, between the two,
// waits until gate is closed: an upload that stalls halfway.
func stalled(head, tail []byte, gate <-chan struct{}) io.Reader {
	return io.MultiReader(bytes.NewReader(head), waitReader(gate), bytes.NewReader(tail))
}

// waitReader reads nothing: it ends once its channel is closed.
type waitReader <-chan struct{}

func (w waitReader) Read([]byte) (int, error) {
	<-w
	return 0, io.EOF
}

// startedScanner passes its scans on to a ClamAV and closes started when the
// first of them reads its content: ClamAV reads only once it holds a slot.
type startedScanner struct {
	*scan.ClamAV
	started chan struct{}
	once    sync.Once
}

func newStartedScanner(clam *scan.ClamAV) *startedScanner {
	return &startedScanner{ClamAV: clam, started: make(chan struct{})}
}

func (s *startedScanner) Scan(ctx context.Context, r io.Reader) (*filestore.ScanResult, error) {
	return s.ClamAV.Scan(ctx, &counter{r: r, atN: 1, at: func() { s.once.Do(func() { close(s.started) }) }})
}

// putResult is what a Put run in a goroutine returned.
type putResult struct {
	f   *filestore.File
	err error
}

// putStalled starts owner's Put of head+tail, stalled between the two
// until go on is called, and waits until the scan of its stream holds a
// slot. The test's cleanup lets it go on and waits for it.
func putStalled(t *testing.T, st *testStore, sc *startedScanner, owner string, head, tail []byte) (goOn func(), res <-chan putResult) {
	t.Helper()
	gate := make(chan struct{})
	goOn = sync.OnceFunc(func() { close(gate) })
	done := make(chan putResult, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		f, err := st.Put(context.Background(), owner, "", "slow.bin", stalled(head, tail, gate), nil)
		done <- putResult{f, err}
	}()
	t.Cleanup(func() {
		goOn()
		<-finished
	})
	select {
	case <-sc.started:
	case <-finished:
		r := <-done
		t.Fatalf("stalled Put returned before its scan began: %v, %v", r.f, r.err)
	}
	return goOn, done
}

// scanOnceFree scans EICAR with clam, which has one slot, retrying while
// that slot stays busy for longer than clam's ScanTimeout, until guard ends.
func scanOnceFree(t *testing.T, guard context.Context, clam *scan.ClamAV) {
	t.Helper()
	for {
		res, err := clam.Scan(guard, bytes.NewReader(eicar(t)))
		switch {
		case err == nil && res.Signature == sigEICAR:
			return
		case (errors.Is(err, filestore.ErrScannerBusy) || errors.Is(err, filestore.ErrScanIncomplete)) && guard.Err() == nil:
			// the stalled scan still held the slot when this one gave up
			// (clamd busy), or held it so long that this one's ScanTimeout
			// ran out before its content ended (seen under the race
			// detector)
		default:
			t.Errorf("Scan while an upload stalls = %+v, %v; want %s (the stalled scan must free its slot)", res, err, sigEICAR)
			return
		}
	}
}

// TestStoreSlowUpload stalls uploads halfway for longer than StallTimeout,
// ScanTimeout or clamd's ReadTimeout, with the scanner up: the streaming
// scan gives up and frees its slot (another Scan gets it while the upload
// still stalls), and the
// scan of the whole content after the pass decides, whatever the policy:
// EICAR is refused and leaves nothing behind, clean content is stored clean.
func TestStoreSlowUpload(t *testing.T) {
	addr := testenv.ClamdAddr(t)
	head := make([]byte, 300<<10)
	if _, err := io.ReadFull(newNoise(42), head); err != nil {
		t.Fatal(err)
	}
	infected := append(bytes.Repeat([]byte("x"), 10), eicar(t)...)
	clean := []byte("the rest, clean")
	stall := scan.Options{MaxConcurrent: 1, StallTimeout: 100 * time.Millisecond}
	timeout := scan.Options{MaxConcurrent: 1, ScanTimeout: time.Second, StallTimeout: time.Hour}
	// clamd's own ReadTimeout (1s) drops the stream before StallTimeout.
	clamdFirst := scan.Options{MaxConcurrent: 1, StallTimeout: 3 * time.Second}
	tests := []struct {
		name      string
		clamdConf []string // a clamd of the test's own with these lines; nil: the shared one
		opts      scan.Options
		policy    filestore.ScanPolicy
		tail      []byte
		infected  bool
	}{
		{"StallTimeout, EICAR, fail-open", nil, stall, filestore.FailOpen, infected, true},
		{"StallTimeout, EICAR, fail-closed", nil, stall, filestore.FailClosed, infected, true},
		{"StallTimeout, clean, fail-closed", nil, stall, filestore.FailClosed, clean, false},
		{"StallTimeout, clean, fail-open", nil, stall, filestore.FailOpen, clean, false},
		{"ScanTimeout, EICAR, fail-open", nil, timeout, filestore.FailOpen, infected, true},
		{"ScanTimeout, clean, fail-closed", nil, timeout, filestore.FailClosed, clean, false},
		{"clamd's ReadTimeout, EICAR, fail-open", []string{"ReadTimeout 1"}, clamdFirst, filestore.FailOpen, infected, true},
		{"clamd's ReadTimeout, clean, fail-closed", []string{"ReadTimeout 1"}, clamdFirst, filestore.FailClosed, clean, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := addr
			if tt.clamdConf != nil {
				addr = startTestClamd(t, tt.clamdConf...).addr
			}
			clam := newClam(t, addr, &tt.opts)
			sc := newStartedScanner(clam)
			st := openStore(t, sc, tt.policy, "")
			goOn, res := putStalled(t, st, sc, owner, head, tt.tail)
			guard, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			scanOnceFree(t, guard, clam)
			goOn()
			r := <-res

			if tt.infected {
				wantInfected(t, r.f, r.err, sigEICAR)
				if n := st.fileCount(t); n != 0 {
					t.Errorf("store holds %d files, want 0", n)
				}
				if files := st.blobFiles(t); len(files) != 0 {
					t.Errorf("bucket holds %q after Collect, want nothing", files)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("Put: %v", r.err)
			}
			if diff := cmp.Diff(scanned(t, clam), r.f.Scan); diff != "" {
				t.Errorf("Put: File.Scan (-want +got):\n%s", diff)
			}
			if want := int64(len(head) + len(tt.tail)); r.f.Size != want {
				t.Errorf("Put: Size = %d, want %d", r.f.Size, want)
			}
		})
	}
}

// TestStoreStalledUploadFreesSlot: with one scan slot, one owner's upload
// that stalls does not hold up another owner's: those are scanned (clean
// stored clean, EICAR refused) while it stalls, and it is scanned in full
// once it goes on.
func TestStoreStalledUploadFreesSlot(t *testing.T) {
	clam := newClam(t, testenv.ClamdAddr(t), &scan.Options{MaxConcurrent: 1, StallTimeout: 100 * time.Millisecond})
	sc := newStartedScanner(clam)
	st := openStore(t, sc, filestore.FailClosed, "")
	want := scanned(t, clam)
	goOn, res := putStalled(t, st, sc, "mallory", make([]byte, 300<<10), nil)
	defer func() {
		goOn()
		r := <-res
		if r.err != nil {
			t.Fatalf("stalled Put, once it went on: %v", r.err)
		}
		if diff := cmp.Diff(want, r.f.Scan); diff != "" {
			t.Errorf("stalled Put, once it went on: File.Scan (-want +got):\n%s", diff)
		}
	}()

	// The guard only bounds a failure: before, these waited for the
	// stalled upload's slot for ScanTimeout (10 minutes).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := st.Put(ctx, owner, "", "a.txt", bytes.NewReader([]byte("hello")), nil)
	if err != nil {
		t.Fatalf("another owner's Put while an upload stalls: %v", err)
	}
	if diff := cmp.Diff(want, f.Scan); diff != "" {
		t.Errorf("another owner's Put while an upload stalls: File.Scan (-want +got):\n%s", diff)
	}
	wantInfected(t, nil, firstErr(st.Put(ctx, owner, "", "eicar.com", bytes.NewReader(eicar(t)), nil)), sigEICAR)
}

// TestStoreSlowUploadClamdDown: when the scanner is down by the time a
// stalled upload goes on, the scan after the pass finds it down and the
// scan policy applies as for any upload.
func TestStoreSlowUploadClamdDown(t *testing.T) {
	tests := []struct {
		policy  filestore.ScanPolicy
		wantErr error // nil: stored unscanned
	}{
		{filestore.FailOpen, nil},
		{filestore.FailClosed, filestore.ErrScannerUnavailable},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy), func(t *testing.T) {
			clamd := startTestClamd(t)
			clam := newClam(t, clamd.addr, &scan.Options{MaxConcurrent: 1, StallTimeout: 100 * time.Millisecond, DialTimeout: 2 * time.Second})
			sc := newStartedScanner(clam)
			st := openStore(t, sc, tt.policy, "")
			goOn, res := putStalled(t, st, sc, owner, make([]byte, 300<<10), []byte("tail"))
			guard, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			scanOnceFree(t, guard, clam)
			clamd.stop()
			goOn()
			r := <-res

			if tt.wantErr != nil {
				if !errors.Is(r.err, tt.wantErr) {
					t.Fatalf("Put = %v, %v; want %v", r.f, r.err, tt.wantErr)
				}
				if files := st.blobFiles(t); len(files) != 0 {
					t.Errorf("bucket holds %q after Collect, want nothing", files)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("Put: %v", r.err)
			}
			if diff := cmp.Diff(unscanned, r.f.Scan); diff != "" {
				t.Errorf("Put: File.Scan (-want +got):\n%s", diff)
			}
		})
	}
}
