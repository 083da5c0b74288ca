package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/filestore-go/filestore/httpapi"
)

// turnAwayMax is how many refused connections a turnAway answers at
// once; further ones are closed without an answer until one is done.
const turnAwayMax = 64

// turnAwayTimeout bounds the time a turnAway gives a refused connection
// to send its request and read the answer.
const turnAwayTimeout = 2 * time.Second

// turnAway answers the connections refused at the per-address cap, on an
// http.Server of its own: a 429 rate_limited problem with Retry-After: 1
// and Connection: close to whatever request arrives first, within
// turnAwayTimeout. Answering rather than closing at once tells a client
// why, and lets it read the answer instead of a reset.
type turnAway struct {
	srv    *http.Server
	conns  chan net.Conn // handed over, for srv's listener
	busy   chan struct{} // one token per connection being answered
	done   chan struct{} // closed by close
	served chan struct{} // closed when srv.Serve returns

	mu     sync.Mutex // hand and close
	closed bool
}

// newTurnAway returns a turnAway for a server capping each address at
// perIP connections, listening on addr.
func newTurnAway(perIP int, addr net.Addr, logger *slog.Logger) *turnAway {
	t := &turnAway{
		conns:  make(chan net.Conn, turnAwayMax),
		busy:   make(chan struct{}, turnAwayMax),
		done:   make(chan struct{}),
		served: make(chan struct{}),
	}
	detail := "too many connections from your address (at most " + strconv.Itoa(perIP) +
		" at once, none of them idle); close one, or try again later"
	t.srv = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { refuseConn(w, r, detail) }),
		ReadHeaderTimeout: turnAwayTimeout,
		ReadTimeout:       turnAwayTimeout,
		WriteTimeout:      turnAwayTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateClosed || s == http.StateHijacked {
				<-t.busy
			}
		},
	}
	t.srv.SetKeepAlivesEnabled(false)
	go func() {
		defer close(t.served)
		_ = t.srv.Serve(&chanListener{conns: t.conns, done: t.done, addr: addr})
	}()
	return t
}

// hand gives c to t to answer, or closes it when t is answering
// turnAwayMax connections already or is closed.
func (t *turnAway) hand(c net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		_ = c.Close()
		return
	}
	select {
	case t.busy <- struct{}{}:
		t.conns <- c // room for it: t.conns holds as many as t.busy
	default:
		_ = c.Close()
	}
}

// close stops t: it closes the connections being answered, and those
// handed over and not yet taken.
func (t *turnAway) close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	close(t.done)
	t.mu.Unlock()
	_ = t.srv.Close()
	<-t.served
	for {
		select {
		case c := <-t.conns:
			_ = c.Close()
		default:
			return
		}
	}
}

// chanListener is a net.Listener whose connections are those sent on
// conns, until done is closed.
type chanListener struct {
	conns <-chan net.Conn
	done  <-chan struct{}
	addr  net.Addr
}

// Accept returns the next connection sent, or net.ErrClosed once done is
// closed.
func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close does nothing: the turnAway closes done.
func (l *chanListener) Close() error { return nil }

// Addr returns the address of the listener the connections came from.
func (l *chanListener) Addr() net.Addr { return l.addr }

// refuseConn answers 429 rate_limited with detail, Retry-After: 1 and a
// new request id.
func refuseConn(w http.ResponseWriter, r *http.Request, detail string) {
	var id [16]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand)
	p := httpapi.Problem{
		Type: "about:blank", Title: http.StatusText(http.StatusTooManyRequests),
		Status: http.StatusTooManyRequests, Detail: detail, Code: "rate_limited",
		RequestID: hex.EncodeToString(id[:]),
	}
	body, err := json.Marshal(p)
	if err != nil {
		panic(err) // a struct of strings and an int always marshals
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Request-Id", p.RequestID)
	h.Set("Retry-After", "1")
	w.WriteHeader(http.StatusTooManyRequests)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
