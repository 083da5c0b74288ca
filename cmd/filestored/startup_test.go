package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestBadConfigCreatesNothing: a configuration that cannot work is refused
// as a usage error (exit status 2) before anything is made on disk: no data
// directory, JWT secret or catalogue is left in a mistyped --data-dir, where
// `filestored token` would find the secret and sign with it.
func TestBadConfigCreatesNothing(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"clamd scheme", []string{"--clamd", "http://x"}},
		{"clamd port", []string{"--clamd", "tcp://127.0.0.1:70000"}},
		{"allowed types", []string{"--allowed-types", "bogus"}},
		{"database scheme", []string{"--database", "mysql://x"}},
		{"bucket scheme", []string{"--bucket", "gs://nope"}},
		{"port out of range", []string{"--addr", "127.0.0.1:99999"}},
		{"no port", []string{"--addr", "127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			args := append([]string{"--data-dir", data, "--addr", "127.0.0.1:0"}, tt.args...)
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
