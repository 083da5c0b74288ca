package main

import (
	"container/list"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/filestore-go/filestore/internal/clientaddr"
)

// defaultMaxConns is --max-conns's default. An idle keep-alive connection
// costs filestored a goroutine, a file descriptor and about 25 KB of memory
// (measured: 4,000 of them added 90 MB of RSS); 4096 of them stay near
// 100 MB and, with --max-downloads' open files, near 5,000 descriptors,
// while leaving room for every upload and download the other caps allow
// (256 + 1024) three times over.
const defaultMaxConns = 4096

// defaultMaxConnsPerIP is --max-conns-per-ip's default: a sixteenth of
// --max-conns', so that one address alone cannot take every connection
// the server holds, while an office behind one NAT address keeps room for
// dozens of browsers (six connections each at most).
const defaultMaxConnsPerIP = 256

// connCaps are the caps of a connLimit.
type connCaps struct {
	max   int // --max-conns; 0: no cap
	perIP int // --max-conns-per-ip; 0: no cap
	// exempt are the addresses not capped per address: the trusted
	// proxies, whose connections carry many clients' requests.
	exempt []netip.Prefix
}

// connLimit caps the connections a server holds open (--max-conns) and
// those of one client address (--max-conns-per-ip), and counts them for
// /metrics. At the cap its listener accepts no more: new
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
//
// An address (an IPv4 address, or an IPv6 /64) with perIP connections
// open gets no more: its new connection is taken, and its idle
// connection idle the longest closed to make room; when it has none
// idle, the new connection is refused: answered 429 by turnAway and
// closed, without taking a slot of the cap. Connections that send nothing
// hold a slot until the header timeout closes them, so without this one
// address could keep every other client waiting in the backlog.
type connLimit struct {
	max    int // 0: no cap, only counts
	perIP  int // 0: no cap per address
	exempt []netip.Prefix
	logger *slog.Logger
	now    func() time.Time
	// turnAway answers the connections refused at the per-address cap;
	// set by listener.
	turnAway *turnAway

	// slots holds one token per connection accepted and not yet gone
	// (capacity max; nil without a cap).
	slots chan struct{}

	mu    sync.Mutex
	conns map[net.Conn]*trackedConn
	idle  *list.List // of net.Conn, the longest idle first
	open  int        // not closed, nor closed for room
	// addrs are the open connections of each capped address.
	addrs map[netip.Prefix]*addrConns
	// closedIdle counts the idle connections closed for room, refused
	// the connections refused at the per-address cap.
	closedIdle, refused uint64
	// refusalLines bounds the log lines of refusals (see logRefusal);
	// unlogged counts the refusals without one since the last line.
	refusalLines *rate.Limiter
	unlogged     uint64
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
	// addr is the connection's address's, nil for an address not
	// capped; addrIdle its element in addr.idle while idle.
	addr     *addrConns
	addrIdle *list.Element
}

// addrConns are the open connections of one address.
type addrConns struct {
	key  netip.Prefix
	open int
	idle *list.List // of net.Conn, the longest idle first
}

// newConnLimit returns a connLimit of caps that logs the episodes at the
// cap, and the connections refused, to logger.
func newConnLimit(caps connCaps, logger *slog.Logger) *connLimit {
	var slots chan struct{}
	if caps.max > 0 {
		slots = make(chan struct{}, caps.max)
	}
	return &connLimit{
		max:    caps.max,
		perIP:  caps.perIP,
		exempt: caps.exempt,
		slots:  slots,
		logger: logger,
		now:    time.Now,
		// A burst of refusals, then one line a second at most.
		refusalLines: rate.NewLimiter(rate.Every(refusalLineEvery), refusalLineBurst),
		conns:        make(map[net.Conn]*trackedConn),
		idle:         list.New(),
		addrs:        make(map[netip.Prefix]*addrConns),
	}
}

// listener returns ln, accepting at most the cap's connections at once:
// at the cap, Accept waits until one of them closes (ConnState's
// StateClosed), and new connections wait in the kernel's backlog. Over
// the per-address cap, it hands the connection to l's turnAway and
// accepts the next one. The connections it returns are ln's own, not
// wrappers: net/http half-closes a *net.TCPConn (CloseWrite) before it
// closes one whose request it did not read to the end (a 413, a 431), so
// that the client reads the answer instead of a reset;
// golang.org/x/net/netutil.LimitListener's wrapper hides CloseWrite, and
// such clients got "connection reset by peer". Closing the listener stops
// the turnAway too.
func (l *connLimit) listener(ln net.Listener) net.Listener {
	if l.max == 0 && l.perIP == 0 {
		return ln
	}
	if l.perIP > 0 {
		l.turnAway = newTurnAway(l.perIP, ln.Addr(), l.logger)
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

// Accept waits for a free slot, then accepts; a connection over the
// per-address cap gives its slot back and is turned away. After Close it
// returns net.ErrClosed at once.
func (cl *capListener) Accept() (net.Conn, error) {
	l := cl.l
	for {
		if l.slots != nil {
			select {
			case l.slots <- struct{}{}:
			case <-cl.done:
				return nil, net.ErrClosed
			}
		}
		c, err := cl.Listener.Accept()
		if err != nil {
			l.freeSlot()
			return nil, err
		}
		ok, victim, key := l.admit(c)
		if victim != nil {
			_ = victim.Close()
		}
		if ok {
			return c, nil
		}
		l.freeSlot()
		if unlogged, ok := l.logRefusal(); ok {
			attrs := []any{"remote_addr", c.RemoteAddr().String(), "address", key.String(), "max_conns_per_ip", l.perIP}
			if unlogged > 0 {
				attrs = append(attrs, "unlogged_refusals", unlogged)
			}
			l.logger.Warn("connection refused: too many connections from one address", attrs...)
		}
		l.turnAway.hand(c)
	}
}

// refusalLineBurst and refusalLineEvery bound the log lines of the
// connections refused at the per-address cap: the first refusalLineBurst
// are logged, then one every refusalLineEvery at most, so that a client
// opening connections as fast as it can (each refused in microseconds)
// does not write the log as fast. filestore_http_connections_refused_total
// counts them all.
const (
	refusalLineBurst = 10
	refusalLineEvery = time.Second
)

// logRefusal reports whether a connection just refused gets a log line,
// and how many refusals had none since the last line.
func (l *connLimit) logRefusal() (unlogged uint64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.refusalLines.AllowN(l.now(), 1) {
		l.unlogged++
		return 0, false
	}
	unlogged, l.unlogged = l.unlogged, 0
	return unlogged, true
}

// freeSlot gives back a slot taken for a connection not served.
func (l *connLimit) freeSlot() {
	if l.slots != nil {
		<-l.slots
	}
}

// Close closes the listener, lets an Accept waiting for a slot return and
// closes the connections being turned away.
func (cl *capListener) Close() error {
	cl.closeOnce.Do(func() {
		close(cl.done)
		if cl.l.turnAway != nil {
			cl.l.turnAway.close()
		}
	})
	return cl.Listener.Close()
}

// addrKey is the key of c's address for the per-address cap,
// clientaddr.Key's, as the per-IP rate limit counts them. ok is false for
// an address not capped: an exempt one, or one that is not TCP's.
func (l *connLimit) addrKey(c net.Conn) (key netip.Prefix, ok bool) {
	ta, isTCP := c.RemoteAddr().(*net.TCPAddr)
	if !isTCP {
		return netip.Prefix{}, false
	}
	a := ta.AddrPort().Addr() // In and Key compare it unmapped, without a zone
	if clientaddr.In(a, l.exempt) {
		return netip.Prefix{}, false
	}
	key = clientaddr.Key(a)
	return key, key.IsValid()
}

// admit decides whether the server takes the new connection c: yes when
// its address has fewer than the per-address cap's connections open, or
// one of them idle, which it returns as victim, already uncounted, for
// the caller to close. key is c's address's.
func (l *connLimit) admit(c net.Conn) (ok bool, victim net.Conn, key netip.Prefix) {
	if l.perIP == 0 {
		return true, nil, key
	}
	key, capped := l.addrKey(c)
	if !capped {
		return true, nil, key
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ac := l.addrs[key]
	if ac == nil || ac.open < l.perIP {
		return true, nil, key
	}
	if front := ac.idle.Front(); front != nil {
		victim = front.Value.(net.Conn)
		l.dropLocked(l.conns[victim])
		l.closedIdle++
		return true, victim, key
	}
	l.refused++
	return false, nil, key
}

// connState is the http.Server's ConnState hook.
func (l *connLimit) connState(c net.Conn, s http.ConnState) {
	var victim net.Conn
	l.mu.Lock()
	switch s {
	case http.StateNew:
		tc := &trackedConn{}
		l.conns[c] = tc
		l.open++
		if l.perIP > 0 {
			tc.addr = l.addrOfLocked(c)
		}
		victim = l.makeRoomLocked()
	case http.StateActive:
		if tc := l.conns[c]; tc != nil {
			l.unidleLocked(tc)
		}
	case http.StateIdle:
		if tc := l.conns[c]; tc != nil && !tc.closed && tc.idle == nil {
			tc.idle = l.idle.PushBack(c)
			if tc.addr != nil {
				tc.addrIdle = tc.addr.idle.PushBack(c)
			}
			victim = l.makeRoomLocked()
		}
	case http.StateClosed, http.StateHijacked:
		if tc := l.conns[c]; tc != nil {
			delete(l.conns, c)
			select {
			case <-l.slots: // the listener may accept another
			default: // not accepted by l's listener
			}
			if !tc.closed {
				l.dropLocked(tc)
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

// addrOfLocked counts c, new, in its address's connections and returns
// them; nil for an address not capped.
func (l *connLimit) addrOfLocked(c net.Conn) *addrConns {
	key, capped := l.addrKey(c)
	if !capped {
		return nil
	}
	ac := l.addrs[key]
	if ac == nil {
		ac = &addrConns{key: key, idle: list.New()}
		l.addrs[key] = ac
	}
	ac.open++
	return ac
}

// unidleLocked takes tc off the idle lists, if it is on them.
func (l *connLimit) unidleLocked(tc *trackedConn) {
	if tc.idle != nil {
		l.idle.Remove(tc.idle)
		tc.idle = nil
	}
	if tc.addrIdle != nil {
		tc.addr.idle.Remove(tc.addrIdle)
		tc.addrIdle = nil
	}
}

// dropLocked uncounts tc's connection, which is closed or being closed.
func (l *connLimit) dropLocked(tc *trackedConn) {
	l.unidleLocked(tc)
	tc.closed = true
	l.open--
	if ac := tc.addr; ac != nil {
		ac.open--
		if ac.open == 0 {
			delete(l.addrs, ac.key)
		}
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
	victim = front.Value.(net.Conn)
	l.dropLocked(l.conns[victim])
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

// refusedCount returns how many connections were refused at the
// per-address cap.
func (l *connLimit) refusedCount() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refused
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
			Help: "Idle keep-alive connections closed to make room for new connections at the --max-conns cap, or at the --max-conns-per-ip cap of their address.",
		}, func() float64 { _, _, closed := l.counts(); return float64(closed) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "filestore_http_connections_refused_total",
			Help: "New connections refused because their address had --max-conns-per-ip connections open, none of them idle (answered 429 and closed).",
		}, func() float64 { return float64(l.refusedCount()) }),
	}
}
