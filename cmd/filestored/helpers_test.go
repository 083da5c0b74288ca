package main

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

// logBuffer is a goroutine-safe io.Writer that can wait for a line.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced at every write
}

func newLogBuffer() *logBuffer { return &logBuffer{changed: make(chan struct{})} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	close(b.changed)
	b.changed = make(chan struct{})
	return n, err
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until re matches the text written so far and returns the
// match's submatches.
func (b *logBuffer) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		b.mu.Lock()
		m := re.FindStringSubmatch(b.buf.String())
		changed := b.changed
		b.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("no %q in:\n%s", re, b.String())
		}
	}
}

var listening = regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:\d+)`)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// buildBinary builds filestored into a temporary directory, as README's
// "Deploying" says (CGO_ENABLED=0, -trimpath), and returns its path.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "filestored")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startProcess starts bin with args and env (nil: this process's) in dir,
// waits until it listens, and returns the process, its address and its log.
// The process is killed when t ends, its log shown if t failed.
func startProcess(t *testing.T, bin, dir string, env []string, args ...string) (*exec.Cmd, string, *logBuffer) {
	t.Helper()
	logs := newLogBuffer()
	srv := exec.Command(bin, args...)
	srv.Dir, srv.Env, srv.Stderr = dir, env, logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		_ = srv.Wait() // an error when the test waited already
		if t.Failed() {
			t.Logf("%s %v log:\n%s", bin, args, logs)
		}
	})
	return srv, logs.waitFor(t, listening)[1], logs
}
