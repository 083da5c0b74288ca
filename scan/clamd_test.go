package scan_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/metrics"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/filestore-go/filestore/scan"
)

// wantResult is the ScanResult clam must give for signature sig, with the
// version clamd reports.
func wantResult(t *testing.T, clam *scan.ClamAV, sig string) *filestore.ScanResult {
	t.Helper()
	v, err := clam.Version(context.Background())
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	return &filestore.ScanResult{Engine: "clamav", Version: v.String(), Signature: sig}
}

func TestScanEICAR(t *testing.T) {
	ctx := context.Background()
	for _, env := range []string{testenv.ClamdVar, testenv.ClamdUnixVar} {
		t.Run(env, func(t *testing.T) {
			clam := newClam(t, testenv.Lookup(t, env, "clamd.sh"), nil)
			got, err := clam.Scan(ctx, bytes.NewReader(eicar(t)))
			if err != nil {
				t.Fatalf("Scan(EICAR): %v", err)
			}
			if diff := cmp.Diff(wantResult(t, clam, sigEICAR), got); diff != "" {
				t.Errorf("Scan(EICAR) (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScanClamAVTestfiles(t *testing.T) {
	clam := newClam(t, testenv.ClamdAddr(t), nil)
	entries, err := os.ReadDir(testfilesDir)
	if errors.Is(err, os.ErrNotExist) && os.Getenv("CI") != "true" {
		t.Skipf("%s is absent: install the clamav-testfiles package (.ci/services/clamd.sh does)", testfilesDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatalf("%s is empty", testfilesDir)
	}
	want := wantResult(t, clam, sigClamExe)
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			f, err := os.Open(filepath.Join(testfilesDir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := clam.Scan(context.Background(), f)
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Scan (-want +got):\n%s", diff)
			}
		})
	}
}

// TestScanEICARAtEnd puts EICAR after 50 MiB of noise: FOUND shows that
// clamd saw the whole stream.
func TestScanEICARAtEnd(t *testing.T) {
	clam := newClam(t, testenv.ClamdAddr(t), nil)
	r := &counter{r: noiseThen(50<<20, eicar(t))}
	got, err := clam.Scan(context.Background(), r)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if diff := cmp.Diff(wantResult(t, clam, sigEICAR), got); diff != "" {
		t.Errorf("Scan (-want +got):\n%s", diff)
	}
	if want := int64(50<<20 + 68); r.n != want {
		t.Errorf("Scan read %d bytes, want %d", r.n, want)
	}
}

func TestScanEmptyAndSmall(t *testing.T) {
	clam := newClam(t, testenv.ClamdAddr(t), &scan.Options{ChunkSize: 7})
	for _, tt := range []struct {
		name string
		give []byte
		want string
	}{
		{"empty", nil, ""},
		{"one byte", []byte("x"), ""},
		{"EICAR in 7-byte chunks", eicar(t), sigEICAR},
		{"EICAR inside text", append(append([]byte("hello "), eicar(t)...), " world"...), sigEICAR},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clam.Scan(context.Background(), bytes.NewReader(tt.give))
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if diff := cmp.Diff(wantResult(t, clam, tt.want), got); diff != "" {
				t.Errorf("Scan (-want +got):\n%s", diff)
			}
		})
	}
}

// heapProbe samples the heap every MiB read through it.
type heapProbe struct {
	r      counter
	next   int64
	sample []metrics.Sample
	peak   uint64
}

func newHeapProbe(r *counter) *heapProbe {
	return &heapProbe{r: *r, sample: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}}
}

func (h *heapProbe) heap() uint64 {
	metrics.Read(h.sample)
	return h.sample[0].Value.Uint64()
}

func (h *heapProbe) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if h.r.n >= h.next {
		h.peak = max(h.peak, h.heap())
		h.next += 1 << 20
	}
	return n, err
}

// TestScanCleanLargeFlatHeap scans 64 MiB of noise: clean, with the engine
// and version, and without the heap growing with the content (Scan holds one
// chunk, never the stream).
func TestScanCleanLargeFlatHeap(t *testing.T) {
	const size = 64 << 20
	clam := newClam(t, testenv.ClamdAddr(t), nil)
	want := wantResult(t, clam, "")
	if !regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(want.Version) {
		t.Errorf("Version = %q, want an engine version like 1.4.6", want.Version)
	}
	probe := newHeapProbe(&counter{r: noiseThen(size, nil)})
	runtime.GC()
	base := probe.heap()
	got, err := clam.Scan(context.Background(), probe)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Scan (-want +got):\n%s", diff)
	}
	if probe.r.n != size {
		t.Errorf("Scan read %d bytes, want %d", probe.r.n, size)
	}
	const bound = 16 << 20
	if probe.peak > base && probe.peak-base > bound {
		t.Errorf("heap grew by %d bytes during a %d-byte scan, want at most %d", probe.peak-base, size, bound)
	}
	t.Logf("heap: base %d, peak %d", base, probe.peak)
}

func TestPingVersion(t *testing.T) {
	ctx := context.Background()
	for _, env := range []string{testenv.ClamdVar, testenv.ClamdUnixVar} {
		t.Run(env, func(t *testing.T) {
			clam := newClam(t, testenv.Lookup(t, env, "clamd.sh"), nil)
			if err := clam.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			v, err := clam.Version(ctx)
			if err != nil {
				t.Fatalf("Version: %v", err)
			}
			if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v.Engine) {
				t.Errorf("Version().Engine = %q, want like 1.4.6", v.Engine)
			}
		})
	}
}

// TestScanCancel cancels the context after 8 MiB of an endless stream: Scan
// returns the context's error, not ErrScannerUnavailable, having read at
// most two chunks more.
func TestScanCancel(t *testing.T) {
	const chunk = 64 << 10
	clam := newClam(t, testenv.ClamdAddr(t), &scan.Options{ChunkSize: chunk})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &counter{r: newNoise(1), atN: 8 << 20, at: cancel}
	before := runtime.NumGoroutine()
	res, err := clam.Scan(ctx, r)
	if !errors.Is(err, context.Canceled) || errors.Is(err, filestore.ErrScannerUnavailable) {
		t.Fatalf("Scan = %v, %v; want an error wrapping context.Canceled only", res, err)
	}
	if r.n > 8<<20+2*chunk {
		t.Errorf("Scan read %d bytes after cancelling at %d", r.n, 8<<20)
	}
	waitGoroutines(t, before)

	// Already cancelled: nothing read.
	r = &counter{r: newNoise(1)}
	if _, err := clam.Scan(ctx, r); !errors.Is(err, context.Canceled) {
		t.Errorf("Scan(cancelled ctx) error = %v, want context.Canceled", err)
	}
	if r.n != 0 {
		t.Errorf("Scan(cancelled ctx) read %d bytes, want 0", r.n)
	}
}

// TestScanLimits runs a clamd of its own with tiny limits: StreamMaxLength
// 1M, MaxFileSize 512K, AlertExceedsMax yes.
func TestScanLimits(t *testing.T) {
	clamd := startTestClamd(t,
		"StreamMaxLength 1M",
		"MaxFileSize 512K",
		"MaxScanSize 1M",
		"AlertExceedsMax yes",
		tcpClamd,
	)
	ctx := context.Background()
	clam := newClam(t, clamd.addr, nil)
	clamTCP := newClam(t, clamd.tcpAddr, nil)

	t.Run("under the limits", func(t *testing.T) {
		got, err := clam.Scan(ctx, noiseThen(256<<10, eicar(t)))
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		if diff := cmp.Diff(wantResult(t, clam, sigEICAR), got); diff != "" {
			t.Errorf("Scan (-want +got):\n%s", diff)
		}
	})
	// clamd replies "INSTREAM size limit exceeded. ERROR" and closes the
	// connection while Scan is still writing: writes fail with EPIPE (unix)
	// or ECONNRESET (TCP), and the reply must still be read.
	for _, tt := range []struct {
		name string
		clam *scan.ClamAV
		r    *counter
	}{
		{"2 MiB over StreamMaxLength, unix", clam, &counter{r: noiseThen(2<<20, nil)}},
		{"2 MiB over StreamMaxLength, TCP", clamTCP, &counter{r: noiseThen(2<<20, nil)}},
		{"endless stream, unix", clam, &counter{r: newNoise(2)}},
		{"endless stream, TCP", clamTCP, &counter{r: newNoise(2)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.clam.Scan(ctx, tt.r)
			if !errors.Is(err, filestore.ErrScanLimit) || errors.Is(err, filestore.ErrScannerUnavailable) {
				t.Fatalf("Scan = %v, %v; want ErrScanLimit", res, err)
			}
			if !strings.Contains(err.Error(), "INSTREAM size limit exceeded") {
				t.Errorf("error %q does not quote clamd's reply", err)
			}
			if tt.r.n > 16<<20 {
				t.Errorf("Scan read %d bytes of a stream clamd refused at 1 MiB", tt.r.n)
			}
		})
	}
	t.Run("Options.StreamMaxLength", func(t *testing.T) {
		const chunk = 64 << 10
		clam := newClam(t, clamd.addr, &scan.Options{StreamMaxLength: 1 << 20, ChunkSize: chunk})
		r := &counter{r: noiseThen(2<<20, nil)}
		res, err := clam.Scan(ctx, r)
		if !errors.Is(err, filestore.ErrScanLimit) {
			t.Fatalf("Scan = %v, %v; want ErrScanLimit", res, err)
		}
		// 16 chunks make exactly 1 MiB; the 17th would exceed it and is
		// not sent.
		if want := int64(1<<20 + chunk); r.n != want {
			t.Errorf("Scan read %d bytes, want %d", r.n, want)
		}
	})
	t.Run("AlertExceedsMax", func(t *testing.T) {
		// Under StreamMaxLength but over MaxFileSize: clamd would say OK
		// without scanning; AlertExceedsMax makes it
		// Heuristics.Limits.Exceeded.MaxFileSize, which is not a virus.
		res, err := clam.Scan(ctx, noiseThen(768<<10, nil))
		if !errors.Is(err, filestore.ErrScanLimit) || errors.Is(err, filestore.ErrInfected) {
			t.Fatalf("Scan = %v, %v; want ErrScanLimit", res, err)
		}
		if !strings.Contains(err.Error(), "Heuristics.Limits.Exceeded.MaxFileSize") {
			t.Errorf("error %q does not name the heuristic", err)
		}
	})
}

// TestScanClamdRestart stops a clamd of its own: Scan fails fast with
// ErrScannerUnavailable without reading the content, Ping fails; once clamd
// is back, the same ClamAV scans again.
func TestScanClamdRestart(t *testing.T) {
	clamd := startTestClamd(t)
	ctx := context.Background()
	clam := newClam(t, clamd.addr, &scan.Options{DialTimeout: 2 * time.Second, ReadTimeout: 10 * time.Second})
	want := wantResult(t, clam, sigEICAR)
	scanEICAR := func() {
		t.Helper()
		got, err := clam.Scan(ctx, bytes.NewReader(eicar(t)))
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Scan (-want +got):\n%s", diff)
		}
	}
	scanEICAR()

	clamd.stop()
	r := &counter{r: bytes.NewReader(eicar(t))}
	res, err := clam.Scan(ctx, r)
	if !errors.Is(err, filestore.ErrScannerUnavailable) {
		t.Fatalf("Scan with clamd stopped = %v, %v; want ErrScannerUnavailable", res, err)
	}
	if r.n != 0 {
		t.Errorf("Scan with clamd stopped read %d bytes, want 0", r.n)
	}
	if err := clam.Ping(ctx); !errors.Is(err, filestore.ErrScannerUnavailable) {
		t.Errorf("Ping with clamd stopped = %v, want ErrScannerUnavailable", err)
	}

	clamd.start()
	if err := clam.Ping(ctx); err != nil {
		t.Errorf("Ping after restart: %v", err)
	}
	scanEICAR()
}

// TestScanClamdFrozen stops a clamd of its own with SIGSTOP: it still
// accepts connections and answers nothing. The scan waiting for its verdict
// and those queued for the only slot fail with ErrScannerUnavailable once
// a PING goes unanswered, though ReadTimeout and ScanTimeout are an hour;
// then a Store refuses uploads (FailClosed) and stores nothing, or stores
// them unscanned (FailOpen). Once clamd runs again (SIGCONT), a Scan
// started ProbeAfter after the failed PING finds EICAR.
func TestScanClamdFrozen(t *testing.T) {
	clamd := startTestClamd(t)
	opts := &scan.Options{MaxConcurrent: 1, ReadTimeout: time.Hour, ScanTimeout: time.Hour,
		ProbeAfter: 100 * time.Millisecond, ProbeTimeout: 500 * time.Millisecond}
	clam := newClam(t, clamd.addr, opts)
	want := wantResult(t, clam, sigEICAR)
	guard, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if err := clamd.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := true
	thaw := func() {
		if frozen {
			frozen = false
			if err := clamd.cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT: %v", err)
			}
		}
	}
	defer thaw()

	got := scanAll(guard, clam, noiseThen(1<<20, eicar(t)), bytes.NewReader(eicar(t)), noiseThen(1<<20, nil))
	for i, s := range got {
		if !errors.Is(s.err, filestore.ErrScannerUnavailable) || !strings.Contains(errString(s.err), "no answer to PING within ProbeTimeout 500ms") {
			t.Errorf("scan %d with clamd stopped = %v, %v; want ErrScannerUnavailable after an unanswered PING", i, s.res, s.err)
		}
	}

	// Every Scan checks clamd first now: these fail before they start.
	closed := openStore(t, clam, filestore.FailClosed, "")
	if f, err := closed.put("eicar.com", bytes.NewReader(eicar(t))); !errors.Is(err, filestore.ErrScannerUnavailable) || !strings.Contains(errString(err), ": PING: no answer to PING") {
		t.Errorf("FailClosed Put with clamd stopped = %v, %v; want ErrScannerUnavailable from PING", f, err)
	}
	if files := closed.blobFiles(t); len(files) != 0 {
		t.Errorf("FailClosed bucket holds %q, want nothing", files)
	}
	open := openStore(t, clam, filestore.FailOpen, "")
	f, err := open.put("notes.txt", strings.NewReader("frozen clamd"))
	if err != nil {
		t.Fatalf("FailOpen Put with clamd stopped: %v", err)
	}
	if diff := cmp.Diff(unscanned, f.Scan); diff != "" {
		t.Errorf("FailOpen Put with clamd stopped: File.Scan (-want +got):\n%s", diff)
	}
	failed := time.Now()

	thaw()
	// A failed PING's outcome stands for ProbeAfter.
	time.Sleep(opts.ProbeAfter - time.Since(failed))
	res, err := clam.Scan(guard, bytes.NewReader(eicar(t)))
	if err != nil {
		t.Fatalf("Scan after SIGCONT: %v", err)
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Scan after SIGCONT (-want +got):\n%s", diff)
	}
}
