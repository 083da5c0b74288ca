package scan_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/filestore-go/filestore/scan"
)

// fakeClamd is a fault-injecting stand-in for clamd on 127.0.0.1. It serves
// one connection at a time in a single goroutine (so that the test's
// goroutine count does not change while Scan runs): it answers zVERSION and
// zPING (unless hangVersion), and hands every zINSTREAM connection to
// instream.
type fakeClamd struct {
	ln          net.Listener
	hangVersion bool
	instream    func(f *fakeClamd, conn net.Conn, br *bufio.Reader)
	done        chan struct{} // closed by Close: handlers blocked on it return
	wg          sync.WaitGroup
}

func startFake(t *testing.T, f *fakeClamd) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.ln, f.done = ln, make(chan struct{})
	f.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			f.serve(conn)
		}
	})
	t.Cleanup(func() {
		close(f.done)
		ln.Close()
		f.wg.Wait()
	})
	return "tcp://" + ln.Addr().String()
}

func (f *fakeClamd) serve(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	cmd, err := br.ReadString(0)
	if err != nil {
		return
	}
	switch {
	case f.hangVersion:
		<-f.done
	case cmd == "zVERSION\x00":
		io.WriteString(conn, "ClamAV 9.9.9/123/Tue Nov 26 09:35:11 2024\x00")
	case cmd == "zPING\x00":
		io.WriteString(conn, "PONG\x00")
	case cmd == "zINSTREAM\x00":
		f.instream(f, conn, br)
	}
}

// readStream reads INSTREAM chunks up to the zero-length terminator and
// returns how many data bytes came; ok is false when the connection ended
// first.
func readStream(br *bufio.Reader) (n int64, ok bool) {
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return n, false
		}
		size := binary.BigEndian.Uint32(hdr[:])
		if size == 0 {
			return n, true
		}
		m, err := io.CopyN(io.Discard, br, int64(size))
		n += m
		if err != nil {
			return n, false
		}
	}
}

// Fake INSTREAM behaviours.
var (
	// reads the whole stream, then never answers.
	readNeverAnswer = func(f *fakeClamd, conn net.Conn, br *bufio.Reader) {
		if _, ok := readStream(br); ok {
			<-f.done
		}
	}
	// never reads a byte of the stream.
	neverRead = func(f *fakeClamd, conn net.Conn, br *bufio.Reader) { <-f.done }
	// answers at once, then drains whatever comes.
	answerEarly = func(reply string) func(*fakeClamd, net.Conn, *bufio.Reader) {
		return func(f *fakeClamd, conn net.Conn, br *bufio.Reader) {
			io.WriteString(conn, reply)
			io.Copy(io.Discard, br)
		}
	}
	// reads the stream, then answers reply.
	answer = func(reply string) func(*fakeClamd, net.Conn, *bufio.Reader) {
		return func(f *fakeClamd, conn net.Conn, br *bufio.Reader) {
			if _, ok := readStream(br); ok {
				io.WriteString(conn, reply)
			}
		}
	}
	// refuses after 64 KiB the way clamd does over StreamMaxLength: answers
	// and closes without reading the rest.
	sizeLimit = func(f *fakeClamd, conn net.Conn, br *bufio.Reader) {
		io.CopyN(io.Discard, br, 64<<10)
		io.WriteString(conn, "INSTREAM size limit exceeded. ERROR\x00")
	}
)

// TestScanFaults runs Scan against misbehaving clamds: each ends with the
// expected error, and Scan leaves no goroutine behind.
func TestScanFaults(t *testing.T) {
	// The fake serves one connection at a time: a PING waits behind the
	// stream, so a timeout is never taken for a busy clamd.
	fast := scan.Options{DialTimeout: time.Second, ReadTimeout: 200 * time.Millisecond, ProbeTimeout: 100 * time.Millisecond}
	// Only a PING that gets no answer can end these scans early.
	frozen := scan.Options{ReadTimeout: time.Hour, ScanTimeout: time.Hour, ProbeAfter: 50 * time.Millisecond, ProbeTimeout: 100 * time.Millisecond}
	tests := []struct {
		name     string
		fake     *fakeClamd
		opts     scan.Options
		give     io.Reader
		wantErr  error  // errors.Is
		wantMsg  string // part of the message
		wantRead int64  // bytes Scan read from give; -1: not checked
	}{
		{
			name:    "never answers the stream: ReadTimeout",
			fake:    &fakeClamd{instream: readNeverAnswer},
			opts:    fast,
			give:    noiseThen(1<<20, nil),
			wantErr: os.ErrDeadlineExceeded, wantMsg: "no answer within ReadTimeout 200ms",
			wantRead: 1 << 20,
		},
		{
			name:    "never reads the stream: ReadTimeout on a write",
			fake:    &fakeClamd{instream: neverRead},
			opts:    fast,
			give:    newNoise(3),
			wantErr: os.ErrDeadlineExceeded, wantMsg: "no answer within ReadTimeout 200ms",
			wantRead: -1,
		},
		{
			name: "never answers: ScanTimeout",
			fake: &fakeClamd{instream: readNeverAnswer},
			// The fake serves one connection at a time, so the PING that
			// ScanTimeout sends waits in its backlog: not busy but frozen.
			opts:    scan.Options{ReadTimeout: time.Hour, ScanTimeout: 300 * time.Millisecond, ProbeTimeout: 100 * time.Millisecond},
			give:    noiseThen(1<<20, nil),
			wantErr: filestore.ErrScannerUnavailable, wantMsg: "no verdict within ScanTimeout 300ms, and no answer to PING within ProbeTimeout 100ms",
			wantRead: 1 << 20,
		},
		{
			name: "never answers VERSION: nothing read",
			fake: &fakeClamd{hangVersion: true},
			// ReadTimeout before ProbeTimeout, which also bounds VERSION.
			opts:    scan.Options{DialTimeout: time.Second, ReadTimeout: 200 * time.Millisecond, ProbeTimeout: 300 * time.Millisecond},
			give:    newNoise(4),
			wantErr: os.ErrDeadlineExceeded, wantMsg: "VERSION: no answer within ReadTimeout 200ms, and no answer to PING",
			wantRead: 0,
		},
		{
			// The fake serves one connection at a time: while it holds the
			// stream, the PING waits in its backlog, as on a stopped clamd.
			name:    "never answers the stream, nor PING: ProbeAfter",
			fake:    &fakeClamd{instream: readNeverAnswer},
			opts:    frozen,
			give:    noiseThen(1<<20, nil),
			wantErr: filestore.ErrScannerUnavailable, wantMsg: "INSTREAM: no answer to PING within ProbeTimeout 100ms: filestore: scanner unavailable",
			wantRead: 1 << 20,
		},
		{
			name:    "never reads the stream, nor PING: ProbeAfter on a write",
			fake:    &fakeClamd{instream: neverRead},
			opts:    frozen,
			give:    newNoise(3),
			wantErr: filestore.ErrScannerUnavailable, wantMsg: "INSTREAM: no answer to PING within ProbeTimeout 100ms: filestore: scanner unavailable",
			wantRead: -1,
		},
		{
			name:    "never answers VERSION: ProbeTimeout, nothing read",
			fake:    &fakeClamd{hangVersion: true},
			opts:    frozen,
			give:    newNoise(4),
			wantErr: filestore.ErrScannerUnavailable, wantMsg: "VERSION: no answer within ProbeTimeout 100ms",
			wantRead: 0,
		},
		{
			name:    "closes without a reply",
			fake:    &fakeClamd{instream: func(_ *fakeClamd, _ net.Conn, br *bufio.Reader) { readStream(br) }},
			opts:    fast,
			give:    noiseThen(1<<20, nil),
			wantErr: filestore.ErrScannerUnavailable, wantMsg: "connection closed without a reply",
			wantRead: -1,
		},
		{
			name:    "garbage reply",
			fake:    &fakeClamd{instream: answer("hello\x00")},
			opts:    fast,
			give:    noiseThen(1<<20, nil),
			wantErr: filestore.ErrScannerUnavailable, wantMsg: `unexpected clamd reply "hello"`,
			wantRead: 1 << 20,
		},
		{
			name:    "reply without NUL",
			fake:    &fakeClamd{instream: answer("stream: OK")},
			opts:    fast,
			give:    noiseThen(1<<20, nil),
			wantErr: io.ErrUnexpectedEOF, wantMsg: `reply "stream: OK" cut short`,
			wantRead: 1 << 20,
		},
		{
			name:    "endless reply",
			fake:    &fakeClamd{instream: answer(strings.Repeat("x", 64<<10))},
			opts:    fast,
			give:    noiseThen(1<<20, nil),
			wantErr: filestore.ErrScannerUnavailable, wantMsg: "reply longer than 4096 bytes",
			wantRead: 1 << 20,
		},
		{
			name:    "clean verdict before the end of an endless stream",
			fake:    &fakeClamd{instream: answerEarly("stream: OK\x00")},
			opts:    fast,
			give:    newNoise(5),
			wantErr: filestore.ErrScannerUnavailable, wantMsg: "before the end of the stream",
			wantRead: -1,
		},
		{
			name:    "size limit reply and reset while writing an endless stream",
			fake:    &fakeClamd{instream: sizeLimit},
			opts:    fast,
			give:    newNoise(6),
			wantErr: filestore.ErrScanLimit, wantMsg: "INSTREAM size limit exceeded",
			wantRead: -1,
		},
		{
			name:    "clamd error",
			fake:    &fakeClamd{instream: answer("stream: Can't allocate memory ERROR\x00")},
			opts:    fast,
			give:    noiseThen(1<<20, nil),
			wantErr: filestore.ErrScannerUnavailable, wantMsg: `clamd error "Can't allocate memory"`,
			wantRead: 1 << 20,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startFake(t, tt.fake)
			clam := newClam(t, addr, &tt.opts)
			r := &counter{r: tt.give}
			before := runtime.NumGoroutine()
			res, err := clam.Scan(context.Background(), r)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(errString(err), tt.wantMsg) {
				t.Fatalf("Scan = %v, %v; want an error wrapping %v containing %q", res, err, tt.wantErr, tt.wantMsg)
			}
			if errors.Is(err, filestore.ErrScanLimit) == errors.Is(err, filestore.ErrScannerUnavailable) {
				t.Errorf("error %v wraps both or neither of ErrScanLimit and ErrScannerUnavailable", err)
			}
			if tt.wantRead >= 0 && r.n != tt.wantRead {
				t.Errorf("Scan read %d bytes, want %d", r.n, tt.wantRead)
			}
			waitGoroutines(t, before)
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestScanFakeVerdicts checks what a well-formed reply becomes, with the
// version the (fake) clamd reported.
func TestScanFakeVerdicts(t *testing.T) {
	tests := []struct {
		reply string
		want  *filestore.ScanResult
	}{
		{"stream: OK\x00", &filestore.ScanResult{Engine: "clamav", Version: "9.9.9/123"}},
		{"stream: Win.Test.EICAR_HDB-1 FOUND\x00", &filestore.ScanResult{Engine: "clamav", Version: "9.9.9/123", Signature: "Win.Test.EICAR_HDB-1"}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.reply, "\x00"), func(t *testing.T) {
			addr := startFake(t, &fakeClamd{instream: answer(tt.reply)})
			got, err := newClam(t, addr, nil).Scan(context.Background(), noiseThen(100<<10, nil))
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Scan (-want +got):\n%s", diff)
			}
		})
	}
}

// TestScanCancelWaitingForReply cancels while Scan waits for the verdict.
func TestScanCancelWaitingForReply(t *testing.T) {
	streamed := make(chan struct{})
	addr := startFake(t, &fakeClamd{instream: func(f *fakeClamd, conn net.Conn, br *bufio.Reader) {
		if _, ok := readStream(br); ok {
			close(streamed)
			<-f.done
		}
	}})
	clam := newClam(t, addr, nil) // ReadTimeout 60s: only the cancel ends it
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := runtime.NumGoroutine()
	go func() {
		<-streamed
		cancel()
	}()
	res, err := clam.Scan(ctx, noiseThen(1<<20, nil))
	if !errors.Is(err, context.Canceled) || errors.Is(err, filestore.ErrScannerUnavailable) {
		t.Fatalf("Scan = %v, %v; want context.Canceled", res, err)
	}
	waitGoroutines(t, before)
}

// TestScanWaitsForSlot holds the only slot with a scan that never ends: a
// second Scan waits for it until its context ends, without reading its
// content.
func TestScanWaitsForSlot(t *testing.T) {
	addr := startFake(t, &fakeClamd{instream: readNeverAnswer})
	clam := newClam(t, addr, &scan.Options{MaxConcurrent: 1})

	holding := make(chan struct{})
	first := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, err := clam.Scan(ctx, &counter{r: newNoise(7), atN: 1, at: func() { close(holding) }})
		first <- err
	}()
	<-holding

	for _, tt := range []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		wantErr error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			r := &counter{r: newNoise(8)}
			_, err := clam.Scan(ctx, r)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(errString(err), "waiting for a free connection") {
				t.Errorf("second Scan error = %v, want %v waiting for a free connection", err, tt.wantErr)
			}
			if r.n != 0 {
				t.Errorf("second Scan read %d bytes, want 0", r.n)
			}
		})
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("first Scan error = %v, want context.Canceled", err)
	}
}

func TestPingFaults(t *testing.T) {
	tests := []struct {
		name    string
		fake    *fakeClamd
		wantMsg string
	}{
		{"never answers", &fakeClamd{hangVersion: true}, "PING: no answer to PING within ReadTimeout 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startFake(t, tt.fake)
			clam := newClam(t, addr, &scan.Options{ReadTimeout: 200 * time.Millisecond})
			if err := clam.Ping(context.Background()); !errors.Is(err, filestore.ErrScannerUnavailable) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Ping = %v, want ErrScannerUnavailable containing %q", err, tt.wantMsg)
			}
		})
	}
	t.Run("answers", func(t *testing.T) {
		addr := startFake(t, &fakeClamd{})
		clam := newClam(t, addr, nil)
		if err := clam.Ping(context.Background()); err != nil {
			t.Errorf("Ping: %v", err)
		}
		v, err := clam.Version(context.Background())
		if err != nil {
			t.Fatalf("Version: %v", err)
		}
		want := scan.Version{Engine: "9.9.9", Database: "123", DatabaseTime: time.Date(2024, 11, 26, 9, 35, 11, 0, time.UTC)}
		if diff := cmp.Diff(want, v); diff != "" {
			t.Errorf("Version (-want +got):\n%s", diff)
		}
	})
	t.Run("nothing listens", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := "tcp://" + ln.Addr().String()
		ln.Close()
		clam := newClam(t, addr, nil)
		if err := clam.Ping(context.Background()); !errors.Is(err, filestore.ErrScannerUnavailable) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("Ping = %v, want ErrScannerUnavailable: connection refused", err)
		}
		r := &counter{r: newNoise(9)}
		if _, err := clam.Scan(context.Background(), r); !errors.Is(err, filestore.ErrScannerUnavailable) {
			t.Errorf("Scan = %v, want ErrScannerUnavailable", err)
		}
		if r.n != 0 {
			t.Errorf("Scan read %d bytes, want 0", r.n)
		}
	})
}

func TestScanReaderError(t *testing.T) {
	addr := startFake(t, &fakeClamd{instream: answer("stream: OK\x00")})
	// io.ErrUnexpectedEOF is what a body cut off returns: before, the
	// scan took it for the end of the content and answered clean.
	for _, boom := range []error{errors.New("client went away"), io.ErrUnexpectedEOF} {
		res, err := newClam(t, addr, nil).Scan(context.Background(), io.MultiReader(noiseThen(100<<10, nil), iotestErr{boom}))
		if !errors.Is(err, boom) || errors.Is(err, filestore.ErrScannerUnavailable) {
			t.Errorf("reader failing with %q: Scan = %+v, %v; want the reader's error and not ErrScannerUnavailable", boom, res, err)
		}
	}
	_, err := newClam(t, addr, nil).Scan(context.Background(), nil)
	if !errors.Is(err, filestore.ErrInvalidArgument) {
		t.Errorf("Scan(nil reader) = %v, want ErrInvalidArgument", err)
	}
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }

// TestScanSlowContent: content that comes too slowly ends the scan with
// ErrScanIncomplete, never ErrScannerUnavailable (which would let fail-open
// store it unscanned): a reader that stalls for StallTimeout, content that
// does not end within ScanTimeout, and clamd dropping the stream after its
// own ReadTimeout. The stalling readers wait until the fake clamd sees the
// connection closed, then go on: Scan returns without reading further.
func TestScanSlowContent(t *testing.T) {
	// readUntilClosed reads the stream and closes gone when the connection
	// ends before its end.
	readUntilClosed := func(gone chan struct{}) func(*fakeClamd, net.Conn, *bufio.Reader) {
		return func(_ *fakeClamd, _ net.Conn, br *bufio.Reader) {
			if _, ok := readStream(br); !ok {
				close(gone)
			}
		}
	}
	// readTimedOut reads one chunk, then says what clamd says when the
	// next does not come within its ReadTimeout and closes its side.
	readTimedOut := func(_ *fakeClamd, conn net.Conn, br *bufio.Reader) {
		var hdr [4]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		io.CopyN(io.Discard, br, int64(binary.BigEndian.Uint32(hdr[:])))
		io.WriteString(conn, "COMMAND READ TIMED OUT\n")
		conn.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, br)
	}
	tests := []struct {
		name    string
		opts    scan.Options
		stall   bool // the reader stalls after 100 KiB until the connection is closed, then goes on
		wantMsg string
	}{
		{"reader stalls", scan.Options{StallTimeout: 100 * time.Millisecond, ScanTimeout: 5 * time.Second}, true,
			"the content reader delivered no chunk within StallTimeout 100ms"},
		{"content slower than ScanTimeout", scan.Options{ScanTimeout: 300 * time.Millisecond, StallTimeout: time.Hour}, true,
			"the content did not end within ScanTimeout 300ms"},
		{"clamd drops the stream", scan.Options{ReadTimeout: 10 * time.Second}, false,
			`clamd dropped the stream, fed too slowly: "COMMAND READ TIMED OUT"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gone := make(chan struct{})
			fake := &fakeClamd{instream: readTimedOut}
			give := noiseThen(1<<20, nil)
			after := &readCalls{r: newNoise(11)} // what the stalled reader gives once it goes on
			if tt.stall {
				fake.instream = readUntilClosed(gone)
				give = io.MultiReader(io.LimitReader(newNoise(10), 100<<10), waitReader(gone), after)
			}
			addr := startFake(t, fake)
			clam := newClam(t, addr, &tt.opts)
			r := &counter{r: give}
			before := runtime.NumGoroutine()
			res, err := clam.Scan(context.Background(), r)
			if !errors.Is(err, filestore.ErrScanIncomplete) || !strings.Contains(errString(err), tt.wantMsg) {
				t.Fatalf("Scan = %v, %v; want an error wrapping ErrScanIncomplete containing %q", res, err, tt.wantMsg)
			}
			if errors.Is(err, filestore.ErrScannerUnavailable) || errors.Is(err, filestore.ErrScanLimit) {
				t.Errorf("Scan error %v wraps ErrScannerUnavailable or ErrScanLimit too", err)
			}
			if tt.stall && after.n != 1 {
				// The Read pending when the scan gave up goes on to it.
				t.Errorf("Scan read %d times after the stall, want 1 (only the Read pending then)", after.n)
			}
			waitGoroutines(t, before)
		})
	}
}

// TestScanStallFreesSlot: a Scan whose reader stalls frees its slot at
// StallTimeout, while its Read is still pending, so that with one slot
// another Scan runs meanwhile; the stalled one then ends with
// ErrScanIncomplete.
func TestScanStallFreesSlot(t *testing.T) {
	clam := newClam(t, testenv.ClamdAddr(t), &scan.Options{MaxConcurrent: 1, StallTimeout: 100 * time.Millisecond})
	gate := make(chan struct{})
	started := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		r := &counter{r: io.MultiReader(io.LimitReader(newNoise(12), 100<<10), waitReader(gate)), atN: 1, at: func() { close(started) }}
		_, err := clam.Scan(context.Background(), r)
		first <- err
	}()
	<-started
	defer func() {
		close(gate)
		if err := <-first; !errors.Is(err, filestore.ErrScanIncomplete) || errors.Is(err, filestore.ErrScannerUnavailable) {
			t.Errorf("stalled Scan = %v, want ErrScanIncomplete and not ErrScannerUnavailable", err)
		}
	}()
	// The guard only bounds a failure: before, this Scan waited for the
	// slot for ScanTimeout (10 minutes).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := clam.Scan(ctx, bytes.NewReader(eicar(t)))
	if err != nil || res.Signature != sigEICAR {
		t.Fatalf("Scan while another stalls = %+v, %v; want %s", res, err, sigEICAR)
	}
}

// readCalls counts the calls of its Read.
type readCalls struct {
	r io.Reader
	n int
}

func (c *readCalls) Read(p []byte) (int, error) {
	c.n++
	return c.r.Read(p)
}
