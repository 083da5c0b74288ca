//go:build unix

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"syscall"
	"testing"
)

// slowReader sends a GET of path with the request id id over a connection
// whose receive buffer is small, reads the answer's header and then nothing
// more, as a client reading a download very slowly does. It returns the
// connection, to close when the test is done with it.
func slowReader(t *testing.T, addr, path, tok, id string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 32<<10)
		}); err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nX-Request-Id: %s\r\n\r\n", path, addr, tok, id)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("slow reader %s: %d, want 200", id, res.StatusCode)
	}
	return conn
}

// TestDownloadsPerUser: with --downloads-per-user 2, while two of alice's
// GETs of a 16 MiB file are held by clients that stopped reading (each
// handler blocked writing, far more than the socket buffers hold), her third
// is answered 429 with Retry-After: 1 and counted under
// limiter="downloads"; bob's GET is served; once one slow client goes away
// (its request logged), alice's next GET is served in full. Before, no cap
// applied: 400 such readers of one owner held 800 more file descriptors and
// 800 more goroutines of filestored (13 -> 813, 12 -> 812), all 400 served.
func TestDownloadsPerUser(t *testing.T) {
	s := startServer(t, "--downloads-per-user", "2")
	alice, bob := s.token(t, "--sub", "alice"), s.token(t, "--sub", "bob")
	content := make([]byte, 16<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range content {
		content[i] = byte(r.Uint32())
	}
	ids := map[string]string{}
	for who, tok := range map[string]string{"alice": alice, "bob": bob} {
		status, body := s.request(t, "POST", "/v1/files?name=big.bin", tok, bytes.NewReader(content))
		if status != http.StatusCreated {
			t.Fatalf("upload for %s: %d %s", who, status, body)
		}
		var f struct{ ID string }
		if err := json.Unmarshal(body, &f); err != nil {
			t.Fatal(err)
		}
		ids[who] = f.ID
	}
	path := "/v1/files/" + ids["alice"] + "/content"
	first := slowReader(t, s.addr, path, alice, "slow-1")
	slowReader(t, s.addr, path, alice, "slow-2")

	res, body := s.response(t, "GET", path, alice, nil)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "1" {
		t.Errorf("alice's third GET: %d, Retry-After %q, want 429 and 1; %.200q", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	if res, body := s.response(t, "GET", "/v1/files/"+ids["bob"]+"/content", bob, nil); res.StatusCode != http.StatusOK || !bytes.Equal(body, content) {
		t.Errorf("bob's GET while alice holds two: %d, %d bytes", res.StatusCode, len(body))
	}
	if _, m := s.response(t, "GET", "/metrics", "", nil); !regexp.MustCompile(`(?m)^filestore_rate_limited_total\{limiter="downloads"\} 1$`).Match(m) {
		t.Errorf("metrics lack 1 download refused: %q", regexp.MustCompile(`(?m)^filestore_rate_limited.*$`).FindAll(m, -1))
	}

	first.Close()
	s.logs.waitFor(t, regexp.MustCompile(`msg=request [^\n]* request_id=slow-1 `))
	if res, body := s.response(t, "GET", path, alice, nil); res.StatusCode != http.StatusOK || !bytes.Equal(body, content) {
		t.Errorf("alice's GET after one slow reader went away: %d, %d bytes", res.StatusCode, len(body))
	}
}
