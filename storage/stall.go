package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/middleware"
)

// defaultStallTimeout is Options.StallTimeout's default.
const defaultStallTimeout = 30 * time.Second

// stallWriteChunk is the most bytes a connection to an S3 server is given
// at once: each chunk must be taken within the stall timeout, so that a
// large write that keeps moving, however slowly, is not taken for a stall.
const stallWriteChunk = 32 << 10

// stallError is the error of a read or write of an S3 connection that made
// no progress for the stall timeout. It is a net.Error that timed out
// (IsTransient reports it transient), matches ErrStalled with errors.Is,
// and wraps the connection's own deadline error.
type stallError struct {
	op      string // "read" or "written"
	timeout time.Duration
	err     error
}

func (e *stallError) Error() string {
	return fmt.Sprintf("storage: S3 connection stalled: nothing %s for %v: %v", e.op, e.timeout, e.err)
}

func (e *stallError) Unwrap() error        { return e.err }
func (e *stallError) Is(target error) bool { return target == ErrStalled }
func (e *stallError) Timeout() bool        { return true }
func (e *stallError) Temporary() bool      { return true }

var _ net.Error = (*stallError)(nil)

// stallConn is a connection to an S3 server on which every Read and every
// Write must make progress within stall: a Read that receives no byte, or a
// write of a chunk that sends none, for that long fails with a stallError.
// A transfer that keeps moving is never cut off, however long it takes.
//
// The Read that waits for a response is issued by net/http before or while
// the request is written (an idle connection always has one pending), so
// that every Write, and the start of each request (see stallClient), moves
// its deadline on: a response then has stall from the end of its request to
// begin. Requests whose answer a server may take long to prepare (see
// slowAnswer) mark the connection, while they wait for their response's
// headers, as allowed to wait slow instead.
type stallConn struct {
	net.Conn
	stall time.Duration
	slow  time.Duration
	// slowing counts the requests on the connection that are waiting for
	// the headers of a slow answer.
	slowing atomic.Int32
	// armedAt (Unix nanoseconds) and armedWait are when the read deadline
	// was last set, and to how far ahead (see Read).
	armedAt, armedWait atomic.Int64
}

// wait is how long a Read may receive nothing.
func (c *stallConn) wait() time.Duration {
	if c.slowing.Load() > 0 {
		return max(c.slow, c.stall)
	}
	return c.stall
}

// extendRead moves the deadline of the pending Read (if any) to wait from
// now.
func (c *stallConn) extendRead() {
	_ = c.arm(time.Now(), c.wait())
}

// arm sets the read deadline to wait from now.
func (c *stallConn) arm(now time.Time, wait time.Duration) error {
	c.armedAt.Store(now.UnixNano())
	c.armedWait.Store(int64(wait))
	return c.Conn.SetReadDeadline(now.Add(wait))
}

// Read reads with a deadline of wait from now, or at least 7/8 of it: a
// deadline set less than wait/8 ago, to the same wait, is kept, since
// setting one on every Read of a download cost about a sixth of its
// throughput (a review's benchmark, 64 MiB from versitygw in 32 KiB reads).
func (c *stallConn) Read(p []byte) (int, error) {
	now, d := time.Now(), c.wait()
	if now.UnixNano()-c.armedAt.Load() >= int64(d/8) || c.armedWait.Load() != int64(d) {
		if err := c.arm(now, d); err != nil {
			return 0, err
		}
	}
	n, err := c.Conn.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = &stallError{op: "read", timeout: c.wait(), err: err}
	}
	return n, err
}

func (c *stallConn) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.stall)); err != nil {
			return n, err
		}
		m, err := c.Conn.Write(p[n:min(len(p), n+stallWriteChunk)])
		n += m
		if m > 0 {
			c.extendRead()
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = &stallError{op: "written", timeout: c.stall, err: err}
			}
			return n, err
		}
	}
	return n, nil
}

// stallDialer wraps dial so that its connections are stallConns.
func stallDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error), stall, slow time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if dial == nil {
		dial = (&net.Dialer{Timeout: stall, KeepAlive: 30 * time.Second}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &stallConn{Conn: conn, stall: stall, slow: slow}, nil
	}
}

// asStallConn returns the stallConn under conn (a TLS connection's
// underlying one), or nil.
func asStallConn(conn net.Conn) *stallConn {
	for conn != nil {
		switch c := conn.(type) {
		case *stallConn:
			return c
		case interface{ NetConn() net.Conn }:
			conn = c.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// slowAnswer reports whether req asks for what an S3 server may take long
// to answer, after it has received the whole request: completing a
// multipart upload (S3 assembles the parts; servers that do not send
// AWS's early headers and keep-alive spaces say nothing until it is done)
// and server-side copies.
func slowAnswer(req *http.Request) bool {
	return req.Method == http.MethodPost && req.URL.Query().Has("uploadId") ||
		req.Header.Get("X-Amz-Copy-Source") != ""
}

// stallClient is the S3 SDK's HTTP client over stallConns: it tells the
// connection each request gets that a request starts (moving on the
// deadline of the Read pending on an idle connection), and, for a slow
// answer, to allow the longer wait until the response's headers arrive.
type stallClient struct {
	c aws.HTTPClient
}

func (s *stallClient) Do(req *http.Request) (*http.Response, error) {
	slow := slowAnswer(req)
	var mu sync.Mutex
	var marked []*stallConn
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		c := asStallConn(info.Conn)
		if c == nil {
			return
		}
		if slow {
			c.slowing.Add(1)
			mu.Lock()
			marked = append(marked, c)
			mu.Unlock()
		}
		c.extendRead()
	}}
	resp, err := s.c.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	mu.Lock()
	for _, c := range marked {
		c.slowing.Add(-1)
	}
	mu.Unlock()
	return resp, err
}

// silentTries is how many tries of an S3 operation may go unanswered (see
// silent) before it is retried no more, whatever Retry.Attempts allows: one
// retry rides out a connection that a middlebox dropped without a word; a
// server silent twice in a row is down, and more tries would only hold the
// caller (8 tries of 2 minutes each, before StallTimeout).
const silentTries = 2

// silent reports whether err ends a try that the server left unanswered: a
// stalled connection, a dial or a wait for response headers that timed out.
// Other transient errors (5xx, SlowDown, a reset connection) came with an
// answer, however long their try took, and keep Retry.Attempts.
func silent(ctx context.Context, err error) bool {
	// The caller's deadline or cancellation is no silence of the server;
	// net/http's header timeout and net's dial timeout match
	// context.DeadlineExceeded too, so ctx, not err, tells them apart.
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, ErrStalled) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// opSilenceKey is the context key of an S3 operation's count of silent
// tries (see silenceRetryer).
type opSilenceKey struct{}

// recordOp is an SDK API option that gives each operation, before its
// first attempt, a count of its silent tries.
func recordOp(st *middleware.Stack) error {
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc("filestoreSilentTries",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			return next.HandleInitialize(context.WithValue(ctx, opSilenceKey{}, new(atomic.Int32)), in)
		}), middleware.Before)
}

// errTooSilent is joined to the last error of an S3 operation that
// silenceRetryer stopped retrying.
var errTooSilent = fmt.Errorf("storage: no retry after %d tries without an answer", silentTries)

// silenceRetryer is the SDK retryer that starts no retry once silentTries
// tries of the operation have gone unanswered (see recordOp).
type silenceRetryer struct {
	aws.Retryer
}

func (r *silenceRetryer) GetRetryToken(ctx context.Context, opErr error) (func(error) error, error) {
	if n, ok := ctx.Value(opSilenceKey{}).(*atomic.Int32); ok && silent(ctx, opErr) && n.Add(1) >= silentTries {
		return nil, errTooSilent
	}
	return r.Retryer.GetRetryToken(ctx, opErr)
}

func (r *silenceRetryer) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	if v2, ok := r.Retryer.(aws.RetryerV2); ok {
		return v2.GetAttemptToken(ctx)
	}
	return r.Retryer.GetInitialToken(), nil
}

var _ aws.RetryerV2 = (*silenceRetryer)(nil)
