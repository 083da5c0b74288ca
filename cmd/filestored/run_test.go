package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/filestore-go/filestore/auth"
)

// server is filestored running in-process.
type server struct {
	addr   string
	logs   *logBuffer
	cancel context.CancelFunc
	done   chan error
	dir    string
}

func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{logs: newLogBuffer(), cancel: cancel, done: make(chan error, 1), dir: dir}
	args := append([]string{"--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data")}, extra...)
	go func() { s.done <- run(ctx, args, envOf(nil), io.Discard, s.logs) }()
	s.addr = s.logs.waitFor(t, listening)[1]
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

func (s *server) token(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	args = append([]string{"token", "--data-dir", filepath.Join(s.dir, "data")}, args...)
	if err := run(context.Background(), args, envOf(nil), &out, io.Discard); err != nil {
		t.Fatalf("token: %v", err)
	}
	return strings.TrimSpace(out.String())
}

func (s *server) request(t *testing.T, method, path, tok string, body io.Reader) (int, []byte) {
	t.Helper()
	res, b := s.response(t, method, path, tok, body)
	return res.StatusCode, b
}

// response sends a request with the bearer token tok ("" for none) and
// returns the answer with its body read.
func (s *server) response(t *testing.T, method, path, tok string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.addr+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func TestRunServes(t *testing.T) {
	s := startServer(t, "--max-size", "1KiB", "--allowed-types", "text/*")
	tok := s.token(t, "--sub", "alice")
	if status, body := s.request(t, "POST", "/v1/files?name=a.txt", tok, strings.NewReader("hello")); status != 201 {
		t.Fatalf("upload: %d %s", status, body)
	}
	if status, _ := s.request(t, "POST", "/v1/files?name=b.txt", tok, strings.NewReader(strings.Repeat("x", 1025))); status != 413 {
		t.Errorf("over --max-size: %d, want 413", status)
	}
	if status, _ := s.request(t, "POST", "/v1/files?name=c.bin", tok, bytes.NewReader([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))); status != 415 {
		t.Errorf("outside --allowed-types: %d, want 415", status)
	}
	if status, _ := s.request(t, "GET", "/v1/files", "", nil); status != 401 {
		t.Errorf("without a token: %d, want 401", status)
	}
	if status, _ := s.request(t, "GET", "/v1/admin/stats", s.token(t, "--sub", "root", "--scope", "admin"), nil); status != 200 {
		t.Errorf("admin token: %d", status)
	}
	if status, _ := s.request(t, "GET", "/readyz", "", nil); status != 200 {
		t.Errorf("readyz: %d", status)
	}
	info, err := os.Stat(filepath.Join(s.dir, "data", "jwt.secret"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("jwt.secret: %v %v", info, err)
	}
}

// startUpload begins a POST to the server at addr of a body written
// through the returned pipe, and returns once the server's handler reads
// the body (it asked for it with 100 Continue). The answer arrives on the
// channel.
func startUpload(t *testing.T, addr, tok, name string) (*io.PipeWriter, <-chan result) {
	t.Helper()
	pr, pw := io.Pipe()
	reading := make(chan struct{})
	done := make(chan result, 1)
	trace := &httptrace.ClientTrace{Got100Continue: func() { close(reading) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
		"POST", "http://"+addr+"/v1/files?name="+name, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	go func() {
		res, err := client.Do(req)
		if err != nil {
			done <- result{0, []byte(err.Error())}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		done <- result{res.StatusCode, b}
	}()
	select {
	case <-reading:
	case r := <-done:
		t.Fatalf("upload ended before the body was asked for: %d %s", r.status, r.body)
	}
	return pw, done
}

type result struct {
	status int
	body   []byte
}

// TestGracefulShutdown: after the signal, an upload in flight finishes and
// new connections are refused; run then returns nil.
func TestGracefulShutdown(t *testing.T) {
	s := startServer(t)
	tok := s.token(t, "--sub", "alice")
	pw, done := startUpload(t, s.addr, tok, "slow.txt")
	if _, err := pw.Write([]byte("first half, ")); err != nil {
		t.Fatal(err)
	}
	s.cancel() // SIGTERM
	s.logs.waitFor(t, regexp.MustCompile(`msg=draining`))
	if c, err := net.Dial("tcp", s.addr); err == nil {
		c.Close()
		t.Error("a new connection was accepted after shutdown began")
	}
	if _, err := pw.Write([]byte("second half")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-done
	if r.status != 201 {
		t.Fatalf("in-flight upload: %d %s", r.status, r.body)
	}
	var f struct{ Size int64 }
	if err := json.Unmarshal(r.body, &f); err != nil || f.Size != int64(len("first half, second half")) {
		t.Errorf("stored %s", r.body)
	}
	if err := <-s.done; err != nil {
		t.Errorf("run: %v", err)
	}
	s.done <- nil // for the cleanup
}

// TestShutdownDeadline: an upload that does not finish within
// --shutdown-timeout is cut, and run says so.
func TestShutdownDeadline(t *testing.T) {
	s := startServer(t, "--shutdown-timeout", "200ms")
	tok := s.token(t, "--sub", "alice")
	pw, done := startUpload(t, s.addr, tok, "stuck.txt")
	defer pw.Close()
	if _, err := pw.Write([]byte("never finished")); err != nil {
		t.Fatal(err)
	}
	s.cancel()
	err := <-s.done
	if err == nil || !strings.Contains(err.Error(), "shutdown") {
		t.Errorf("run: %v, want a shutdown error", err)
	}
	s.done <- nil
	pw.CloseWithError(io.ErrClosedPipe) // the client gives up too
	if r := <-done; r.status == 201 {
		t.Errorf("the unfinished upload was stored: %s", r.body)
	}
	// The server cut it, not the client: logged (and counted) as 503,
	// not as the client's 400.
	s.logs.waitFor(t, regexp.MustCompile(`msg=request method=POST [^\n]* status=503 `))
}

func TestToken(t *testing.T) {
	dir := t.TempDir()
	mint := func(args []string, env map[string]string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"token"}, args...), envOf(env), &out, io.Discard)
		return strings.TrimSpace(out.String()), err
	}
	verify := func(t *testing.T, secret []byte, tok string) *auth.Caller {
		t.Helper()
		v, err := auth.New(auth.Config{Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		c, err := v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		return c
	}
	dataDir := filepath.Join(dir, "data")
	// Before the server has made its secret there is nothing to sign with
	// (a data directory misspelt would get a secret of its own).
	if _, err := mint([]string{"--sub", "alice", "--data-dir", dataDir}, nil); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "start the server once") {
		t.Errorf("token before the server made its secret: %v, want a usage error", err)
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("token made the data directory: %v", err)
	}
	secret, err := auth.LoadOrCreateSecret(dataDir) // as the server does
	if err != nil {
		t.Fatal(err)
	}
	tok, err := mint([]string{"--sub", "alice", "--data-dir", dataDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := verify(t, secret, tok); c.Owner != "alice" || strings.Join(c.Scopes, " ") != "files:read files:write" {
		t.Errorf("caller %+v", c)
	}
	tok, err = mint([]string{"--sub", "root", "--scope", "admin files:read", "--ttl", "5m"}, map[string]string{"FILESTORE_DATA_DIR": dataDir})
	if err != nil {
		t.Fatal(err)
	}
	if c := verify(t, secret, tok); c.Owner != "root" || !c.Has(auth.ScopeAdmin) || c.Has(auth.ScopeWrite) {
		t.Errorf("caller %+v", c)
	}
	const given = "a-secret-given-on-the-command-line-of-40-bytes"
	tok, err = mint([]string{"--sub", "bob"}, map[string]string{"FILESTORE_JWT_SECRET": given, "FILESTORE_DATA_DIR": filepath.Join(dir, "unused")})
	if err != nil {
		t.Fatal(err)
	}
	if c := verify(t, []byte(given), tok); c.Owner != "bob" {
		t.Errorf("caller %+v", c)
	}
	if _, err := os.Stat(filepath.Join(dir, "unused")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a secret was generated although --jwt-secret was given: %v", err)
	}

	// With iss and aud checked, the token carries them.
	tok, err = mint([]string{"--sub", "carol", "--jwt-issuer", "https://issuer", "--jwt-audience", "files"}, map[string]string{"FILESTORE_DATA_DIR": dataDir})
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []struct {
		iss, aud string
		ok       bool
	}{{"https://issuer", "files", true}, {"https://other", "files", false}, {"https://issuer", "other", false}} {
		v, err := auth.New(auth.Config{Secret: secret, Issuer: cfg.iss, Audience: cfg.aud})
		if err != nil {
			t.Fatal(err)
		}
		c, err := v.Verify(context.Background(), tok)
		v.Close()
		if ok := err == nil && c.Owner == "carol"; ok != cfg.ok {
			t.Errorf("token for iss https://issuer, aud files verified with iss %s, aud %s: %v, %v; want ok %v", cfg.iss, cfg.aud, c, err, cfg.ok)
		}
	}

	for _, bad := range [][]string{
		{"--data-dir", dataDir},
		{"--sub", "a", "--scope", "files:delete", "--data-dir", dataDir},
		{"--sub", "a", "--jwt-keys", "keys.pem", "--data-dir", dataDir},
		{"--sub", "a", "--ttl", "-1h", "--data-dir", dataDir},
		{"--sub", "a", "--scope", "", "--data-dir", dataDir},
		{"--sub", "a", "--scope", " \t", "--data-dir", dataDir},
	} {
		if tok, err := mint(bad, nil); !errors.Is(err, errUsage) || tok != "" {
			t.Errorf("token %q: %q, %v; want no token and a usage error", bad, tok, err)
		}
	}
}

// TestHeaderTimeout: a client sending its headers byte by byte is cut off
// by ReadHeaderTimeout.
func TestHeaderTimeout(t *testing.T) {
	srv := newServer(http.NotFoundHandler(), discardLogger(), newConnLimit(connCaps{}, discardLogger()), newRefusalLog(discardLogger(), readHeaderTimeout))
	srv.ReadHeaderTimeout = 300 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, conn) // returns when the server closes
		close(closed)
	}()
	request := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("s", 200) + "\r\n\r\n"
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	sent := 0
	for sent < len(request) {
		select {
		case <-closed:
			if sent >= len(request) {
				t.Fatal("the server waited for the whole request")
			}
			return // cut off in the middle of the headers
		case <-tick.C:
			if _, err := conn.Write([]byte{request[sent]}); err != nil {
				return // cut off
			}
			sent++
		}
	}
	t.Fatalf("all %d header bytes sent at 20 ms each, and the connection still open", sent)
}

// TestPeriodicGC: with --gc-interval the server collects on its own: a
// file trashed longer ago than --trash-retention is purged and its bytes
// removed, with no call to POST /v1/admin/gc. Before, nothing ran GC but
// that call.
func TestPeriodicGC(t *testing.T) {
	s := startServer(t, "--gc-interval", "20ms", "--trash-retention", "1ms", "--inline-max", "0")
	tok := s.token(t, "--sub", "alice")
	status, body := s.request(t, "POST", "/v1/files?name=a.bin", tok, bytes.NewReader(bytes.Repeat([]byte("a"), 200_000)))
	if status != 201 {
		t.Fatalf("upload: %d %s", status, body)
	}
	var f struct{ ID string }
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}
	if status, body := s.request(t, "DELETE", "/v1/files/"+f.ID, tok, nil); status != 204 {
		t.Fatalf("delete: %d %s", status, body)
	}
	s.logs.waitFor(t, regexp.MustCompile(`msg=gc purged_files=1 removed_objects=1 `))
	if status, body := s.request(t, "GET", "/v1/files?trash=true", tok, nil); status != 200 || !bytes.Contains(body, []byte(`"files":[]`)) {
		t.Errorf("trash after GC: %d %s, want it empty", status, body)
	}
	_, stats := s.request(t, "GET", "/v1/admin/stats", s.token(t, "--sub", "root", "--scope", "admin"), nil)
	if !bytes.Contains(stats, []byte(`"stored_bytes":0`)) {
		t.Errorf("stats after GC: %s, want no stored bytes", stats)
	}
}

// TestTokenHelp: `filestored token --help` names the variables of the flags
// it shares with the server, and none for --sub, --scope and --ttl, which
// it does not read from the environment.
func TestTokenHelp(t *testing.T) {
	var help bytes.Buffer
	if err := run(context.Background(), []string{"token", "--help"}, envOf(nil), io.Discard, &help); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\n  --sub\n", "\n  --scope\n", "\n  --ttl\n", "\n  --data-dir, FILESTORE_DATA_DIR\n"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("token --help lacks %q:\n%s", want, help.String())
		}
	}
	if strings.Contains(help.String(), "FILESTORE_SUB") {
		t.Errorf("token --help names FILESTORE_SUB, which it does not read:\n%s", help.String())
	}
}

// TestVersion: `filestored version` (and --version) prints one line naming
// the Go version the binary was built with; arguments after it are refused.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, envOf(nil), &out, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if got := out.String(); !strings.HasPrefix(got, "filestored ") || !strings.HasSuffix(got, runtime.Version()+"\n") || strings.Count(got, "\n") != 1 {
			t.Errorf("%v printed %q, want one line ending with %s", args, got, runtime.Version())
		}
	}
	if err := run(context.Background(), []string{"version", "x"}, envOf(nil), io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("version x: %v, want a usage error", err)
	}
}

// TestSecretFileMode: the server warns at start when its generated secret's
// file can be read by others than its owner (who could mint any token),
// and says nothing when it is private.
func TestSecretFileMode(t *testing.T) {
	const warning = "the JWT secret file can be read by others than its owner"
	for _, tt := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o640, true}, {0o644, true}} {
		t.Run(tt.mode.String(), func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			if _, err := auth.LoadOrCreateSecret(data); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(data, auth.SecretFile), tt.mode); err != nil {
				t.Fatal(err)
			}
			logs := newLogBuffer()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--data-dir", data}, envOf(nil), io.Discard, logs)
			}()
			logs.waitFor(t, listening)
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("run: %v", err)
			}
			if got := strings.Contains(logs.String(), warning); got != tt.warn {
				t.Errorf("mode %v: warned %v, want %v; log:\n%s", tt.mode, got, tt.warn, logs.String())
			}
		})
	}
}

// TestShutdownLogOrder: a server stopped with nothing in flight logs
// "shutting down", "draining" and "stopped", once each and in that order.
// Before, "draining" was logged by a goroutine that nothing waited for: it
// came after "stopped", or not at all, in four of five stops (review of
// 2026-11-30).
func TestShutdownLogOrder(t *testing.T) {
	s := startServer(t)
	s.cancel()
	if err := <-s.done; err != nil {
		t.Fatalf("run: %v", err)
	}
	s.done <- nil // for the cleanup
	logs := s.logs.String()
	at := -1
	for _, msg := range []string{`msg="shutting down"`, `msg=draining`, `msg=stopped`} {
		if n := strings.Count(logs, msg); n != 1 {
			t.Fatalf("%s logged %d times, want once; log:\n%s", msg, n, logs)
		}
		i := strings.Index(logs, msg)
		if i < at {
			t.Errorf("%s logged before the line meant to precede it; log:\n%s", msg, logs)
		}
		at = i
	}
}
