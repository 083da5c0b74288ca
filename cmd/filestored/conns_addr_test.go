package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// checkTurnedAway checks that res, body is the per-address cap's answer
// for a cap of perIP.
func checkTurnedAway(t *testing.T, res *http.Response, body string, perIP string) {
	t.Helper()
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d %q, want 429", res.StatusCode, body)
	}
	for name, want := range map[string]string{
		"Content-Type": "application/problem+json", "Retry-After": "1",
		"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
	} {
		if got := res.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if !res.Close {
		t.Error("no Connection: close")
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	id, _ := p["request_id"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) || res.Header.Get("X-Request-Id") != id {
		t.Errorf("request_id %q, X-Request-Id %q: want the same 32 hex digits", id, res.Header.Get("X-Request-Id"))
	}
	delete(p, "request_id")
	want := map[string]any{
		"type": "about:blank", "title": "Too Many Requests", "status": float64(429), "code": "rate_limited",
		"detail": "too many connections from your address (at most " + perIP + " at once, none of them idle); close one, or try again later",
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("problem (-want +got):\n%s", diff)
	}
}

// waitAddrOpen waits, at most 30 seconds, until the address key has n
// connections counted (0: none, and no entry left for it).
func (s *capServer) waitAddrOpen(t *testing.T, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.conns.mu.Lock()
		got, entries := 0, len(s.conns.addrs)
		if ac := s.conns.addrs[netip.MustParsePrefix(key)]; ac != nil {
			got = ac.open
		}
		s.conns.mu.Unlock()
		if got == n && (n > 0 || entries == 0) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d connections counted (%d addresses), want %d", key, got, entries, n)
		}
		time.Sleep(5 * time.Millisecond) // polling observable state
	}
}

// refusedLine is the log line of a connection refused at the per-address
// cap; its submatch is the address.
var refusedLine = regexp.MustCompile(`level=WARN msg="connection refused: too many connections from one address" remote_addr=127\.0\.0\.\d+:\d+ address=(\S+) max_conns_per_ip=(\d+)\n`)

// TestConnsPerAddress: with a cap of 2 connections per address and none
// overall, two connections from 127.0.0.1 that send nothing leave a
// third from it a 429 (and one that sends nothing closed, within the
// turn-away's time), while 127.0.0.2 is served; the refusals are counted
// and logged, and take nothing from the address's count.
func TestConnsPerAddress(t *testing.T) {
	s := startCapsServer(t, connCaps{perIP: 2})
	dial(t, s.addr)
	dial(t, s.addr)
	s.waitCounts(t, 2, 0, 0)

	c := dial(t, s.addr)
	c.send(t, "/")
	res, body := c.answerFull(t)
	checkTurnedAway(t, res, body, "2")
	c.waitClosed(t)
	if m := refusedLine.FindAllStringSubmatch(s.logs.String(), -1); len(m) != 1 || m[0][1] != "127.0.0.1/32" || m[0][2] != "2" {
		t.Errorf("refusal lines %q, want one for 127.0.0.1/32, cap 2:\n%s", m, s.logs)
	}

	// One that sends nothing is closed by the turn-away's timeout, not
	// held as the server's own would be for its header timeout.
	silent := dial(t, s.addr)
	silent.waitClosed(t)

	other := dialFrom(t, s.addr, "127.0.0.2")
	if status, body := other.get(t, "/"); status != 200 || body != "ok" {
		t.Fatalf("from another address: %d %q", status, body)
	}
	s.waitCounts(t, 3, 1, 0)
	if got := s.conns.refusedCount(); got != 2 {
		t.Errorf("refused %d, want 2", got)
	}
	// A HEAD gets the headers only.
	h := dial(t, s.addr)
	if _, err := io.WriteString(h, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = h.SetReadDeadline(time.Now().Add(30 * time.Second))
	hres, err := http.ReadResponse(h.br, &http.Request{Method: http.MethodHead})
	if err != nil {
		t.Fatal(err)
	}
	hres.Body.Close()
	if hres.StatusCode != 429 || hres.Header.Get("Retry-After") != "1" {
		t.Errorf("HEAD: %d, Retry-After %q", hres.StatusCode, hres.Header.Get("Retry-After"))
	}
	h.waitClosed(t)
}

// TestConnsPerAddressIdleMakesRoom: at its cap, an address's idle
// keep-alive connection is closed to make room for its new one, the
// longest idle first; a request in progress is never closed for room, so
// with none idle the new one is refused.
func TestConnsPerAddressIdleMakesRoom(t *testing.T) {
	s := startCapsServer(t, connCaps{perIP: 2})
	a := dial(t, s.addr)
	a.get(t, "/")
	s.waitCounts(t, 1, 1, 0)
	b := dial(t, s.addr)
	b.get(t, "/")
	s.waitCounts(t, 2, 2, 0)

	c := dial(t, s.addr)
	c.send(t, "/block?id=c")
	s.waitEntered(t, "c")
	a.waitClosed(t) // the longest idle
	s.waitCounts(t, 2, 1, 1)
	s.waitAddrOpen(t, "127.0.0.1/32", 2)
	d := dial(t, s.addr)
	d.send(t, "/block?id=d")
	s.waitEntered(t, "d")
	b.waitClosed(t)
	s.waitCounts(t, 2, 0, 2)

	e := dial(t, s.addr) // c and d in progress: no room
	e.send(t, "/")
	res, body := e.answerFull(t)
	checkTurnedAway(t, res, body, "2")
	close(s.gate("c"))
	close(s.gate("d"))
	for _, x := range []*clientConn{c, d} {
		if status, body := x.answer(t); status != 200 || !strings.HasPrefix(body, "done ") {
			t.Errorf("request in progress at the cap: %d %q", status, body)
		}
	}
	if got := s.conns.refusedCount(); got != 1 {
		t.Errorf("refused %d, want 1", got)
	}
	s.waitAddrOpen(t, "127.0.0.1/32", 2)
	c.Close()
	d.Close()
	s.waitAddrOpen(t, "127.0.0.1/32", 0)
	s.waitCounts(t, 0, 0, 2)
}

// TestConnsPerAddressExempt: the trusted proxies' connections are not
// capped per address; the other addresses still are.
func TestConnsPerAddressExempt(t *testing.T) {
	s := startCapsServer(t, connCaps{perIP: 1, exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	for range 3 {
		dial(t, s.addr)
	}
	if status, body := dial(t, s.addr).get(t, "/"); status != 200 || body != "ok" {
		t.Fatalf("the fourth from the proxy: %d %q", status, body)
	}
	dialFrom(t, s.addr, "127.0.0.2")
	s.waitCounts(t, 5, 1, 0)
	c := dialFrom(t, s.addr, "127.0.0.2")
	c.send(t, "/")
	res, body := c.answerFull(t)
	checkTurnedAway(t, res, body, "1")
	if m := refusedLine.FindAllStringSubmatch(s.logs.String(), -1); len(m) != 1 || m[0][1] != "127.0.0.2/32" {
		t.Errorf("refusal lines %q, want one for 127.0.0.2/32:\n%s", m, s.logs)
	}
}

// TestConnsPerAddressServe runs the cap through serve with
// --max-conns-per-ip 1: the second connection from 127.0.0.1 is answered
// 429 while the first one is still sending its request, and /metrics
// counts it.
func TestConnsPerAddressServe(t *testing.T) {
	s := startServer(t, "--max-conns-per-ip", "1", "--database", memoryDatabase, "--bucket", "mem://")
	s.logs.waitFor(t, regexp.MustCompile(`msg=listening [^\n]* max_conns_per_ip=1 `))
	a := dial(t, s.addr)
	if _, err := io.WriteString(a, "GET /healthz HTTP/1.1\r\n"); err != nil { // the header not ended
		t.Fatal(err)
	}
	b := dial(t, s.addr)
	b.send(t, "/healthz")
	res, body := b.answerFull(t)
	checkTurnedAway(t, res, body, "1")
	s.logs.waitFor(t, refusedLine)

	if _, err := io.WriteString(a, "Host: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if status, body := a.answer(t); status != 200 {
		t.Fatalf("the first connection: %d %q", status, body)
	}
	m := dialFrom(t, s.addr, "127.0.0.2")
	status, metrics := m.get(t, "/metrics")
	if status != 200 || !strings.Contains(metrics, "\nfilestore_http_connections_refused_total 1\n") {
		t.Errorf("/metrics: %d, want filestore_http_connections_refused_total 1 in:\n%s", status, metrics)
	}
}

// fakeAddrConn is a net.Conn with only a remote address.
type fakeAddrConn struct {
	net.Conn
	remote net.Addr
}

func (c fakeAddrConn) RemoteAddr() net.Addr { return c.remote }

// TestAddrKey: IPv4 addresses are capped one by one, IPv6 ones by /64,
// IPv4-mapped IPv6 as IPv4; exempt addresses and other networks are not
// capped.
func TestAddrKey(t *testing.T) {
	l := newConnLimit(connCaps{perIP: 1, exempt: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}}, discardLogger())
	tests := []struct {
		remote net.Addr
		want   string // "" for not capped
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}, "192.0.2.7/32"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}, "192.0.2.7/32"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa::1"), Port: 1}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:bbbb::9"), Port: 1, Zone: "eth0"}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 1}, "::/64"},
		{&net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 1}, ""},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:10.1.2.3"), Port: 1}, ""},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:ffff:1::1"), Port: 1}, ""},
		{&net.UnixAddr{Name: "/run/x.sock", Net: "unix"}, ""},
	}
	for _, tt := range tests {
		key, ok := l.addrKey(fakeAddrConn{remote: tt.remote})
		got := ""
		if ok {
			got = key.String()
		}
		if got != tt.want {
			t.Errorf("%s: key %q, want %q", tt.remote, got, tt.want)
		}
	}
}

// refusalLines matches every log line of a refused connection; its
// submatch is the count of refusals logged without a line before it.
var refusalLines = regexp.MustCompile(`msg="connection refused: too many connections from one address" [^\n]*?max_conns_per_ip=1(?: unlogged_refusals=(\d+))?\n`)

// TestConnsPerAddressLogBounded: refusals are logged in a burst of
// refusalLineBurst lines, then one line per refusalLineEvery at most,
// which says how many refusals went without one; the metric counts them
// all. The clock moves only when the test moves it.
func TestConnsPerAddressLogBounded(t *testing.T) {
	s := startCapsServer(t, connCaps{perIP: 1})
	var elapsed atomic.Int64
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.conns.mu.Lock()
	s.conns.now = func() time.Time { return start.Add(time.Duration(elapsed.Load())) }
	s.conns.mu.Unlock()

	dial(t, s.addr) // holds the address's one connection, sending nothing
	s.waitCounts(t, 1, 0, 0)
	refuse := func(n int) {
		t.Helper()
		for range n {
			c := dial(t, s.addr)
			c.send(t, "/")
			res, body := c.answerFull(t) // the line, if any, is written before the answer
			checkTurnedAway(t, res, body, "1")
		}
	}
	lines := func() [][]string { return refusalLines.FindAllStringSubmatch(s.logs.String(), -1) }

	refuse(refusalLineBurst + 5)
	if got := lines(); len(got) != refusalLineBurst {
		t.Fatalf("%d refusal lines after %d refusals at one instant, want %d:\n%s", len(got), refusalLineBurst+5, refusalLineBurst, s.logs)
	}
	elapsed.Add(int64(refusalLineEvery))
	refuse(2) // one line, saying 5 went without one; then none
	got := lines()
	if len(got) != refusalLineBurst+1 || got[len(got)-1][1] != "5" {
		t.Errorf("after a %s: %d lines, the last saying %q refusals unlogged; want %d, %q:\n%s",
			refusalLineEvery, len(got), got[len(got)-1][1], refusalLineBurst+1, "5", s.logs)
	}
	if n := s.conns.refusedCount(); n != refusalLineBurst+7 {
		t.Errorf("refused %d, want %d", n, refusalLineBurst+7)
	}
}
