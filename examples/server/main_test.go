package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/filestore-go/filestore/auth"
)

func TestRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	keys := map[string]*auth.Caller{"k1": {Owner: "alice", Scopes: []string{auth.ScopeRead, auth.ScopeWrite}}}
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, t.TempDir(), keys, slog.New(slog.DiscardHandler)) }()
	base := "http://" + ln.Addr().String()

	do := func(method, path, key, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	tests := []struct {
		name, method, path, key, body string
		status                        int
		contains                      string
	}{
		{"own route", "GET", "/", "", "", 200, "filestore mounted"},
		{"upload", "POST", "/v1/files?name=a.txt", "k1", "hello", 201, `"name":"a.txt"`},
		{"list", "GET", "/v1/files", "k1", "", 200, `"name":"a.txt"`},
		{"no key", "GET", "/v1/files", "", "", 401, `"code":"unauthorized"`},
		{"bad key", "GET", "/v1/files", "nope", "", 401, `"code":"unauthorized"`},
		{"healthz", "GET", "/healthz", "", "", 200, `"ok"`},
		{"metrics not mounted", "GET", "/metrics", "", "", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := do(tt.method, tt.path, tt.key, tt.body)
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("%d %s, want %d containing %s", status, body, tt.status, tt.contains)
			}
		})
	}
	_, body := do("GET", "/v1/files", "k1", "")
	var l struct{ Files []struct{ Size int } }
	if err := json.Unmarshal([]byte(body), &l); err != nil || len(l.Files) != 1 || l.Files[0].Size != 5 {
		t.Errorf("list %s (%v)", body, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}
