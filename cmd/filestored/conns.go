package main

import (
	"container/list"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// defaultMaxConns is --max-conns's default. An idle keep-alive connection
// costs filestored a goroutine, a file descriptor and about 25 KB of memory
// (measured: 4,000 of them added 90 MB of RSS); 4096 of them stay near
// 100 MB and, with --max-downloads' open files, near 5,000 descriptors,
// while leaving room for every upload and download the other caps allow
// (256 + 1024) three times over.
const defaultMaxConns = 4096

// connLimit caps the connections a server holds open (--max-conns) and
// counts them for /metrics. At the cap its listener accepts no more: new
// connections wait in the kernel's accept backlog until one closes. So
// that idle keep-alive connections cannot keep them waiting, the oldest
// idle connection is closed as soon as the cap is reached, and a
// connection that turns idle while the server is at the cap is closed
// then: at the cap there is no keep-alive. A connection with a request in
// progress is never closed for room.
//
// Closing an idle connection races with a request the client may be
// sending on it at that moment, as the server's IdleTimeout does; clients
// retry such requests on a new connection when they can (RFC 9112,
// section 9.3.1).
type connLimit struct {
	max    int // 0: no cap, only counts
	logger *slog.Logger
	now    func() time.Time

	// slots holds one token per connection accepted and not yet gone
	// (capacity max; nil without a cap).
	slots chan struct{}

	mu    sync.Mutex
	conns map[net.Conn]*trackedConn
	idle  *list.List // of net.Conn, the longest idle first
	open  int        // not closed, nor closed for room
	// closedIdle counts the idle connections closed for room.
	closedIdle uint64
	// full is set from the moment the cap is reached until a connection
	// closes, or the cap is reached again, capCalm after it was last
	// reached (an episode).
	full bool
	// since, lastFull and episodeClosed are the episode's start, the last
	// time in it that the cap was reached, and its idle connections closed
	// for room.
	since, lastFull time.Time
	episodeClosed   uint64
}

// trackedConn is what connLimit knows of one connection.
type trackedConn struct {
	idle   *list.Element // in connLimit.idle while idle, else nil
	closed bool          // closed for room, already uncounted
}

// newConnLimit returns a connLimit of maxConns connections (0: no cap)
// that logs the episodes at the cap to logger.
func newConnLimit(maxConns int, logger *slog.Logger) *connLimit {
	var slots chan struct{}
	if maxConns > 0 {
		slots = make(chan struct{}, maxConns)
	}
	return &connLimit{
		max:    maxConns,
		slots:  slots,
		logger: logger,
		now:    time.Now,
		conns:  make(map[net.Conn]*trackedConn),
		idle:   list.New(),
	}
}

// listener returns ln, accepting at most the cap's connections at once:
// at the cap, Accept waits until one of them closes (ConnState's
// StateClosed), and new connections wait in the kernel's backlog. The
// connections it returns are ln's own, not wrappers: net/http half-closes
// a *net.TCPConn (CloseWrite) before it closes one whose request it did
// not read to the end (a 413, a 431), so that the client reads the answer
// instead of a reset; golang.org/x/net/netutil.LimitListener's wrapper
// hides CloseWrite, and such clients got "connection reset by peer".
func (l *connLimit) listener(ln net.Listener) net.Listener {
	if l.max == 0 {
		return ln
	}
	return &capListener{Listener: ln, l: l, done: make(chan struct{})}
}

// capListener is connLimit's listener: a slot of l.slots for each
// connection accepted, given back when the connection is gone.
type capListener struct {
	net.Listener
	l         *connLimit
	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

// Accept waits for a free slot, then accepts. After Close it returns
// net.ErrClosed at once.
func (cl *capListener) Accept() (net.Conn, error) {
	select {
	case cl.l.slots <- struct{}{}:
	case <-cl.done:
		return nil, net.ErrClosed
	}
	c, err := cl.Listener.Accept()
	if err != nil {
		<-cl.l.slots
		return nil, err
	}
	return c, nil
}

// Close closes the listener and lets an Accept waiting for a slot return.
func (cl *capListener) Close() error {
	cl.closeOnce.Do(func() { close(cl.done) })
	return cl.Listener.Close()
}

// connState is the http.Server's ConnState hook.
func (l *connLimit) connState(c net.Conn, s http.ConnState) {
	var victim net.Conn
	l.mu.Lock()
	switch s {
	case http.StateNew:
		l.conns[c] = &trackedConn{}
		l.open++
		victim = l.makeRoomLocked()
	case http.StateActive:
		if tc := l.conns[c]; tc != nil && tc.idle != nil {
			l.idle.Remove(tc.idle)
			tc.idle = nil
		}
	case http.StateIdle:
		if tc := l.conns[c]; tc != nil && !tc.closed && tc.idle == nil {
			tc.idle = l.idle.PushBack(c)
			victim = l.makeRoomLocked()
		}
	case http.StateClosed, http.StateHijacked:
		if tc := l.conns[c]; tc != nil {
			delete(l.conns, c)
			select {
			case <-l.slots: // the listener may accept another
			default: // not accepted by l's listener
			}
			if tc.idle != nil {
				l.idle.Remove(tc.idle)
			}
			if !tc.closed {
				l.open--
			}
			l.endEpisodeLocked(l.now())
		}
	}
	l.mu.Unlock()
	if victim != nil {
		// Its server goroutine sees the read fail and ends; the listener
		// takes the next connection.
		_ = victim.Close()
	}
}

// makeRoomLocked notes that the cap is reached, if it is, and then picks
// the longest idle connection to close, if there is one.
func (l *connLimit) makeRoomLocked() (victim net.Conn) {
	if l.max == 0 || l.open < l.max {
		return nil
	}
	now := l.now()
	l.endEpisodeLocked(now)
	if !l.full {
		l.full, l.since, l.episodeClosed = true, now, 0
		// Under the lock, rarely: the lines of episodes stay in order.
		l.logger.Warn("connection cap reached: new connections wait until one closes, idle keep-alive connections are closed to make room",
			"max_conns", l.max, "idle", l.idle.Len())
	}
	l.lastFull = now
	front := l.idle.Front()
	if front == nil {
		return nil
	}
	victim = l.idle.Remove(front).(net.Conn)
	tc := l.conns[victim]
	tc.idle, tc.closed = nil, true
	l.open--
	l.closedIdle++
	l.episodeClosed++
	return victim
}

// capCalm is how long the cap must not have been reached for an episode
// at the cap to end: a server that keeps reaching it logs it once, and
// then at most once a minute.
const capCalm = time.Minute

// endEpisodeLocked ends the episode at the cap, if the cap was last
// reached capCalm or longer before now.
func (l *connLimit) endEpisodeLocked(now time.Time) {
	if !l.full || now.Sub(l.lastFull) < capCalm {
		return
	}
	l.full = false
	l.logger.Info("connection cap not reached for a minute", "max_conns", l.max, "open", l.open,
		"idle_closed", l.episodeClosed, "at_cap_for", l.lastFull.Sub(l.since).Round(time.Millisecond))
}

// counts returns the connections open and, of them, idle, and how many
// idle connections have been closed for room.
func (l *connLimit) counts() (open, idle int, closedIdle uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open, l.idle.Len(), l.closedIdle
}

// collectors are the metrics of l for /metrics.
func (l *connLimit) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "filestore_http_connections_open",
			Help: "HTTP connections open now, idle keep-alive ones included (at most --max-conns; more wait in the accept backlog).",
		}, func() float64 { open, _, _ := l.counts(); return float64(open) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "filestore_http_connections_idle",
			Help: "Of the open HTTP connections, the idle keep-alive ones waiting for their next request.",
		}, func() float64 { _, idle, _ := l.counts(); return float64(idle) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "filestore_http_idle_connections_closed_total",
			Help: "Idle keep-alive connections closed to make room for new connections at the --max-conns cap.",
		}, func() float64 { _, _, closed := l.counts(); return float64(closed) }),
	}
}
