package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
	"gocloud.dev/blob/s3blob"

	"github.com/filestore-go/filestore/internal/retry"
)

var retryOnce = retry.Policy{Attempts: 1}

// fakeS3 answers every request with status and an S3 error document: a
// fault injector, not a stand-in for S3.
func fakeS3(t *testing.T, status int, code string) string {
	t.Helper()
	url, _ := countingFakeS3(t, status, code)
	return url
}

// countingFakeS3 is fakeS3 that also counts the requests it answered.
func countingFakeS3(t *testing.T, status int, code string) (string, *atomic.Int64) {
	t.Helper()
	return countingFakeS3Method(t, status, code, "")
}

// countingFakeS3Method is countingFakeS3 counting only the requests of
// method ("" for all).
func countingFakeS3Method(t *testing.T, status int, code, method string) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if method == "" || r.Method == method {
			n.Add(1)
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected</Message></Error>`, code)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

// openFakeS3 opens a bucket at an S3 endpoint with one SDK attempt per
// request, so that only our retries repeat requests.
func openFakeS3(t *testing.T, endpoint string, p retry.Policy) *Bucket {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	u := "s3://bucket?region=us-east-1&use_path_style=true&endpoint=" + url.QueryEscape(endpoint)
	b, err := Open(t.Context(), u, &Options{Retry: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// s3Error returns the error of reading a key from an S3 endpoint (one SDK
// attempt, no retry of ours).
func s3Error(t *testing.T, endpoint string) error {
	t.Helper()
	b := openFakeS3(t, endpoint, retryOnce)
	_, err := b.NewReader(t.Context(), b.NewKey())
	if err == nil {
		t.Fatal("NewReader succeeded against a failing endpoint")
	}
	return err
}

// closedPort returns an address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentServer returns the address of a listener that accepts connections
// and never answers, and the count of connections it accepted.
func silentServer(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int64
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String(), &accepted
}

func TestIsTransient(t *testing.T) {
	mem, err := Open(t.Context(), "mem://", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, notFound := mem.NewReader(t.Context(), mem.NewKey())
	_, invalidArg := mem.b.NewReader(t.Context(), "o/\xff", nil) // gcerrors.InvalidArgument
	mem.Close()
	_, closedBucket := mem.b.NewReader(t.Context(), "o/x", nil) // gcerrors.FailedPrecondition

	_, dialErr := net.Dial("tcp", closedPort(t))
	deadline, cancel := context.WithTimeout(t.Context(), 0)
	defer cancel()
	<-deadline.Done()
	// Network timeouts, which errors.Is reports as context.DeadlineExceeded
	// though no context is done, and a request whose context is done.
	silent, _ := silentServer(t)
	conn, err := net.Dial("tcp", silent)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(-time.Second))
	_, readTimeout := conn.Read(make([]byte, 1))
	_, clientTimeout := (&http.Client{Timeout: 50 * time.Millisecond}).Get("http://" + silent)
	_, headerTimeout := (&http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 50 * time.Millisecond}}).Get("http://" + silent)
	req, err := http.NewRequestWithContext(deadline, "GET", "http://"+silent, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, requestDeadline := http.DefaultClient.Do(req)

	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"not found", notFound, false},
		{"invalid argument", invalidArg, false},
		{"failed precondition", closedBucket, false},
		{"context canceled", fmt.Errorf("op: %w", context.Canceled), false},
		{"context deadline", fmt.Errorf("op: %w", deadline.Err()), false},
		{"permission", &fs.PathError{Op: "open", Path: "x", Err: fs.ErrPermission}, false},
		{"disk I/O error", &fs.PathError{Op: "write", Path: "x", Err: syscall.EIO}, false},
		{"connection refused (dial)", dialErr, true},
		{"read timeout", readTimeout, true},
		{"http.Client.Timeout", clientTimeout, true},
		{"ResponseHeaderTimeout", headerTimeout, true},
		{"request whose context is done", requestDeadline, false},
		{"connection reset", fmt.Errorf("read: %w", os.NewSyscallError("read", syscall.ECONNRESET)), true},
		{"truncated response", fmt.Errorf("body: %w", io.ErrUnexpectedEOF), true},
		{"S3 unreachable", s3Error(t, "http://"+closedPort(t)), true},
		{"S3 503 SlowDown", s3Error(t, fakeS3(t, http.StatusServiceUnavailable, "SlowDown")), true},
		{"S3 500 InternalError", s3Error(t, fakeS3(t, http.StatusInternalServerError, "InternalError")), true},
		{"S3 403 AccessDenied", s3Error(t, fakeS3(t, http.StatusForbidden, "AccessDenied")), false},
		{"S3 409 ExistingObjectIsDirectory (versitygw's own race)", s3Error(t, fakeS3(t, http.StatusConflict, "ExistingObjectIsDirectory")), true},
		{"S3 409 BucketAlreadyExists", s3Error(t, fakeS3(t, http.StatusConflict, "BucketAlreadyExists")), false},
		{"S3 404 NoSuchKey", s3Error(t, fakeS3(t, http.StatusNotFound, "NoSuchKey")), false},
		{"S3 400 InvalidArgument", s3Error(t, fakeS3(t, http.StatusBadRequest, "InvalidArgument")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsTransient(tt.err); got != tt.want {
				t.Errorf("IsTransient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestNotFoundMapping(t *testing.T) {
	err := s3Error(t, fakeS3(t, http.StatusNotFound, "NoSuchKey"))
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("S3 NoSuchKey = %v, want ErrNotFound", err)
	}
	err = s3Error(t, fakeS3(t, http.StatusForbidden, "AccessDenied"))
	if errors.Is(err, ErrNotFound) {
		t.Errorf("S3 AccessDenied = %v, must not be ErrNotFound", err)
	}
}

// TestRetryTransportTimeout: an S3 request that times out waiting for the
// server (ResponseHeaderTimeout of the client's transport) is retried while
// the caller's context lives. Before, such timeouts counted as a done
// context and were tried once.
func TestRetryTransportTimeout(t *testing.T) {
	addr, accepted := silentServer(t)
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + addr), UsePathStyle: true,
		Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1,
		HTTPClient: &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 50 * time.Millisecond}},
	})
	bb, err := s3blob.OpenBucket(t.Context(), client, "bucket", nil)
	if err != nil {
		t.Fatal(err)
	}
	b := New(bb, &Options{Retry: retry.Policy{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}})
	defer b.Close()
	_, err = b.NewReader(t.Context(), b.NewKey())
	if err == nil || !IsTransient(err) || accepted.Load() != 3 {
		t.Errorf("NewReader against a server that never answers: %v (transient %v) after %d connections; want a transient error after 3",
			err, IsTransient(err), accepted.Load())
	}
}

// TestWriterRetries: an S3 writer's requests are tried as often as
// Options.Retry says, as reads are, through the SDK (which retries each
// part). Before, they had the SDK's own tries whatever the policy: an S3
// server's restart of a second or two failed uploads that reads rode out.
func TestWriterRetries(t *testing.T) {
	for _, tt := range []struct {
		status       int
		code         string
		attempts     int
		wantRequests int64
	}{
		{http.StatusServiceUnavailable, "SlowDown", 4, 4},
		{http.StatusConflict, "ExistingObjectIsDirectory", 4, 4},
		{http.StatusServiceUnavailable, "SlowDown", 1, 1},
		{http.StatusForbidden, "AccessDenied", 4, 1},
	} {
		t.Run(fmt.Sprintf("%d/%d", tt.status, tt.attempts), func(t *testing.T) {
			// PUTs only: a Close that failed after its request went out
			// also deletes the key (see reap), which is not a try.
			endpoint, n := countingFakeS3Method(t, tt.status, tt.code, http.MethodPut)
			b := openFakeS3(t, endpoint, retry.Policy{Attempts: tt.attempts, Base: time.Millisecond, Max: time.Millisecond})
			w, err := b.NewWriter(t.Context(), b.NewKey())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err == nil || n.Load() != tt.wantRequests {
				t.Errorf("Close = %v after %d requests; want an error after %d", err, n.Load(), tt.wantRequests)
			}
		})
	}
}

// TestWriterBackoff: an S3 writer waits between tries what Options.Retry
// says (Base doubling, ±50%, at most Max), not the SDK's own backoff, which
// starts at a second whatever its cap: with the default 8 tries from 50 ms
// an S3 server that was down made an upload fail after 13.6 s instead of
// about 5 s.
func TestWriterBackoff(t *testing.T) {
	p := retry.Policy{Attempts: 8, Base: 50 * time.Millisecond, Max: 2 * time.Second}
	b := openFakeS3(t, "http://127.0.0.1:1", p)
	r := b.s3.writes.Options().Retryer
	if got := r.MaxAttempts(); got != p.Attempts {
		t.Errorf("MaxAttempts = %d, want %d", got, p.Attempts)
	}
	cause := errors.New("connection refused")
	for range 20 {
		for attempt := 1; attempt < p.Attempts; attempt++ {
			nominal := min(p.Base<<(attempt-1), p.Max)
			lo, hi := nominal/2, min(nominal*3/2, p.Max)
			d, err := r.RetryDelay(attempt, cause)
			if err != nil || d < lo || d > hi {
				t.Fatalf("RetryDelay(%d) = %v, %v; want %v to %v", attempt, d, err, lo, hi)
			}
		}
	}
}

// TestTryDeleteOnce: TryDelete sends one request where Delete retries a
// transient failure as the policy says.
func TestTryDeleteOnce(t *testing.T) {
	for _, tt := range []struct {
		name string
		del  func(b *Bucket) error
		want int64
	}{
		{"Delete", func(b *Bucket) error { return b.Delete(t.Context(), "o/k") }, 4},
		{"TryDelete", func(b *Bucket) error { return b.TryDelete(t.Context(), "o/k") }, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			endpoint, n := countingFakeS3(t, http.StatusServiceUnavailable, "SlowDown")
			b := openFakeS3(t, endpoint, retry.Policy{Attempts: 4, Base: time.Millisecond, Max: time.Millisecond})
			if err := tt.del(b); !IsTransient(err) || n.Load() != tt.want {
				t.Errorf("%s = %v after %d requests; want a transient error after %d", tt.name, err, n.Load(), tt.want)
			}
		})
	}
}

// TestS3DeleteMissingKey: a DeleteObject that an S3 server answers 404
// NoSuchKey (versitygw does, to one of two concurrent DeleteObjects of a
// key) is a success of Delete and TryDelete, in one request; a missing
// bucket (404 NoSuchBucket) is still an error. Before, NoSuchKey was
// returned as ErrNotFound, and a Collect that disposed of an object that a
// Purge was deleting at the same moment failed with it.
func TestS3DeleteMissingKey(t *testing.T) {
	for _, tt := range []struct {
		code string // answered with 404
		want error  // nil: success
	}{
		{"NoSuchKey", nil},
		{"NoSuchBucket", ErrNoBucket},
	} {
		for _, del := range []struct {
			name string
			fn   func(b *Bucket, ctx context.Context, key string) error
		}{
			{"Delete", (*Bucket).Delete},
			{"TryDelete", (*Bucket).TryDelete},
		} {
			t.Run(del.name+"/"+tt.code, func(t *testing.T) {
				endpoint, n := countingFakeS3(t, http.StatusNotFound, tt.code)
				b := openFakeS3(t, endpoint, retry.Policy{Attempts: 4, Base: time.Millisecond, Max: time.Millisecond})
				err := del.fn(b, t.Context(), b.NewKey())
				if (err == nil) != (tt.want == nil) || !errors.Is(err, tt.want) {
					t.Errorf("%s answered 404 %s = %v, want %v", del.name, tt.code, err, tt.want)
				}
				if n.Load() != 1 {
					t.Errorf("%s sent %d requests, want 1", del.name, n.Load())
				}
			})
		}
	}
}

// TestS3WriterUploadAborted: an S3 server that no longer knows a writer's
// multipart upload (NoSuchUpload: aborted, as Collect aborts one older than
// the staging TTL) fails the writer with ErrUploadGone, not ErrNoBucket.
// Before, the error carried no sentinel.
func TestS3WriterUploadAborted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodPost && q.Has("uploads"):
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>bucket</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>`)
		case r.Method == http.MethodDelete && q.Has("uploadId"):
			w.WriteHeader(http.StatusNoContent)
		default: // the parts, and the completion
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>aborted</Message></Error>`)
		}
	}))
	t.Cleanup(srv.Close)
	b := openFakeS3(t, srv.URL, retryOnce)
	w, err := b.NewWriter(t.Context(), b.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	_, werr := w.Write(make([]byte, 11<<20)) // multipart
	err = w.Close()
	if werr != nil && !errors.Is(werr, ErrUploadGone) {
		t.Errorf("Write = %v, want nil or ErrUploadGone", werr)
	}
	if !errors.Is(err, ErrUploadGone) || errors.Is(err, ErrNoBucket) {
		t.Errorf("Close = %v; want ErrUploadGone, not ErrNoBucket", err)
	}
}

// TestAbortStaleUploadsNotImplemented: on an S3-compatible server that
// cannot list multipart uploads (501), there are none to abort: no error,
// so that Collect, which calls it after its own work, does not fail on such
// a server. Before, the 501 was retried and then returned.
func TestAbortStaleUploadsNotImplemented(t *testing.T) {
	endpoint, n := countingFakeS3(t, http.StatusNotImplemented, "NotImplemented")
	b := openFakeS3(t, endpoint, retry.Policy{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond})
	aborted, err := b.AbortStaleUploads(t.Context(), func(string, time.Time) bool { return true })
	if aborted != 0 || err != nil || n.Load() != 1 {
		t.Errorf("AbortStaleUploads = %d, %v after %d requests; want 0, nil after 1", aborted, err, n.Load())
	}
}

// TestOpenS3ResponseTimeout: a bucket opened from an s3:// URL bounds the
// wait for response headers (Options.ResponseTimeout), so a server that
// accepts requests and never answers makes reads, listing and writes fail
// with a transient timeout, reads and listing after their retries, instead
// of waiting for as long as the context lives. Before, the SDK's client had
// no such bound and each operation hung until its caller's deadline.
func TestOpenS3ResponseTimeout(t *testing.T) {
	addr, accepted := silentServer(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	endpoint := url.QueryEscape("http://" + addr)
	b, err := Open(t.Context(), "s3://bucket?region=us-east-1&use_path_style=true&endpoint="+endpoint, &Options{
		ResponseTimeout: 50 * time.Millisecond,
		Retry:           retry.Policy{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, op := range []struct {
		name     string
		requests int64 // requests Bucket makes: its own retries, one SDK attempt each
		do       func(ctx context.Context) error
	}{
		// Retry allows 3 tries, but a third try after two silent ones
		// (header timeouts) is not made (see Options.StallTimeout).
		{"NewReader", 2, func(ctx context.Context) error { _, err := b.NewReader(ctx, b.NewKey()); return err }},
		{"List", 2, func(ctx context.Context) error {
			return b.List(ctx, func(string, time.Time, int64) error { return nil })
		}},
		{"Writer", 0, func(ctx context.Context) error {
			w, err := b.NewWriter(ctx, b.NewKey())
			if err != nil {
				return err
			}
			if _, err := w.Write([]byte("hello")); err != nil {
				return err
			}
			return w.Close()
		}},
	} {
		t.Run(op.name, func(t *testing.T) {
			before := accepted.Load()
			err := op.do(context.Background())
			n := accepted.Load() - before
			if err == nil || !IsTransient(err) || (op.requests > 0 && n != op.requests) || n == 0 {
				t.Errorf("against a server that never answers: %v (transient %v) after %d connections; want a transient error (after %d)",
					err, IsTransient(err), n, op.requests)
			}
		})
	}
}

// TestOperationsRetryTransientErrors counts the requests that reach a failing
// S3 endpoint: a transient failure is tried Attempts times, a permanent one
// once.
func TestOperationsRetryTransientErrors(t *testing.T) {
	const attempts = 3
	ops := []struct {
		name string
		do   func(ctx context.Context, b *Bucket) error
	}{
		{"NewReader", func(ctx context.Context, b *Bucket) error { _, err := b.NewReader(ctx, b.NewKey()); return err }},
		{"ReadAt", func(ctx context.Context, b *Bucket) error {
			_, err := b.ReaderAt(ctx, b.NewKey()).ReadAt(make([]byte, 8), 0)
			return err
		}},
		{"Delete", func(ctx context.Context, b *Bucket) error { return b.Delete(ctx, b.NewKey()) }},
		{"List", func(ctx context.Context, b *Bucket) error {
			return b.List(ctx, func(string, time.Time, int64) error { return nil })
		}},
	}
	faults := []struct {
		status       int
		code         string
		wantRequests int64
	}{
		{http.StatusServiceUnavailable, "SlowDown", attempts},
		{http.StatusForbidden, "AccessDenied", 1},
		// What the server does not implement it will not do on a retry.
		{http.StatusNotImplemented, "NotImplemented", 1},
	}
	type result struct {
		Requests int64
		Failed   bool
	}
	for _, op := range ops {
		for _, f := range faults {
			t.Run(fmt.Sprintf("%s/%d", op.name, f.status), func(t *testing.T) {
				endpoint, n := countingFakeS3(t, f.status, f.code)
				b := openFakeS3(t, endpoint, retry.Policy{Attempts: attempts, Base: time.Millisecond, Max: time.Millisecond})
				err := op.do(t.Context(), b)
				got := result{n.Load(), err != nil}
				if diff := cmp.Diff(result{f.wantRequests, true}, got); diff != "" {
					t.Errorf("(-want +got):\n%s\nerr: %v", diff, err)
				}
			})
		}
	}
}
