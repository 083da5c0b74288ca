package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// refusalLog logs and counts what net/http refuses on its own, before any
// handler sees a request, and so before httpapi's request line and
// metrics: a request line or header it cannot parse (400), headers over
// MaxHeaderBytes (431), an Expect other than 100-continue (417), a
// Transfer-Encoding it does not implement (501), an HTTP version it does
// not speak (505). net/http writes those
// answers straight to the connection and logs nothing. It also logs the
// connections that ReadHeaderTimeout closes while a request's header is
// still arriving (slow or stalled clients), which get no answer at all.
//
// It sees them through the connections of its listener: an answer written
// while no handler has begun on the connection since its last request is
// one of net/http's own. Serve the http.Server on its listener, with its
// connContext, connState and handler (newServer does).
type refusalLog struct {
	logger        *slog.Logger
	headerTimeout time.Duration // the server's ReadHeaderTimeout, for the log
	refused       *prometheus.CounterVec
	timeouts      prometheus.Counter
}

// newRefusalLog returns a refusalLog that logs to logger; headerTimeout is
// the server's ReadHeaderTimeout.
func newRefusalLog(logger *slog.Logger, headerTimeout time.Duration) *refusalLog {
	return &refusalLog{
		logger:        logger,
		headerTimeout: headerTimeout,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "filestore_http_protocol_refusals_total",
			Help: "Requests the HTTP server refused before routing them (a malformed request, headers over the limit, an unsupported Expect or Transfer-Encoding), by the status it answered.",
		}, []string{"code"}),
		timeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "filestore_http_header_timeouts_total",
			Help: fmt.Sprintf("Connections closed because a request's header did not arrive in full within the header timeout (%s).", headerTimeout),
		}),
	}
}

// collectors are the metrics of l for /metrics.
func (l *refusalLog) collectors() []prometheus.Collector {
	return []prometheus.Collector{l.refused, l.timeouts}
}

// listener returns ln, its connections watched for l.
func (l *refusalLog) listener(ln net.Listener) net.Listener {
	return &watchListener{Listener: ln, l: l}
}

// watchListener is refusalLog's listener.
type watchListener struct {
	net.Listener
	l *refusalLog
}

// Accept accepts a connection of the listener and watches it.
func (wl *watchListener) Accept() (net.Conn, error) {
	c, err := wl.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &watchedConn{Conn: c, l: wl.l}, nil
}

// watchedConn is a connection refusalLog watches. Its fields are set on
// the connection's goroutine (reads, writes, the handler's start) and by
// the server's ConnState hook, which runs on that goroutine too except
// for StateNew.
type watchedConn struct {
	net.Conn
	l *refusalLog

	handled  atomic.Bool  // a handler began since the connection was new or idle
	requests atomic.Int64 // handlers begun on the connection
	read     atomic.Int64 // bytes read since the connection was new or idle
	timedOut atomic.Bool  // a read since then failed with a timeout
	answered atomic.Bool  // net/http answered a request itself; logged
}

// Read reads from the connection, noting how much arrived and whether
// the read timed out.
func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		c.timedOut.Store(true)
	}
	return n, err
}

// Write writes to the connection; what is written while no handler has
// begun is net/http's own answer, logged first.
func (c *watchedConn) Write(p []byte) (int, error) {
	if !c.handled.Load() && !c.answered.Swap(true) {
		c.l.logRefusal(c, p)
	}
	return c.Conn.Write(p)
}

// ReadFrom lets the connection's own ReadFrom (sendfile for a file) send a
// download's body, as it does without the wrapper; only handlers use it.
func (c *watchedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite half-closes the connection, as net/http does before it
// closes one whose request it did not read to the end (a 431, a 413), so
// that the client reads the answer rather than a reset. A connection
// without CloseWrite is left as it is.
func (c *watchedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// watchedKey is the context key of a request's *watchedConn.
type watchedKey struct{}

// connContext is the http.Server's ConnContext: it puts the watched
// connection in its requests' context.
func (l *refusalLog) connContext(ctx context.Context, c net.Conn) context.Context {
	if wc, ok := c.(*watchedConn); ok {
		return context.WithValue(ctx, watchedKey{}, wc)
	}
	return ctx
}

// handler returns h, noting on the request's connection that a handler
// has begun before h runs.
func (l *refusalLog) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wc, ok := r.Context().Value(watchedKey{}).(*watchedConn); ok {
			wc.handled.Store(true)
			wc.requests.Add(1)
		}
		h.ServeHTTP(w, r)
	})
}

// connState is part of the http.Server's ConnState hook. An idle
// connection starts over; a closed one whose request's header was
// arriving when a read timed out, with no handler begun and no answer, is
// logged: ReadHeaderTimeout closed it.
func (l *refusalLog) connState(c net.Conn, s http.ConnState) {
	wc, ok := c.(*watchedConn)
	if !ok {
		return
	}
	switch s {
	case http.StateIdle:
		wc.handled.Store(false)
		wc.read.Store(0)
		wc.timedOut.Store(false)
	case http.StateClosed:
		if wc.handled.Load() || wc.answered.Load() || !wc.timedOut.Load() {
			return
		}
		read := wc.read.Load()
		if read == 0 {
			// Nothing arrived: a connection opened and left unused
			// (a browser's preconnect, a health check's TCP probe).
			// One that has served requests is an idle keep-alive
			// connection that IdleTimeout closed, which is routine.
			if wc.requests.Load() == 0 {
				l.logger.Debug("connection closed: no request within the header timeout",
					"remote_addr", c.RemoteAddr().String(), "timeout", l.headerTimeout)
			}
			return
		}
		l.timeouts.Inc()
		l.logger.Warn("connection closed: request header not received in full within the header timeout",
			"remote_addr", c.RemoteAddr().String(), "timeout", l.headerTimeout,
			"bytes_in", read, "requests_before", wc.requests.Load())
	}
}

// maxRefusalText bounds the status text a refusal's log line quotes.
const maxRefusalText = 200

// logRefusal logs and counts the answer p that net/http wrote itself on
// c: its status line's code and text ("431 Request Header Fields Too
// Large", "400 Bad Request: malformed Host header").
func (l *refusalLog) logRefusal(c *watchedConn, p []byte) {
	line, _, _ := bytes.Cut(p, []byte("\r\n"))
	text := string(bytes.TrimPrefix(line, []byte("HTTP/1.1 ")))
	code := "unknown"
	if len(text) >= 3 {
		if _, err := strconv.Atoi(text[:3]); err == nil {
			code = text[:3]
		}
	}
	if len(text) > maxRefusalText {
		text = strings.ToValidUTF8(text[:maxRefusalText], "") + "…"
	}
	l.refused.WithLabelValues(code).Inc()
	l.logger.Warn("request refused by the HTTP server before routing",
		"status", code, "answer", text, "remote_addr", c.RemoteAddr().String(),
		"bytes_in", c.read.Load(), "requests_before", c.requests.Load())
}
