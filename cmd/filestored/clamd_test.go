package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"sync"
	"testing"
)

// hungClamd listens on 127.0.0.1 and accepts connections, but reads and
// answers nothing: a clamd that hangs (the fault; a real clamd cannot be
// made to show it on a given request).
func hungClamd(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "tcp://" + ln.Addr().String()
}

// TestClamdFlags: the scanner that filestored runs gets config.scanOptions
// (whose mapping of every --clamd-* flag TestLoadConfig checks), shown by
// the one of them a request can observe at once: against a clamd that
// answers nothing, an upload fails with 503 scanner_unavailable, and the
// error logged names the --clamd-probe-timeout given (the first wait
// bounded by it is the VERSION that a scan asks for first), not the
// default 5s.
func TestClamdFlags(t *testing.T) {
	s := startServer(t, "--clamd", hungClamd(t), "--clamd-probe-timeout", "150ms", "--clamd-probe-after", "100ms",
		"--clamd-read-timeout", "1h", "--clamd-scan-timeout", "2h")
	status, body := s.request(t, "POST", "/v1/files?name=a.txt", s.token(t, "--sub", "alice"), bytes.NewReader([]byte("hello")))
	var problem struct{ Code string }
	if err := json.Unmarshal(body, &problem); err != nil {
		t.Fatalf("%d %s: %v", status, body, err)
	}
	if status != http.StatusServiceUnavailable || problem.Code != "scanner_unavailable" {
		t.Fatalf("upload to a hung clamd: %d %s, want 503 scanner_unavailable", status, body)
	}
	line := s.logs.waitFor(t, regexp.MustCompile(`.*status=503.*`))[0]
	if want := "no answer within ProbeTimeout 150ms"; !bytes.Contains([]byte(line), []byte(want)) {
		t.Errorf("the 503's log line does not say %q:\n%s", want, line)
	}
}
