package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBadConfigCreatesNothing: a configuration that cannot work is refused
// as a usage error (exit status 2) before anything is made on disk: no data
// directory, JWT secret or catalogue is left in a mistyped --data-dir, where
// `filestored token` would find the secret and sign with it.
func TestBadConfigCreatesNothing(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
	}{
		{"clamd scheme", []string{"--clamd", "http://x"}},
		{"clamd port", []string{"--clamd", "tcp://127.0.0.1:70000"}},
		{"allowed types", []string{"--allowed-types", "bogus"}},
		{"database scheme", []string{"--database", "mysql://x"}},
		{"bucket scheme", []string{"--bucket", "gs://nope"}},
		{"bucket parameter", []string{"--bucket", "s3://b?region=us-east-1&bogus=1"}},
		{"database parameter", []string{"--database", "postgres://x@127.0.0.1:1/x?pool_max_conns=0"}},
		{"sqlite pragma", []string{"--database", "sqlite://{data}/filestore.db?_pragma=synchronus(NORMAL)"}},
		{"port out of range", []string{"--addr", "127.0.0.1:99999"}},
		{"no port", []string{"--addr", "127.0.0.1"}},
		{"jwt keys missing", []string{"--jwt-keys", filepath.Join(t.TempDir(), "none.pem")}},
		{"jwt keys not keys", []string{"--jwt-keys", garbage}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			args := []string{"--data-dir", data, "--addr", "127.0.0.1:0"}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "{data}", data))
			}
			err := run(context.Background(), args, envOf(nil), io.Discard, io.Discard)
			if !errors.Is(err, errUsage) {
				t.Errorf("run: %v, want a usage error", err)
			}
			if _, serr := os.Stat(data); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("data directory after the refusal: %v, want none", serr)
			}
		})
	}
}

// TestPortTakenCreatesNothing: an --addr that is taken stops the start
// before the data directory is made.
func TestPortTakenCreatesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := filepath.Join(t.TempDir(), "data")
	err = run(context.Background(), []string{"--data-dir", data, "--addr", ln.Addr().String()}, envOf(nil), io.Discard, io.Discard)
	if err == nil {
		t.Fatal("run on a taken port: nil error")
	}
	if _, serr := os.Stat(data); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("data directory after %v: %v, want none", err, serr)
	}

	// The same flags with a free port serve, and make the data directory.
	s := startServer(t, "--data-dir", data)
	if _, err := os.Stat(filepath.Join(data, "jwt.secret")); err != nil {
		t.Errorf("serving server's secret: %v", err)
	}
	if status, body := s.request(t, "GET", "/readyz", "", nil); status != 200 {
		t.Errorf("/readyz: %d %s", status, body)
	}
}

// blackHole is a listener that accepts connections and never answers,
// like an S3 server that is frozen or behind a dropping firewall. It
// holds what it accepted until the test ends.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// TestBlackHoleBucket: an S3 endpoint that accepts connections and never
// answers does not hold the start (it held it for two 30 s tries, about
// 65 s, before the port opened): the server listens within a few seconds,
// /healthz answers, /readyz answers 503 naming the bucket, and an upload,
// which the bucket's unchecked marker forbids, is answered 503, not 201.
func TestBlackHoleBucket(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "filestore")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "filestore-secret")
	bucket := "s3://blackhole?endpoint=http://" + blackHole(t) + "&use_path_style=true&region=us-east-1"
	logs := newLogBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data"), "--bucket", bucket, "--inline-max", "0"}
	go func() { done <- run(ctx, args, envOf(nil), io.Discard, logs) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	// The S3 stall timeout is its default, 30 s; the start may take one
	// bounded check of the marker (5 s).
	deadline := time.Now().Add(15 * time.Second)
	var addr string
	for addr == "" {
		if m := listening.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run: %v\n%s", err, logs)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not listening after 15 s; log:\n%s", logs)
		}
	}
	s := &server{addr: addr, logs: logs, dir: filepath.Dir(args[3])}
	if status, body := s.request(t, "GET", "/healthz", "", nil); status != 200 {
		t.Errorf("/healthz: %d %s", status, body)
	}
	if status, body := s.request(t, "GET", "/readyz", "", nil); status != 503 {
		t.Errorf("/readyz: %d %s, want 503", status, body)
	}
	logs.waitFor(t, regexp.MustCompile(`route="GET /readyz".* status=503 .* error="filestore: bucket: `))
	tok := s.token(t, "--sub", "alice")
	if status, body := s.request(t, "POST", "/v1/files?name=a.bin", tok, strings.NewReader(strings.Repeat("a", 1000))); status != 503 {
		t.Errorf("upload into the unchecked bucket: %d %s, want 503", status, body)
	}
}
