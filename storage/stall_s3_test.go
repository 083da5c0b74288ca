package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/filestore-go/filestore/internal/faults"
	"github.com/filestore-go/filestore/internal/retry"
	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/filestore-go/filestore/storage"
)

// frozenGuard is how long a test waits for an operation on a frozen server
// before it takes the operation for hung: far above what StallTimeout (1 s
// here) allows.
const frozenGuard = 20 * time.Second

// openFrozenTest starts a private versitygw and opens its bucket with the
// stall timeout stall and filestored's 8 tries. retries counts the
// retries the bucket has logged.
func openFrozenTest(t *testing.T, stall time.Duration) (srv *faults.S3Server, b *storage.Bucket, retries func() int) {
	t.Helper()
	if testing.Short() {
		t.Skip("freezes a private versitygw; skipped in -short mode")
	}
	srv = faults.NewS3Server(t)
	warned := testenv.NewLogWatch(slog.LevelWarn, "storage: transient error")
	b, err := storage.Open(t.Context(), srv.URL("frozen/"), &storage.Options{
		StallTimeout: stall,
		Retry:        retry.Policy{Attempts: 8, Base: 50 * time.Millisecond, Max: 2 * time.Second},
		Logger:       slog.New(warned),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return srv, b, warned.Count
}

// freeze stops srv with SIGSTOP for the rest of t; its cleanup resumes it
// (SIGCONT) before NewS3Server's kills it.
func freeze(t *testing.T, srv *faults.S3Server) {
	t.Helper()
	if err := srv.Freeze(); err != nil {
		t.Fatal(err)
	}
	if srv.Pid() == 0 {
		t.Fatal("versitygw is not running: there is nothing frozen to test against")
	}
	t.Cleanup(func() {
		if err := srv.Thaw(); err != nil {
			t.Error(err)
		}
	})
}

// within runs op under a context that ends after frozenGuard and returns
// its error, failing t if op was still running when that context ended
// (op hung until its caller's deadline instead of failing by itself).
func within(t *testing.T, name string, op func(ctx context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), frozenGuard)
	defer cancel()
	err := op(ctx)
	if ctx.Err() != nil {
		t.Errorf("%s: still running at the test's guard deadline (%v): %v", name, frozenGuard, err)
	}
	return err
}

// TestFrozenS3FailsBounded: against an S3 server that accepts connections
// and answers nothing (versitygw stopped with SIGSTOP), every operation
// fails by itself with an error wrapping ErrStalled, which IsTransient
// reports transient (filestore maps it to ErrUnavailable, httpapi to 503),
// before the test's own deadline. Before, a read waited for the server's
// headers 2 minutes per try (8 tries with filestored's settings: 16 min),
// and a write's body and answer had no bound at all.
func TestFrozenS3FailsBounded(t *testing.T) {
	srv, b, retries := openFrozenTest(t, time.Second)
	ctx := t.Context()
	small := content(100<<10, 1)
	// More than the socket buffers can hold (a receive buffer grows up to
	// tcp_rmem's maximum, 32 MiB on these machines, the server's send
	// buffer up to 4 MiB), so that a download is still under way when the
	// server freezes.
	big := content(48<<20, 2)
	keySmall, keyBig, keyDel := b.NewKey(), b.NewKey(), b.NewKey()
	put(t, b, keySmall, small, 64<<10)
	// Through the server's own client, not b: the test is about the
	// frozen server, not about how b stores 48 MiB with a 1 s stall timeout
	// on a loaded machine.
	if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(faults.S3Bucket), Key: aws.String("frozen/" + keyBig), Body: bytes.NewReader(big),
	}); err != nil {
		t.Fatal(err)
	}
	put(t, b, keyDel, small, 64<<10)

	// A download under way when the server freezes. Its reader reads under
	// rctx, which the subtest's guard ends.
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	r, err := b.NewReader(rctx, keyBig)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.ReadFull(r, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	freeze(t, srv)

	tests := []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"read body under way", func(ctx context.Context) error {
			defer context.AfterFunc(ctx, rcancel)()
			_, err := io.Copy(io.Discard, r)
			return err
		}},
		{"open", func(ctx context.Context) error {
			r, err := b.NewReader(ctx, keySmall)
			if err == nil {
				r.Close()
			}
			return err
		}},
		{"ReadAt", func(ctx context.Context) error {
			_, err := b.ReaderAt(ctx, keySmall).ReadAt(make([]byte, 10), 5)
			return err
		}},
		{"write 2 MiB", func(ctx context.Context) error {
			return write(ctx, b, b.NewKey(), content(2<<20, 3))
		}},
		{"write 6 MiB multipart", func(ctx context.Context) error {
			return write(ctx, b, b.NewKey(), content(6<<20+1, 4))
		}},
		{"delete", func(ctx context.Context) error { return b.Delete(ctx, keyDel) }},
		{"list", func(ctx context.Context) error {
			return b.List(ctx, func(string, time.Time, int64) error { return nil })
		}},
		{"ping", func(ctx context.Context) error { return b.Ping(ctx) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r0 := retries()
			err := within(t, tt.name, tt.op)
			if !errors.Is(err, storage.ErrStalled) || !storage.IsTransient(err) {
				t.Errorf("%s on a frozen server = %v, want a transient error wrapping ErrStalled", tt.name, err)
			}
			// Each try stalls for StallTimeout, and no retry follows a
			// second unanswered try: one retry at most, of the 7 that 8
			// tries allow (the bucket logs the retries it makes; an
			// operation it does not retry logs none).
			if n := retries() - r0; n > 1 {
				t.Errorf("%s on a frozen server: %d retries, want at most 1", tt.name, n)
			}
		})
	}
}

// write writes data to key in 1 MiB chunks and closes the writer; it
// returns the first error, preferring Close's (what a caller goes by).
func write(ctx context.Context, b *storage.Bucket, key string, data []byte) error {
	w, err := b.NewWriter(ctx, key)
	if err != nil {
		return err
	}
	var werr error
	for len(data) > 0 && werr == nil {
		n := min(len(data), 1<<20)
		_, werr = w.Write(data[:n])
		data = data[n:]
	}
	if err := w.Close(); err != nil {
		return err
	}
	return werr
}

// TestFrozenS3HonoursContext: with a stall timeout far longer than the
// test, an operation on a frozen server still returns as soon as its
// context ends, with the context's error (not ErrStalled, not a hang).
func TestFrozenS3HonoursContext(t *testing.T) {
	srv, b, _ := openFrozenTest(t, 10*time.Minute)
	key := b.NewKey()
	put(t, b, key, content(1000, 5), 1000)
	freeze(t, srv)
	ops := []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"open", func(ctx context.Context) error {
			r, err := b.NewReader(ctx, key)
			if err == nil {
				r.Close()
			}
			return err
		}},
		{"write 2 MiB", func(ctx context.Context) error { return write(ctx, b, b.NewKey(), content(2<<20, 6)) }},
		{"write 6 MiB multipart", func(ctx context.Context) error { return write(ctx, b, b.NewKey(), content(6<<20+1, 7)) }},
		{"delete", func(ctx context.Context) error { return b.Delete(ctx, key) }},
	}
	for _, tt := range ops {
		t.Run(tt.name, func(t *testing.T) {
			err := within(t, tt.name, func(ctx context.Context) error {
				// The caller gives up (a client that went away).
				ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				defer cancel()
				return tt.op(ctx)
			})
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, storage.ErrStalled) {
				t.Errorf("%s with its context ended on a frozen server = %v, want the context's error", tt.name, err)
			}
		})
	}
}

// TestSlowS3NotCutOff: transfers that keep moving, and a
// CompleteMultipartUpload that the server takes several stall timeouts to
// answer, are not taken for stalls. A proxy passes the server's answers on
// in 32 KiB pieces 100 ms apart (a download of 1 MiB takes 3 s, three
// times the stall timeout), and holds every CompleteMultipartUpload 3 s
// before passing it on.
func TestSlowS3NotCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private versitygw; skipped in -short mode")
	}
	srv := faults.NewS3Server(t)
	target, err := url.Parse(srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	p := newTrickleProxy(t, target.Host, 32<<10, 100*time.Millisecond, 3*time.Second)
	u, err := url.Parse(srv.URL("slow/"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("endpoint", "http://"+p.addr())
	u.RawQuery = q.Encode()
	b, err := storage.Open(t.Context(), u.String(), &storage.Options{StallTimeout: time.Second, Retry: retry.Policy{Attempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	ctx := t.Context()
	data := content(6<<20+1, 8)
	key := b.NewKey()
	if err := write(ctx, b, key, data); err != nil {
		t.Fatalf("multipart upload with a slow CompleteMultipartUpload: %v", err)
	}
	if p.delayed() == 0 {
		t.Fatal("no CompleteMultipartUpload went through the proxy: the test tested nothing")
	}
	r, err := b.NewReader(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	lr := io.LimitReader(r, 1<<20)
	got, err := io.ReadAll(lr)
	if err != nil {
		t.Fatalf("slow download: %v", err)
	}
	if !bytes.Equal(got, data[:1<<20]) {
		t.Fatal("slow download read other bytes")
	}
}

// trickleProxy is a TCP proxy that passes what the server sends on in
// pieces of chunk bytes, gap apart, and holds each HTTP request that
// completes a multipart upload (POST ...?uploadId=) hold before passing
// it on.
type trickleProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	held  int
	wg    sync.WaitGroup
	conns []net.Conn
}

func newTrickleProxy(t *testing.T, target string, chunk int, gap, hold time.Duration) *trickleProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &trickleProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { // client to server, holding completions
				defer p.wg.Done()
				defer s.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if bytes.HasPrefix(buf[:n], []byte("POST ")) && bytes.Contains(bytes.SplitN(buf[:n], []byte("\r\n"), 2)[0], []byte("uploadId=")) {
							p.mu.Lock()
							p.held++
							p.mu.Unlock()
							time.Sleep(hold) // the server's slowness, not synchronisation
						}
						if _, err := s.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() { // server to client, trickled
				defer p.wg.Done()
				defer c.Close()
				buf := make([]byte, chunk)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
						time.Sleep(gap) // the pace of a slow link, not synchronisation
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *trickleProxy) addr() string { return p.ln.Addr().String() }

// delayed returns how many completions the proxy held.
func (p *trickleProxy) delayed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}
