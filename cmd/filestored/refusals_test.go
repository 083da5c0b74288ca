package main

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestProtocolRefusalsLogged: what net/http refuses before any handler
// runs gets its answer as before, and now a log line naming the status
// and the client's address, and a count in
// filestore_http_protocol_refusals_total; good requests on the same
// connections get neither. Before, these refusals left no trace at all.
func TestProtocolRefusalsLogged(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name     string
		before   bool   // send a good request first, on the same connection
		request  string // raw bytes
		wantLine string // the answer's status line, without "HTTP/1.1 "
	}{
		{name: "headers over the limit", request: "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("p", 100<<10) + "\r\n\r\n",
			wantLine: "431 Request Header Fields Too Large"},
		{name: "headers over the limit after a request", before: true, request: "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("p", 100<<10) + "\r\n\r\n",
			wantLine: "431 Request Header Fields Too Large"},
		{name: "malformed header line", request: "GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
			wantLine: "400 Bad Request"},
		{name: "no Host", before: true, request: "GET /healthz HTTP/1.1\r\n\r\n",
			wantLine: "400 Bad Request: missing required Host header"},
		{name: "unsupported protocol version", request: "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
			wantLine: "505 HTTP Version Not Supported: unsupported protocol version"},
		{name: "unsupported transfer encoding", request: "POST /v1/files HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
			wantLine: "501 Not Implemented"},
		{name: "unknown expectation", request: "GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: tea\r\n\r\n",
			wantLine: "417 Expectation Failed"},
	}
	wantCounts := map[string]float64{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			if tt.before {
				if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					t.Fatalf("the good request: %s", res.Status)
				}
			}
			if _, err := io.WriteString(conn, tt.request); err != nil {
				t.Fatal(err)
			}
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			if got := strings.TrimSuffix(line, "\r\n"); got != "HTTP/1.1 "+tt.wantLine {
				t.Fatalf("answer %q, want %q", got, "HTTP/1.1 "+tt.wantLine)
			}
			code := tt.wantLine[:3]
			wantCounts[code]++
			// The line is written before the answer.
			requestsBefore := "0"
			if tt.before {
				requestsBefore = "1"
			}
			want := regexp.MustCompile(`level=WARN msg="request refused by the HTTP server before routing" status=` + code +
				` answer="` + regexp.QuoteMeta(tt.wantLine) + `" remote_addr=` + regexp.QuoteMeta(conn.LocalAddr().String()) +
				` bytes_in=\d+ requests_before=` + requestsBefore + "\n")
			if !want.MatchString(s.logs.String()) {
				t.Errorf("no line matching %q in the log:\n%s", want, s.logs)
			}
		})
	}
	// Exactly one line per refusal: the good requests made none.
	if got, want := strings.Count(s.logs.String(), "request refused by the HTTP server"), len(tests); got != want {
		t.Errorf("%d refusal lines, want %d:\n%s", got, want, s.logs)
	}
	status, body := s.request(t, "GET", "/metrics", "", nil)
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d", status)
	}
	for code, want := range wantCounts {
		re := regexp.MustCompile(`(?m)^filestore_http_protocol_refusals_total\{code="` + code + `"\} (\S+)$`)
		m := re.FindStringSubmatch(string(body))
		if m == nil || m[1] != strconv.FormatFloat(want, 'g', -1, 64) {
			t.Errorf("metric for %s: %v, want %v", code, m, want)
		}
	}
}

// TestHeaderTimeoutLogged: a connection that ReadHeaderTimeout closes in
// the middle of a request's header is logged (a warning with what
// arrived) and counted; one that sent nothing is only a debug line, and
// one that served a request and then stayed idle is neither.
func TestHeaderTimeoutLogged(t *testing.T) {
	logs := newLogBuffer()
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const timeout = 200 * time.Millisecond
	refusals := newRefusalLog(logger, timeout)
	srv := newServer(http.NotFoundHandler(), logger, newConnLimit(connCaps{}, logger), refusals)
	srv.ReadHeaderTimeout = timeout
	srv.IdleTimeout = timeout
	// closed receives each connection's client address once the server's
	// hooks have seen it closed.
	closed := make(chan string, 8)
	hook := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		hook(c, s)
		if s == http.StateClosed {
			closed <- c.RemoteAddr().String()
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(refusals.listener(ln))
	defer srv.Close()

	tests := []struct {
		name  string
		send  string // then wait for the server to close the connection
		level string // of the line; "" for none
		msg   string
	}{
		{"partial header", "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: sss", "WARN", "connection closed: request header not received in full within the header timeout"},
		{"nothing", "", "DEBUG", "connection closed: no request within the header timeout"},
		{"idle after a request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tt.send); err != nil {
				t.Fatal(err)
			}
			// The server closes the connection, then runs its hooks.
			if _, err := io.Copy(io.Discard, conn); err != nil {
				t.Fatal(err)
			}
			addr := conn.LocalAddr().String()
			for a := range closed {
				if a == addr {
					break
				}
			}
			var lines []string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, " remote_addr="+addr+" ") {
					lines = append(lines, l)
				}
			}
			var want []string
			if tt.level != "" {
				want = []string{`level=` + tt.level + ` msg="` + tt.msg + `" remote_addr=` + addr + ` timeout=200ms`}
			}
			if len(lines) != len(want) || (len(want) == 1 && !strings.Contains(lines[0], want[0])) {
				t.Errorf("log lines for the connection:\n%s\nwant lines beginning with:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
			}
		})
	}
	// Only the partial header counts.
	reg, err := metricsRegistry(newConnLimit(connCaps{}, logger), refusals)
	if err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got float64 = -1
	for _, f := range families {
		if f.GetName() == "filestore_http_header_timeouts_total" {
			got = f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if got != 1 {
		t.Errorf("filestore_http_header_timeouts_total %v, want 1", got)
	}
}
