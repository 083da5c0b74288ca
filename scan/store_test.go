package scan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/filestore-go/filestore/scan"
)

// These tests run a real Store (SQLite catalogue, file:// bucket) with a
// ClamAV scanner against real clamds, and check the scan policy that Put
// applies to the scanner's verdicts.

const owner = "alice"

// testNow is the Store's clock, so that ScannedAt is exact.
var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

type testStore struct {
	filestore.Store
	blobDir string
}

func openStore(t *testing.T, clam filestore.Scanner, policy filestore.ScanPolicy, oversize filestore.OversizeRule) *testStore {
	t.Helper()
	dir := t.TempDir()
	blobDir := filepath.Join(dir, "blobs")
	if err := os.Mkdir(blobDir, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := filestore.Open(context.Background(), filestore.Options{
		Database:     "sqlite://" + filepath.Join(dir, "fs.db"),
		Bucket:       "file://" + blobDir,
		Scanner:      clam,
		ScanPolicy:   policy,
		ScanOversize: oversize,
		Now:          func() time.Time { return testNow },
		Logger:       slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	if err != nil {
		t.Fatalf("filestore.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return &testStore{Store: st, blobDir: blobDir}
}

// testWriter sends a Store's log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// blobFiles collects garbage (staging older than a nanosecond included) and
// returns the regular files left in the bucket's directory.
func (s *testStore) blobFiles(t *testing.T) []string {
	t.Helper()
	if _, err := s.Collect(context.Background(), &filestore.CollectOptions{StagingTTL: time.Nanosecond}); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return filestoretest.BucketFiles(t, s.blobDir)
}

// fileCount returns how many live files owner has, anywhere.
func (s *testStore) fileCount(t *testing.T) int {
	t.Helper()
	page, err := s.List(context.Background(), owner, &filestore.ListOptions{Recursive: true, Limit: 1000})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return len(page.Files)
}

func (s *testStore) put(name string, r io.Reader) (*filestore.File, error) {
	return s.Put(context.Background(), owner, "", name, r, nil)
}

// wantInfected checks that err is the Put error for signature sig.
func wantInfected(t *testing.T, f *filestore.File, err error, sig string) {
	t.Helper()
	var ie *filestore.InfectedError
	if !errors.Is(err, filestore.ErrInfected) || !errors.As(err, &ie) {
		t.Fatalf("Put = %v, %v; want an *InfectedError", f, err)
	}
	if ie.Signature != sig {
		t.Errorf("InfectedError.Signature = %q, want %q", ie.Signature, sig)
	}
}

func scanned(t *testing.T, clam *scan.ClamAV) filestore.ScanInfo {
	t.Helper()
	v, err := clam.Version(context.Background())
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	at := testNow
	return filestore.ScanInfo{Status: filestore.ScanClean, Engine: "clamav", Version: v.String(), ScannedAt: &at}
}

var unscanned = filestore.ScanInfo{Status: filestore.ScanUnscanned}

// TestStoreRejectsInfected puts EICAR and every clamav-testfiles file: each
// is refused with its signature, and nothing of them stays in the bucket.
func TestStoreRejectsInfected(t *testing.T) {
	clam := newClam(t, testenv.ClamdAddr(t), nil)
	st := openStore(t, clam, filestore.FailClosed, filestore.OversizeReject)

	f, err := st.put("eicar.com", bytes.NewReader(eicar(t)))
	wantInfected(t, f, err, sigEICAR)
	f, err = st.put("eicar-at-end.bin", noiseThen(5<<20, eicar(t)))
	wantInfected(t, f, err, sigEICAR)

	entries, err := os.ReadDir(testfilesDir)
	switch {
	case errors.Is(err, os.ErrNotExist) && os.Getenv("CI") != "true":
		t.Logf("%s is absent: install clamav-testfiles (.ci/services/clamd.sh does) to put them too", testfilesDir)
	case err != nil:
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			file, err := os.Open(filepath.Join(testfilesDir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			defer file.Close()
			f, err := st.put(e.Name(), file)
			wantInfected(t, f, err, sigClamExe)
		})
	}

	if n := st.fileCount(t); n != 0 {
		t.Errorf("%d files stored, want none", n)
	}
	if files := st.blobFiles(t); len(files) != 0 {
		t.Errorf("bucket holds %q after Collect, want nothing", files)
	}
}

func TestStoreClean(t *testing.T) {
	clam := newClam(t, testenv.ClamdUnixAddr(t), nil)
	st := openStore(t, clam, filestore.FailClosed, filestore.OversizeReject)
	want := scanned(t, clam)

	f, err := st.put("noise.bin", noiseThen(3<<20, nil))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if diff := cmp.Diff(want, f.Scan); diff != "" {
		t.Errorf("Put: File.Scan (-want +got):\n%s", diff)
	}
	got, err := st.Stat(context.Background(), owner, f.ID)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if diff := cmp.Diff(want, got.Scan); diff != "" {
		t.Errorf("Stat: File.Scan (-want +got):\n%s", diff)
	}
	if err := st.Ping(context.Background()); err != nil {
		t.Errorf("Store.Ping: %v", err)
	}
}

// TestStoreClamdDown stops a clamd of its own under two Stores sharing one
// ClamAV: fail-closed refuses uploads and its Ping fails, fail-open stores
// them unscanned; after a restart both scan again without being reopened.
func TestStoreClamdDown(t *testing.T) {
	clamd := startTestClamd(t)
	clam := newClam(t, clamd.addr, &scan.Options{DialTimeout: 2 * time.Second, ReadTimeout: 10 * time.Second})
	closed := openStore(t, clam, filestore.FailClosed, filestore.OversizeReject)
	open := openStore(t, clam, filestore.FailOpen, filestore.OversizeReject)
	clean := scanned(t, clam)
	ctx := context.Background()

	for _, st := range []*testStore{closed, open} {
		f, err := st.put("before.bin", noiseThen(1<<20, nil))
		if err != nil {
			t.Fatalf("Put before stop: %v", err)
		}
		if diff := cmp.Diff(clean, f.Scan); diff != "" {
			t.Errorf("Put before stop: File.Scan (-want +got):\n%s", diff)
		}
	}
	blobsBefore := len(closed.blobFiles(t))

	clamd.stop()
	f, err := closed.put("down.bin", noiseThen(1<<20, nil))
	if !errors.Is(err, filestore.ErrScannerUnavailable) {
		t.Errorf("fail-closed Put with clamd down = %v, %v; want ErrScannerUnavailable", f, err)
	}
	if n := closed.fileCount(t); n != 1 {
		t.Errorf("fail-closed store holds %d files, want 1", n)
	}
	if n := len(closed.blobFiles(t)); n != blobsBefore {
		t.Errorf("fail-closed bucket holds %d files after Collect, want %d as before", n, blobsBefore)
	}
	if err := closed.Ping(ctx); !errors.Is(err, filestore.ErrScannerUnavailable) {
		t.Errorf("fail-closed Store.Ping with clamd down = %v, want ErrScannerUnavailable", err)
	}
	f, err = open.put("down.bin", noiseThen(1<<20, nil))
	if err != nil {
		t.Fatalf("fail-open Put with clamd down: %v", err)
	}
	if diff := cmp.Diff(unscanned, f.Scan); diff != "" {
		t.Errorf("fail-open Put with clamd down: File.Scan (-want +got):\n%s", diff)
	}
	if err := open.Ping(ctx); err != nil {
		t.Errorf("fail-open Store.Ping with clamd down: %v (the scanner is not required)", err)
	}

	clamd.start()
	if err := closed.Ping(ctx); err != nil {
		t.Errorf("fail-closed Store.Ping after restart: %v", err)
	}
	for _, st := range []*testStore{closed, open} {
		f, err := st.put("after.bin", noiseThen(1<<20, nil))
		if err != nil {
			t.Fatalf("Put after restart: %v", err)
		}
		if diff := cmp.Diff(clean, f.Scan); diff != "" {
			t.Errorf("Put after restart: File.Scan (-want +got):\n%s", diff)
		}
		wantInfected(t, nil, firstErr(st.put("eicar.com", bytes.NewReader(eicar(t)))), sigEICAR)
	}
}

func firstErr(_ *filestore.File, err error) error { return err }

// TestStoreOversize runs a clamd of its own with StreamMaxLength 1M and
// MaxFileSize 512K: content over either limit follows ScanOversize, whose
// default is the scan policy's (design: a file over clamd's stream limit
// follows the same policy).
func TestStoreOversize(t *testing.T) {
	clamd := startTestClamd(t,
		"StreamMaxLength 1M",
		"MaxFileSize 512K",
		"MaxScanSize 1M",
		"AlertExceedsMax yes",
	)
	clam := newClam(t, clamd.addr, nil)
	reject := openStore(t, clam, filestore.FailClosed, filestore.OversizeReject)
	unscannedStore := openStore(t, clam, filestore.FailClosed, filestore.OversizeUnscanned)
	stores := []struct {
		name      string
		store     *testStore
		unscanned bool // stored unscanned; else refused with ErrTooLarge
	}{
		{"OversizeReject", reject, false},
		{"OversizeUnscanned", unscannedStore, true},
		{"FailOpen, OversizeReject", openStore(t, clam, filestore.FailOpen, filestore.OversizeReject), false},
		{"FailClosed, default", openStore(t, clam, filestore.FailClosed, ""), false},
		{"FailOpen, default", openStore(t, clam, filestore.FailOpen, ""), true},
	}

	sizes := []struct {
		name string
		size int64
	}{
		{"over StreamMaxLength", 2 << 20},
		{"over MaxFileSize (AlertExceedsMax)", 768 << 10},
	}
	for _, tt := range sizes {
		for _, st := range stores {
			t.Run(tt.name+"/"+st.name, func(t *testing.T) {
				f, err := st.store.Put(context.Background(), owner, "", "big.bin", noiseThen(tt.size, nil), &filestore.PutOptions{Overwrite: true})
				if !st.unscanned {
					if !errors.Is(err, filestore.ErrTooLarge) || !errors.Is(err, filestore.ErrScanLimit) {
						t.Errorf("Put = %v, %v; want ErrTooLarge wrapping ErrScanLimit", f, err)
					}
					if n := st.store.fileCount(t); n != 0 {
						t.Errorf("store holds %d files, want 0", n)
					}
					if files := st.store.blobFiles(t); len(files) != 0 {
						t.Errorf("bucket holds %q after Collect, want nothing", files)
					}
					return
				}
				if err != nil {
					t.Fatalf("Put: %v", err)
				}
				if diff := cmp.Diff(unscanned, f.Scan); diff != "" {
					t.Errorf("Put: File.Scan (-want +got):\n%s", diff)
				}
				if f.Size != tt.size {
					t.Errorf("Put: Size = %d, want %d", f.Size, tt.size)
				}
			})
		}
	}
	// Under the limits the same stores scan.
	f, err := unscannedStore.put("small.bin", noiseThen(256<<10, nil))
	if err != nil {
		t.Fatalf("Put small: %v", err)
	}
	if diff := cmp.Diff(scanned(t, clam), f.Scan); diff != "" {
		t.Errorf("Put small: File.Scan (-want +got):\n%s", diff)
	}
	wantInfected(t, nil, firstErr(reject.put("eicar.com", noiseThen(256<<10, eicar(t)))), sigEICAR)
}

// noVerdict is a fault-injecting Scanner: its Scan reads nothing and gives
// no verdict but err, while Ping (and Version) go to a real clamd.
type noVerdict struct {
	*scan.ClamAV
	err   error
	scans atomic.Int32
}

func (n *noVerdict) Scan(context.Context, io.Reader) (*filestore.ScanResult, error) {
	n.scans.Add(1)
	return nil, n.err
}

// TestPutFailOpenPingsScanner: under fail-open, a scanner that gave no
// verdict lets the upload in unscanned only when it is down. When it still
// answers Ping (the real clamd, up), the upload is refused as busy and
// nothing is stored, whether the scan said "unavailable" or came back
// incomplete twice (the stream's scan, then the staged copy's); with the
// clamd stopped, the upload is stored unscanned as before, and so it is at
// once, without a Ping, when the scanner says it found itself down.
func TestPutFailOpenPingsScanner(t *testing.T) {
	up := newClam(t, testenv.ClamdAddr(t), nil)
	stopped := startTestClamd(t)
	stoppedClam := newClam(t, stopped.addr, &scan.Options{DialTimeout: time.Second, ReadTimeout: time.Second})
	stopped.stop()
	unavailable := fmt.Errorf("injected: %w", filestore.ErrScannerUnavailable)
	incomplete := fmt.Errorf("injected: %w", filestore.ErrScanIncomplete)
	down := fmt.Errorf("injected: %w: %w", filestore.ErrScannerUnavailable, filestore.ErrScannerDown)
	for _, tt := range []struct {
		name      string
		clam      *scan.ClamAV
		err       error
		wantScans int32
		wantBusy  bool
	}{
		{"unavailable, clamd up", up, unavailable, 1, true},
		{"incomplete twice, clamd up", up, incomplete, 2, true},
		{"unavailable, clamd down", stoppedClam, unavailable, 1, false},
		{"incomplete twice, clamd down", stoppedClam, incomplete, 2, false},
		// The scanner checked itself and found itself down: Put trusts it.
		{"down by its own check", up, down, 1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc := &noVerdict{ClamAV: tt.clam, err: tt.err}
			st := openStore(t, sc, filestore.FailOpen, "")
			f, err := st.put("eicar.com", bytes.NewReader(eicar(t)))
			if n := sc.scans.Load(); n != tt.wantScans {
				t.Errorf("%d scans, want %d", n, tt.wantScans)
			}
			if !tt.wantBusy {
				if err != nil || f.Scan != unscanned {
					t.Fatalf("Put with clamd down = %+v, %v; want stored unscanned", f, err)
				}
				return
			}
			if !errors.Is(err, filestore.ErrScannerUnavailable) || !errors.Is(err, filestore.ErrScannerBusy) {
				t.Errorf("Put with clamd up = %+v, %v; want ErrScannerUnavailable and ErrScannerBusy", f, err)
			}
			if n := st.fileCount(t); n != 0 {
				t.Errorf("store holds %d files, want 0", n)
			}
			if files := st.blobFiles(t); len(files) != 0 {
				t.Errorf("bucket holds %q after Collect, want nothing", files)
			}
		})
	}
}
