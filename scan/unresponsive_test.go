package scan_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/scan"
)

// freezableClamd is a clamd stand-in on 127.0.0.1, one goroutine per
// connection, that answers zVERSION at once and, until thaw is closed,
// never reads an INSTREAM (as a clamd whose threads are all stuck, or that
// is stopped with SIGSTOP after accepting); after thaw it reads the stream
// and answers "stream: OK".
type freezableClamd struct {
	thaw   chan struct{}
	thawed func() // closes thaw, once
	wg     sync.WaitGroup
}

func startFreezable(t *testing.T) (*freezableClamd, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezableClamd{thaw: make(chan struct{})}
	f.thawed = sync.OnceFunc(func() { close(f.thaw) })
	f.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Go(func() { f.serve(conn) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		f.thawed()
		f.wg.Wait()
	})
	return f, "tcp://" + ln.Addr().String()
}

func (f *freezableClamd) serve(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	cmd, err := br.ReadString(0)
	if err != nil {
		return
	}
	switch cmd {
	case "zVERSION\x00":
		io.WriteString(conn, "ClamAV 9.9.9/123/Tue Nov 26 09:35:11 2024\x00")
	case "zINSTREAM\x00":
		<-f.thaw
		if _, ok := readStream(br); ok {
			io.WriteString(conn, "stream: OK\x00")
		}
	}
}

// TestScanUnresponsiveClamd: once clamd leaves a scan without an answer
// for ReadTimeout, a scan does not wait for a slot that only stuck scans
// hold: while one scan (the probe) tries clamd, another fails at once with
// ErrScannerUnavailable without reading its content, although a slot is
// free; when clamd answers again, scans succeed. Before, every scan took a
// slot or waited for one (up to ScanTimeout), and each then failed only at
// ReadTimeout: with clamd frozen, filestored's uploads queued for minutes
// before their 503 (saturation review: a 1 KiB upload waited 3 minutes
// behind 8 slots at clamd's 60 s ReadTimeout).
func TestScanUnresponsiveClamd(t *testing.T) {
	f, addr := startFreezable(t)
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	clam := newClam(t, addr, &scan.Options{MaxConcurrent: 2, ReadTimeout: 300 * time.Millisecond, ScanTimeout: time.Minute, Logger: logger})
	ctx := t.Context()

	// The first scan finds clamd unresponsive.
	if _, err := clam.Scan(ctx, newNoise(1)); !errors.Is(err, filestore.ErrScannerUnavailable) || !strings.Contains(err.Error(), "no answer within ReadTimeout") {
		t.Fatalf("first Scan = %v, want ErrScannerUnavailable after ReadTimeout", err)
	}

	// The next one probes; meanwhile another does not wait, nor take the
	// free slot.
	probing := make(chan struct{})
	probe := make(chan error, 1)
	go func() {
		_, err := clam.Scan(ctx, &counter{r: newNoise(2), atN: 1, at: func() { close(probing) }})
		probe <- err
	}()
	<-probing
	r := &counter{r: newNoise(3)}
	if _, err := clam.Scan(ctx, r); !errors.Is(err, filestore.ErrScannerUnavailable) || !strings.Contains(err.Error(), "not waiting for a free connection") {
		t.Errorf("Scan during the probe = %v, want ErrScannerUnavailable at once (not waiting for a free connection)", err)
	}
	if r.n != 0 {
		t.Errorf("Scan during the probe read %d bytes of its content, want 0", r.n)
	}
	if err := <-probe; !errors.Is(err, filestore.ErrScannerUnavailable) || !strings.Contains(err.Error(), "no answer within ReadTimeout") {
		t.Errorf("probe = %v, want ErrScannerUnavailable after ReadTimeout", err)
	}

	// clamd answers again: the next scan (a probe) and those after it pass.
	f.thawed()
	for i := range 3 {
		res, err := clam.Scan(ctx, strings.NewReader("clean content"))
		if err != nil || res.Signature != "" {
			t.Fatalf("Scan %d after clamd answers again = %+v, %v; want clean", i, res, err)
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if n := strings.Count(logs.String(), "clamd does not answer"); n != 1 {
		t.Errorf("%d warnings that clamd does not answer, want 1; log:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "clamd answers again"); n != 1 {
		t.Errorf("%d records that clamd answers again, want 1; log:\n%s", n, logs.String())
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
