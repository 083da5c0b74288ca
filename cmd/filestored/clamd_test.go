package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"sync"
	"testing"

	"github.com/filestore-go/filestore/internal/testenv"
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
// error logged names the --clamd-probe-timeout given (it bounds the PING
// filestored sends at start, and the VERSION that a scan asks for first),
// not the default 5s.
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
	if want := "within ProbeTimeout 150ms"; !bytes.Contains([]byte(line), []byte(want)) {
		t.Errorf("the 503's log line does not say %q:\n%s", want, line)
	}
}

// TestClamdStartupCheck: filestored asks clamd once at start, and says in
// its log whether it answers (with its version) or not (with what uploads
// meet meanwhile, by policy), without waiting for an upload.
func TestClamdStartupCheck(t *testing.T) {
	closed := func(t *testing.T) string { // a port nothing listens on
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "tcp://" + addr
	}
	tests := []struct {
		name  string
		clamd func(t *testing.T) string // the subtest's t: a skip skips it alone
		args  []string
		want  string // a regular expression the log must match
	}{
		{"real clamd", func(t *testing.T) string { return testenv.ClamdAddr(t) }, nil,
			`level=INFO msg="clamd answers" clamd=tcp://\S+ version=\d+\.\d+\.\d+(/\d+)?\n`},
		{"hung clamd, fail-closed", hungClamd, []string{"--clamd-probe-timeout", "150ms"},
			`level=WARN msg="clamd does not answer" clamd=tcp://\S+ error=".*no answer to PING within ProbeTimeout 150ms.*" uploads="refused with 503 scanner_unavailable until it does"\n`},
		{"nothing listening, fail-open", closed, []string{"--scan-policy", "fail-open"},
			`level=WARN msg="clamd does not answer" clamd=tcp://\S+ error=".*connection refused.*" uploads="stored unscanned \(fail-open\) until it does"\n`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, append([]string{"--clamd", tt.clamd(t)}, tt.args...)...)
			s.logs.waitFor(t, regexp.MustCompile(`msg="clamd (answers|does not answer)`))
			if !regexp.MustCompile(tt.want).MatchString(s.logs.String()) {
				t.Errorf("log does not match %q:\n%s", tt.want, s.logs.String())
			}
		})
	}
}
