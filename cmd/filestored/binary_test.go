package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinary builds filestored with `go build`, starts it as a process with
// its embedded defaults in an empty working directory (only the address is
// set, to a free port), and talks to it like a newcomer would.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	work := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + work, "FILESTORE_ADDR=127.0.0.1:0"}

	logs := newLogBuffer()
	srv := exec.Command(bin)
	srv.Dir, srv.Env, srv.Stderr = work, env, logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		<-exited
	})
	addr := logs.waitFor(t, listening)[1]

	tokCmd := exec.Command(bin, "token", "--sub", "alice")
	tokCmd.Dir, tokCmd.Env = work, env
	out, err := tokCmd.Output()
	if err != nil {
		t.Fatalf("filestored token: %v", err)
	}
	tok := strings.TrimSpace(string(out))

	do := func(method, path string, body io.Reader) (int, []byte) {
		req, _ := http.NewRequest(method, "http://"+addr+path, body)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if status, body := do("POST", "/v1/files?name=hello.txt", strings.NewReader("hello")); status != 201 {
		t.Fatalf("upload: %d %s", status, body)
	}
	if status, body := do("GET", "/v1/files", nil); status != 200 || !bytes.Contains(body, []byte(`"name":"hello.txt"`)) {
		t.Errorf("list: %d %s", status, body)
	}
	for _, p := range []string{"data/jwt.secret", "data/filestore.db", "data/blobs"} {
		if _, err := os.Stat(filepath.Join(work, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, logs)
	}
	exited <- nil
	if !strings.Contains(logs.String(), "msg=stopped") {
		t.Errorf("no clean stop in the log:\n%s", logs)
	}
}

// TestSecondSignal: a second SIGTERM during the graceful shutdown ends the
// process at once, where the first waits for in-flight requests (here an
// upload that stalls) up to --shutdown-timeout (an hour). Before, the
// second signal was caught and ignored too.
func TestSecondSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	work := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + work}
	srv, addr, logs := startProcess(t, bin, work, env, "--addr", "127.0.0.1:0", "--shutdown-timeout", "1h")
	tokCmd := exec.Command(bin, "token", "--sub", "alice")
	tokCmd.Dir, tokCmd.Env = work, env
	out, err := tokCmd.Output()
	if err != nil {
		t.Fatalf("filestored token: %v", err)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// An upload whose handler has started (it asked for the body with
	// 100 Continue) and whose body never comes.
	fmt.Fprintf(conn, "POST /v1/files?name=a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n", strings.TrimSpace(string(out)))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue, got %q, %v", line, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	logs.waitFor(t, regexp.MustCompile(`msg=draining`))
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || !exit.Sys().(syscall.WaitStatus).Signaled() || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
			t.Errorf("exit after the second SIGTERM: %v, want killed by SIGTERM", err)
		}
	case <-time.After(60 * time.Second): // a guard against a hang, not a measure
		t.Fatal("still running 60 s after the second SIGTERM")
	}
}
