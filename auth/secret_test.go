package auth

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

func TestGenerateSecret(t *testing.T) {
	a, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := hex.DecodeString(a)
	if err != nil {
		t.Fatalf("not hex: %v", err)
	}
	if len(a) != 128 || len(raw) != 64 {
		t.Errorf("secret has %d characters (%d bytes), want 128 (64)", len(a), len(raw))
	}
	if a == b {
		t.Errorf("two secrets are equal: %s", a)
	}
	// The 128 characters are the key: long enough for HS512.
	v := newVerifier(t, Config{Secret: []byte(a)})
	if _, err := v.Verify(context.Background(), sign(t, jose.HS512, []byte(a), "", claims("alice", nil))); err != nil {
		t.Errorf("HS512 with a generated secret: %v", err)
	}
}

func TestLoadOrCreateSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	first, err := LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "jwt.secret")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	again, err := LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatal(err)
	}

	type result struct {
		Len     int
		Hex     bool
		Mode    os.FileMode
		Content string
		Names   []string
		AgainEq bool
	}
	_, hexErr := hex.DecodeString(string(first))
	got := result{Len: len(first), Hex: hexErr == nil, Mode: fi.Mode().Perm(), Content: string(content), Names: names, AgainEq: string(again) == string(first)}
	want := result{Len: 128, Hex: true, Mode: 0o600, Content: string(first) + "\n", Names: []string{"jwt.secret"}, AgainEq: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLoadSecretFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
		wantErr string
	}{
		{name: "operator's secret with newline", content: "  0123456789abcdef0123456789abcdef\n", want: "0123456789abcdef0123456789abcdef"},
		{name: "too short", content: "short\n", wantErr: "auth: secret: PATH holds 5 bytes, at least 32 are required"},
		{name: "empty", content: "", wantErr: "auth: secret: PATH holds 0 bytes, at least 32 are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, "jwt.secret", []byte(tt.content))
			got, err := LoadOrCreateSecret(dir)
			wantErr := strings.ReplaceAll(tt.wantErr, "PATH", path)
			if diff := cmp.Diff(wantErr, errString(err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("secret (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadOrCreateSecretRace creates the secret from several goroutines at
// once: all must get the same secret, and no temporary file may remain.
func TestLoadOrCreateSecretRace(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	secrets := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := LoadOrCreateSecret(dir)
			secrets[i], errs[i] = string(s), err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if secrets[i] != secrets[0] {
			t.Errorf("goroutine %d got %q, goroutine 0 got %q", i, secrets[i], secrets[0])
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "jwt.secret" {
		t.Errorf("directory holds %v, want only jwt.secret", entries)
	}
	// The secret mints tokens that verify.
	v := newVerifier(t, Config{Secret: []byte(secrets[0])})
	tok, err := Mint([]byte(secrets[0]), "alice", nil, time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Errorf("Verify: %v", err)
	}
}
