package httpapi

import (
	"io"
	"net/http"
	"time"
)

// statusWriter records the status and the number of body bytes of an
// answer, and moves the connection's write deadline forward at every write.
type statusWriter struct {
	http.ResponseWriter
	rc          *http.ResponseController
	timeout     time.Duration // <= 0: no deadlines
	status      int
	bytes       int64
	wroteHeader bool
	// body is the request's body, nil when it has none; an answer given
	// before the handler read any of it closes the connection.
	body *bodyReader
	// writeErr is the first error of a Write: the answer did not reach the
	// client whole (it went away, or a write deadline or shutdown cut it).
	writeErr error
}

// closeIfUntouched asks the server to close the connection after the
// answer when the handler answers without reading any of the request's
// body (no token, a rate limit, a route that takes none). The server
// would otherwise read up to 256 KiB of it before it sends the answer, to
// keep the connection: from a client that announced a body and never sends
// it, it would wait for ever.
func (w *statusWriter) closeIfUntouched() {
	if w.body != nil && w.body.n == 0 && !w.body.done {
		w.Header().Set("Connection", "close")
	}
}

// clearDeadline removes any write deadline left on the connection.
func (w *statusWriter) clearDeadline() {
	if w.timeout > 0 {
		_ = w.rc.SetWriteDeadline(time.Time{})
	}
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.status = code
		w.wroteHeader = true
		w.closeIfUntouched()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.status = http.StatusOK
		w.wroteHeader = true
		w.closeIfUntouched()
	}
	if w.timeout > 0 {
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	if err != nil && w.writeErr == nil {
		w.writeErr = err
	}
	return n, err
}

// Flush sends buffered data to the client.
func (w *statusWriter) Flush() { _ = w.rc.Flush() }

// Unwrap lets http.ResponseController reach the server's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bodyReader counts the bytes read from a request body and moves the
// connection's read deadline forward before every read, so that a body that
// keeps arriving is never cut and a stalled one is. It clears the deadline
// when the body ends (io.EOF), since the server's background read then
// starts waiting on the connection while the handler still works. After
// any other error, and for a body the handler left unfinished, the
// deadline stays: it bounds the server's drain of the rest, and the server
// sets its own before reading the next request.
type bodyReader struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration // <= 0: no deadlines
	n       int64
	done    bool
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.timeout > 0 && !b.done {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	}
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err != nil && !b.done {
		b.done = true
		if b.timeout > 0 && err == io.EOF {
			_ = b.rc.SetReadDeadline(time.Time{})
		}
	}
	return n, err
}
