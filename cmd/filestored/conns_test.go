package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// capServer is newServer with a connection cap, on a real listener, over a
// handler whose /block?id=X requests wait until the test releases X.
type capServer struct {
	addr    string
	conns   *connLimit
	logs    *logBuffer
	ln      net.Listener
	entered chan string // the id of each /block request, as its handler starts

	mu      sync.Mutex
	release map[string]chan struct{}
}

func startCapServer(t *testing.T, maxConns int) *capServer {
	t.Helper()
	return startCapsServer(t, connCaps{max: maxConns})
}

// startCapsServer is startCapServer with caps.
func startCapsServer(t *testing.T, caps connCaps) *capServer {
	t.Helper()
	s := &capServer{logs: newLogBuffer(), entered: make(chan string, 16), release: map[string]chan struct{}{}}
	logger := slog.New(slog.NewTextHandler(s.logs, nil))
	s.conns = newConnLimit(caps, logger)
	mux := http.NewServeMux()
	mux.HandleFunc("/block", func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		s.entered <- id
		<-s.gate(id)
		fmt.Fprint(w, "done "+id)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	// With the refusal log, as filestored serves: its connections are
	// wrappers, which the cap's tests must hold for too.
	refusals := newRefusalLog(logger, readHeaderTimeout)
	srv := newServer(mux, logger, s.conns, refusals)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln, s.addr = ln, ln.Addr().String()
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(refusals.listener(s.conns.listener(ln)))
	}()
	t.Cleanup(func() {
		s.mu.Lock()
		for _, c := range s.release {
			select {
			case <-c:
			default:
				close(c)
			}
		}
		s.mu.Unlock()
		_ = srv.Close()
		<-served
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs)
		}
	})
	return s
}

// gate is the channel that releases the /block request id.
func (s *capServer) gate(id string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.release[id]
	if !ok {
		c = make(chan struct{})
		s.release[id] = c
	}
	return c
}

// waitEntered waits until the handler of /block?id=id has started.
func (s *capServer) waitEntered(t *testing.T, id string) {
	t.Helper()
	select {
	case got := <-s.entered:
		if got != id {
			t.Fatalf("handler of %q started, want %q", got, id)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the handler of %q did not start within 30s", id)
	}
}

// waitCounts polls the connection counts until they are open, idle and
// closedIdle, for at most 30 seconds (a bound for a loaded machine, not a timing).
func (s *capServer) waitCounts(t *testing.T, open, idle int, closedIdle uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		o, i, c := s.conns.counts()
		if o == open && i == idle && c == closedIdle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections open %d, idle %d, closed for room %d; want %d, %d, %d", o, i, c, open, idle, closedIdle)
		}
		time.Sleep(5 * time.Millisecond) // polling observable state
	}
}

// clientConn is one keep-alive connection of a test client.
type clientConn struct {
	net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *clientConn {
	t.Helper()
	return dialFrom(t, addr, "127.0.0.1")
}

// dialFrom is dial from the local address from, another address of the
// loopback network (127.0.0.0/8) for a second client address.
func dialFrom(t *testing.T, addr, from string) *clientConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &clientConn{Conn: c, br: bufio.NewReader(c)}
}

// send writes a GET of path.
func (c *clientConn) send(t *testing.T, path string) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
}

// answer reads the answer to the request sent last and returns its status
// and body.
func (c *clientConn) answer(t *testing.T) (int, string) {
	t.Helper()
	res, body := c.answerFull(t)
	return res.StatusCode, body
}

// answerFull reads the answer to the request sent last and returns it
// with its body.
func (c *clientConn) answerFull(t *testing.T) (*http.Response, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("answer: %v", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("answer body: %v", err)
	}
	return res, string(b)
}

// get sends a GET of path and reads its answer.
func (c *clientConn) get(t *testing.T, path string) (int, string) {
	t.Helper()
	c.send(t, path)
	return c.answer(t)
}

// waitClosed waits, at most 30 seconds, until the server has closed c.
func (c *clientConn) waitClosed(t *testing.T) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := c.br.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read %d bytes, %v; want the connection closed by the server (EOF)", n, err)
	}
}

var capReached = regexp.MustCompile(`level=WARN msg="connection cap reached`)

// TestIdleClosedForRoom: with --max-conns 2, an idle keep-alive
// connection is closed when a second connection reaches the cap, so that
// a third client is served while the second one's request is still in
// progress, and that request is not cut.
func TestIdleClosedForRoom(t *testing.T) {
	s := startCapServer(t, 2)
	a := dial(t, s.addr)
	if status, body := a.get(t, "/"); status != 200 || body != "ok" {
		t.Fatalf("a: %d %q", status, body)
	}
	s.waitCounts(t, 1, 1, 0)

	b := dial(t, s.addr)
	b.send(t, "/block?id=b")
	s.waitEntered(t, "b")
	a.waitClosed(t) // the cap was reached: the idle one made room
	s.waitCounts(t, 1, 0, 1)

	c := dial(t, s.addr)
	if status, body := c.get(t, "/"); status != 200 || body != "ok" {
		t.Fatalf("c, while b is in progress: %d %q", status, body)
	}
	// c, idle at the cap, is closed in turn.
	c.waitClosed(t)
	s.waitCounts(t, 1, 0, 2)

	close(s.gate("b"))
	if status, body := b.answer(t); status != 200 || body != "done b" {
		t.Fatalf("b, in progress at the cap: %d %q", status, body)
	}
	// Below the cap again, b stays open for its next request.
	if status, body := b.get(t, "/"); status != 200 || body != "ok" {
		t.Fatalf("b's next request: %d %q", status, body)
	}
	if n := len(capReached.FindAllString(s.logs.String(), -1)); n != 1 {
		t.Errorf("%d warnings of the cap, want 1:\n%s", n, s.logs)
	}
}

// waitTracked waits, at most 30 seconds, until s tracks n connections: the
// others' ends have been seen.
func (s *capServer) waitTracked(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.conns.mu.Lock()
		got := len(s.conns.conns)
		s.conns.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections tracked, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond) // polling observable state
	}
}

// TestCapEpisodes: the cap is logged once while it keeps being reached,
// the episode ends at the first close a minute after the cap was last
// reached, and the next time the cap is reached is logged again.
func TestCapEpisodes(t *testing.T) {
	s := startCapServer(t, 2)
	var elapsed atomic.Int64 // the clock moves only when told to
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.conns.mu.Lock()
	s.conns.now = func() time.Time { return start.Add(time.Duration(elapsed.Load())) }
	s.conns.mu.Unlock()
	warnings := func() int { return len(capReached.FindAllString(s.logs.String(), -1)) }

	a := dial(t, s.addr)
	a.get(t, "/")
	s.waitCounts(t, 1, 1, 0)
	b := dial(t, s.addr)
	b.send(t, "/block?id=b") // reaches the cap: a is closed
	s.waitEntered(t, "b")
	a.waitClosed(t)
	elapsed.Add(int64(10 * time.Second))
	c := dial(t, s.addr)
	c.get(t, "/") // reaches the cap, and again once idle: c is closed
	c.waitClosed(t)
	s.waitTracked(t, 1)
	if n := warnings(); n != 1 {
		t.Fatalf("%d warnings of the cap reached three times in 10s, want 1:\n%s", n, s.logs)
	}

	elapsed.Add(int64(capCalm))
	close(s.gate("b"))
	b.answer(t)
	b.Close()
	s.logs.waitFor(t, regexp.MustCompile(`level=INFO msg="connection cap not reached for a minute" max_conns=2 open=0 idle_closed=2 at_cap_for=10s\n`))

	d := dial(t, s.addr)
	d.get(t, "/")
	s.waitCounts(t, 1, 1, 2)
	e := dial(t, s.addr)
	e.get(t, "/") // reaches the cap: d is closed
	d.waitClosed(t)
	if n := warnings(); n != 2 {
		t.Errorf("%d warnings, want 2: the cap reached again after the episode ended:\n%s", n, s.logs)
	}
}

// TestMaxConnsServe runs the cap through serve: with --max-conns 2, an
// idle keep-alive connection is closed when an upload's connection
// reaches the cap, the upload is not cut, and the cap is logged once.
func TestMaxConnsServe(t *testing.T) {
	s := startServer(t, "--max-conns", "2", "--database", memoryDatabase, "--bucket", "mem://")
	tok := s.token(t, "--sub", "alice")
	a := dial(t, s.addr)
	if status, _ := a.get(t, "/healthz"); status != 200 {
		t.Fatalf("a: %d", status)
	}
	pw, done := startUpload(t, s.addr, tok, "held.txt") // reaches the cap
	a.waitClosed(t)
	if _, err := pw.Write([]byte("sent while at the cap")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if r := <-done; r.status != 201 {
		t.Fatalf("upload in progress at the cap: %d %s", r.status, r.body)
	}
	if n := len(capReached.FindAllString(s.logs.String(), -1)); n != 1 {
		t.Errorf("%d warnings of the cap, want 1", n)
	}
	s.logs.waitFor(t, regexp.MustCompile(`msg=listening [^\n]* max_conns=2 `))
}

// TestConnectionMetrics: /metrics counts the open connections, the idle
// ones, and those closed for room. With --max-conns 3, the longest idle
// connection is closed when a third one reaches the cap.
func TestConnectionMetrics(t *testing.T) {
	s := startServer(t, "--max-conns", "3", "--database", memoryDatabase, "--bucket", "mem://")
	m := dial(t, s.addr) // scrapes /metrics, and is idle in between
	// waitMetrics scrapes until the connection metrics are want.
	waitMetrics := func(t *testing.T, want map[string]float64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			status, body := m.get(t, "/metrics")
			if status != 200 {
				t.Fatalf("/metrics: %d", status)
			}
			for _, name := range []string{"go_goroutines", "process_open_fds"} {
				if !strings.Contains(body, "\n"+name+" ") {
					t.Fatalf("no %s in /metrics", name)
				}
			}
			got := map[string]float64{}
			for _, line := range strings.Split(body, "\n") {
				name, value, ok := strings.Cut(line, " ")
				if ok && strings.HasPrefix(name, "filestore_http_") && strings.Contains(name, "connections") {
					v, err := strconv.ParseFloat(value, 64)
					if err != nil {
						t.Fatalf("%q: %v", line, err)
					}
					got[name] = v
				}
			}
			if diff := cmp.Diff(want, got); diff == "" {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("connection metrics (-want +got):\n%s", diff)
			}
		}
	}
	metrics := func(open, idle, closed float64) map[string]float64 {
		return map[string]float64{
			"filestore_http_connections_open":              open,
			"filestore_http_connections_idle":              idle,
			"filestore_http_idle_connections_closed_total": closed,
			"filestore_http_connections_refused_total":     0,
		}
	}
	waitMetrics(t, metrics(1, 0, 0)) // the scrape's own
	a := dial(t, s.addr)
	if status, _ := a.get(t, "/healthz"); status != 200 {
		t.Fatalf("a: %d", status)
	}
	waitMetrics(t, metrics(2, 1, 0)) // a idle, and longer than m

	c := dial(t, s.addr) // the third: a is closed for it, not m
	if status, _ := c.get(t, "/healthz"); status != 200 {
		t.Fatalf("c: %d", status)
	}
	a.waitClosed(t)
	waitMetrics(t, metrics(2, 1, 1)) // m scraping, c idle
}
