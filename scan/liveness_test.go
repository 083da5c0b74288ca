package scan_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/scan"
)

// scanOutcome is one Scan's outcome, with how many bytes it read.
type scanOutcome struct {
	res  *filestore.ScanResult
	err  error
	read int64
}

// scanAll runs one Scan per reader at once, the first alone until it has
// read its first chunk (so that it holds the slot), and returns their
// outcomes in order.
func scanAll(ctx context.Context, clam *scan.ClamAV, rs ...io.Reader) []scanOutcome {
	out := make([]scanOutcome, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		c := &counter{r: r}
		started := make(chan struct{})
		if i == 0 {
			c.atN, c.at = 1, func() { close(started) }
		} else {
			close(started)
		}
		wg.Go(func() {
			res, err := clam.Scan(ctx, c)
			out[i] = scanOutcome{res, err, c.n}
		})
		<-started
	}
	wg.Wait()
	return out
}

// TestScanFrozenClamd: a clamd that accepts connections and answers nothing
// (the fake serves one connection at a time and holds the first stream
// until the gate opens, so every later connection, PING included, waits in
// its backlog as on a stopped clamd) fails the scan waiting for its verdict
// and the scans queued for its only slot with ErrScannerUnavailable once a
// PING goes unanswered, though ReadTimeout and ScanTimeout are an hour.
// Then a new Scan fails before it reads anything, and once clamd answers
// again (the gate opens) a Scan started ProbeAfter after the failed PING
// gets its verdict.
func TestScanFrozenClamd(t *testing.T) {
	gate := make(chan struct{})
	addr := startFake(t, &fakeClamd{instream: func(f *fakeClamd, conn net.Conn, br *bufio.Reader) {
		if _, ok := readStream(br); !ok {
			return
		}
		select {
		case <-gate:
		case <-f.done:
			return
		}
		io.WriteString(conn, "stream: OK\x00")
	}})
	opts := &scan.Options{MaxConcurrent: 1, ReadTimeout: time.Hour, ScanTimeout: time.Hour,
		ProbeAfter: 50 * time.Millisecond, ProbeTimeout: 200 * time.Millisecond}
	clam := newClam(t, addr, opts)
	guard, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before := runtime.NumGoroutine()

	got := scanAll(guard, clam, noiseThen(256<<10, nil), noiseThen(256<<10, nil), noiseThen(256<<10, nil))
	for i, s := range got {
		// The later scans wait for the slot, or, started after the PING
		// failed (on a loaded machine), for a PING of their own.
		want := "no answer to PING within ProbeTimeout 200ms"
		if i == 0 {
			want = "INSTREAM: " + want
		}
		if !errors.Is(s.err, filestore.ErrScannerUnavailable) || !strings.Contains(errString(s.err), want) || errors.Is(s.err, context.DeadlineExceeded) {
			t.Errorf("scan %d = %v, %v; want ErrScannerUnavailable with %q, not the caller's DeadlineExceeded", i, s.res, s.err, want)
		}
		if wantRead := map[bool]int64{true: 256 << 10, false: 0}[i == 0]; s.read != wantRead {
			t.Errorf("scan %d read %d bytes, want %d", i, s.read, wantRead)
		}
	}

	r := &counter{r: bytes.NewReader([]byte("content"))}
	if res, err := clam.Scan(guard, r); !errors.Is(err, filestore.ErrScannerUnavailable) || r.n != 0 {
		t.Errorf("Scan after the failed PING = %v, %v, read %d bytes; want ErrScannerUnavailable, nothing read", res, err, r.n)
	}
	failed := time.Now() // that Scan may have sent a PING of its own

	close(gate)
	// A failed PING's outcome stands for ProbeAfter.
	time.Sleep(opts.ProbeAfter - time.Since(failed))
	res, err := clam.Scan(guard, bytes.NewReader([]byte("content")))
	if err != nil || res.Signature != "" {
		t.Fatalf("Scan once clamd answers again = %v, %v; want a clean verdict", res, err)
	}
	waitGoroutines(t, before)
}

// busyClamd is a fake clamd that serves every connection at once, as clamd's
// main thread does, and answers PING at once; it gives a stream's verdict
// (or, with slowReader, starts reading the stream) only after it has
// answered pings PINGs.
type busyClamd struct {
	pings      int64
	slowReader bool
	answers    atomic.Int64
	streamed   atomic.Int64  // data bytes of the streams read whole
	enough     chan struct{} // closed at the pings-th PING
}

func startBusy(t *testing.T, b *busyClamd) string {
	t.Helper()
	b.enough = make(chan struct{})
	return serveAll(t, b.serve)
}

// serveAll listens on 127.0.0.1 and serves every connection at once, in a
// goroutine of its own: it reads the command, answers zVERSION itself and
// hands any other to serve, then closes the connection; done is closed at
// the test's cleanup, which waits for every serve to return. It returns
// the clamd address.
func serveAll(t *testing.T, serve func(cmd string, conn net.Conn, br *bufio.Reader, done <-chan struct{})) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				cmd, err := br.ReadString(0)
				switch {
				case err != nil:
				case cmd == "zVERSION\x00":
					io.WriteString(conn, "ClamAV 9.9.9/123/Tue Nov 26 09:35:11 2024\x00")
				default:
					serve(cmd, conn, br, done)
				}
			})
		}
	})
	t.Cleanup(func() {
		close(done)
		ln.Close()
		wg.Wait()
	})
	return "tcp://" + ln.Addr().String()
}

func (b *busyClamd) serve(cmd string, conn net.Conn, br *bufio.Reader, done <-chan struct{}) {
	switch cmd {
	case "zPING\x00":
		io.WriteString(conn, "PONG\x00")
		if b.answers.Add(1) == b.pings {
			close(b.enough)
		}
	case "zINSTREAM\x00":
		if b.slowReader {
			select {
			case <-b.enough:
			case <-done:
				return
			}
		}
		n, ok := readStream(br)
		if !ok {
			return
		}
		b.streamed.Add(n)
		select {
		case <-b.enough:
		case <-done:
			return
		}
		io.WriteString(conn, "stream: OK\x00")
	}
}

// TestScanBusyClamd: a clamd slower than ProbeAfter to give its verdicts
// (or to take the stream: 32 MiB fill the connection's buffers, so the
// writes wait), but answering PING, is busy, not frozen: the scan waiting
// on it and the one queued for the only slot both get their verdicts, after
// the PINGs they asked for were answered, and clamd gets every byte.
func TestScanBusyClamd(t *testing.T) {
	for _, tt := range []struct {
		name       string
		slowReader bool
		size       int64
	}{
		{"slow verdict", false, 256 << 10},
		{"slow to take the stream", true, 32 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := &busyClamd{pings: 3, slowReader: tt.slowReader}
			addr := startBusy(t, b)
			clam := newClam(t, addr, &scan.Options{MaxConcurrent: 1, ReadTimeout: time.Hour, ScanTimeout: time.Hour,
				ProbeAfter: 20 * time.Millisecond, ProbeTimeout: 10 * time.Second})
			guard, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			for i, s := range scanAll(guard, clam, noiseThen(tt.size, nil), noiseThen(tt.size, nil)) {
				if s.err != nil || s.res.Signature != "" || s.read != tt.size {
					t.Errorf("scan %d = %v, %v, read %d bytes; want a clean verdict of %d bytes", i, s.res, s.err, s.read, tt.size)
				}
			}
			if n := b.answers.Load(); n < b.pings {
				t.Errorf("clamd answered %d PINGs, want at least %d", n, b.pings)
			}
			if n := b.streamed.Load(); n != 2*tt.size {
				t.Errorf("clamd read %d bytes of streams, want %d", n, 2*tt.size)
			}
		})
	}
}

// TestScanBusyTimeout: a clamd that answers PING but never gives its
// verdict is busy, not down: the scan waiting for the verdict ends at its
// ScanTimeout, or at ReadTimeout when that comes first (the defaults: 60s
// and 10m), with ErrScannerBusy, not ErrScannerUnavailable (which
// fail-open would store as unscanned). TestScanSlotWaitBusy is the same
// for a scan that waits for a connection.
func TestScanBusyTimeout(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts scan.Options
		want string
	}{
		{"ScanTimeout", scan.Options{ReadTimeout: time.Hour, ScanTimeout: 300 * time.Millisecond},
			"INSTREAM: no verdict within ScanTimeout 300ms, and clamd answers PING"},
		{"ReadTimeout", scan.Options{ReadTimeout: 300 * time.Millisecond, ScanTimeout: 3 * time.Second},
			"INSTREAM: no answer within ReadTimeout 300ms, and clamd answers PING"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := &busyClamd{pings: -1} // never enough PINGs: no verdict
			addr := startBusy(t, b)
			opts := tt.opts
			opts.ProbeAfter, opts.ProbeTimeout = 50*time.Millisecond, 10*time.Second
			clam := newClam(t, addr, &opts)
			const size = 256 << 10
			c := &counter{r: noiseThen(size, nil)}
			res, err := clam.Scan(t.Context(), c)
			if !errors.Is(err, filestore.ErrScannerBusy) || errors.Is(err, filestore.ErrScannerUnavailable) || !strings.Contains(errString(err), tt.want) {
				t.Errorf("Scan error = %v; want ErrScannerBusy, not ErrScannerUnavailable, with %q", err, tt.want)
			}
			if res != nil || c.n != size {
				t.Errorf("Scan = %v after reading %d bytes; want no result after %d", res, c.n, size)
			}
			if n := b.answers.Load(); n == 0 {
				t.Error("clamd answered no PING; the busy verdict needs one")
			}
			if n := b.streamed.Load(); n != size {
				t.Errorf("clamd read %d bytes of streams, want %d", n, size)
			}
		})
	}
}

// pingGate is a fake clamd that serves every connection at once: it answers
// VERSION, reads a stream and never gives its verdict, and answers PING
// until mute is set, after which PINGs get no answer. It counts the PINGs.
type pingGate struct {
	mute  atomic.Bool
	pings atomic.Int64
}

func startPingGate(t *testing.T, g *pingGate) string {
	t.Helper()
	return serveAll(t, func(cmd string, conn net.Conn, br *bufio.Reader, done <-chan struct{}) {
		switch cmd {
		case "zPING\x00":
			g.pings.Add(1)
			if !g.mute.Load() {
				io.WriteString(conn, "PONG\x00")
				return
			}
		case "zINSTREAM\x00":
			readStream(br)
		}
		<-done
	})
}

// TestScanBusyNeedsFreshPong: a scan that runs out of ScanTimeout decides
// busy or down by a PING sent then, not by a PONG from before: clamd
// answered a PING (Ping) just before it stopped answering, within
// ProbeAfter (a minute), and the scan then ends with ErrScannerUnavailable,
// not ErrScannerBusy. Once that PING has failed, new scans fail from it at
// once for ProbeAfter with ErrScannerDown (which tells Put that no Ping of
// its own is needed), without a PING of their own, so that uploads during
// an outage do not each wait for one; Ping itself always sends one.
func TestScanBusyNeedsFreshPong(t *testing.T) {
	g := &pingGate{}
	addr := startPingGate(t, g)
	clam := newClam(t, addr, &scan.Options{ReadTimeout: time.Hour, ScanTimeout: 300 * time.Millisecond,
		ProbeAfter: time.Minute, ProbeTimeout: 200 * time.Millisecond})
	ctx := t.Context()
	if err := clam.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	g.mute.Store(true)
	_, err := clam.Scan(ctx, noiseThen(64<<10, nil))
	if !errors.Is(err, filestore.ErrScannerUnavailable) || errors.Is(err, filestore.ErrScannerBusy) ||
		!strings.Contains(errString(err), "no verdict within ScanTimeout 300ms, and no answer to PING within ProbeTimeout 200ms") {
		t.Errorf("Scan after clamd stopped answering PING = %v; want ErrScannerUnavailable (not busy) after a PING of its own", err)
	}
	if n := g.pings.Load(); n != 2 {
		t.Errorf("clamd got %d PINGs, want 2 (Ping's, then the scan's)", n)
	}
	if !errors.Is(err, filestore.ErrScannerDown) {
		t.Errorf("Scan error = %v, want it to wrap ErrScannerDown", err)
	}
	for range 3 {
		c := &counter{r: noiseThen(64<<10, nil)}
		if _, err := clam.Scan(ctx, c); !errors.Is(err, filestore.ErrScannerDown) || c.n != 0 {
			t.Errorf("Scan after the failed PING = %v after reading %d bytes; want ErrScannerDown, nothing read", err, c.n)
		}
	}
	if n := g.pings.Load(); n != 2 {
		t.Errorf("clamd got %d PINGs after three more Scans within ProbeAfter, want still 2", n)
	}
	if err := clam.Ping(ctx); !errors.Is(err, filestore.ErrScannerDown) || !errors.Is(err, filestore.ErrScannerUnavailable) {
		t.Errorf("Ping = %v, want ErrScannerUnavailable and ErrScannerDown", err)
	}
	if n := g.pings.Load(); n != 3 {
		t.Errorf("clamd got %d PINGs after Ping, want 3: Ping sends its own", n)
	}
}
