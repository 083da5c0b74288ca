package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

// rotation holds two EC keys, A (kid "a") and B (kid "b"), and a token for
// each, valid for an hour from t0.
type rotation struct {
	a, b         *ecdsa.PrivateKey
	tokA, tokB   string
	jwksA, jwksB []byte
}

func newRotation(t *testing.T) rotation {
	t.Helper()
	var r rotation
	var err error
	if r.a, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if r.b, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	r.tokA = sign(t, jose.ES256, r.a, "a", claims("alice", nil))
	r.tokB = sign(t, jose.ES256, r.b, "b", claims("bob", nil))
	r.jwksA = jwksJSON(t, jwk(r.a.Public(), "a", ""))
	r.jwksB = jwksJSON(t, jwk(r.b.Public(), "b", ""))
	return r
}

const (
	noKeyA = `auth: invalid token: no configured key for algorithm ES256 and kid "a"`
	noKeyB = `auth: invalid token: no configured key for algorithm ES256 and kid "b"`
)

// TestReload rotates the key file on disk and drives the reload checks with
// the injected clock: a change is seen at the first Verify once the interval
// has passed, never before, and a broken or missing file keeps the keys.
func TestReload(t *testing.T) {
	r := newRotation(t)
	path := writeFile(t, t.TempDir(), "jwks.json", r.jwksA)
	clk := newClock(t0)
	rec := &recorder{}
	v := newVerifier(t, Config{KeyFile: path, Now: clk.Now, ReloadInterval: 10 * time.Second, Logger: slog.New(rec)})

	reloaded := func(keys string) logRecord {
		return logRecord{Level: slog.LevelInfo, Msg: "auth: key file reloaded", Attrs: map[string]string{"file": path, "keys": keys}}
	}
	failed := func(err string) logRecord {
		return logRecord{Level: slog.LevelWarn, Msg: "auth: key file reload failed, keeping the previous keys", Attrs: map[string]string{"file": path, "err": err}}
	}
	steps := []struct {
		name     string
		change   func()
		advance  time.Duration
		wantA    string
		wantB    string
		wantLogs []logRecord
	}{
		{name: "initial keys", wantB: noKeyB},
		{name: "replaced, check not due yet", change: func() { replaceFile(t, path, r.jwksB) }, advance: 9 * time.Second, wantB: noKeyB},
		{name: "check due: new key in, old key out", advance: time.Second, wantA: noKeyA, wantLogs: []logRecord{reloaded("1")}},
		{name: "nothing changed", advance: 10 * time.Second, wantA: noKeyA},
		{name: "broken file keeps the old keys", change: func() { replaceFile(t, path, []byte(`{broken`)) }, advance: 10 * time.Second, wantA: noKeyA,
			wantLogs: []logRecord{failed("invalid JWK Set: invalid character 'b' looking for beginning of object key string")}},
		{name: "same broken file warns once", advance: 10 * time.Second, wantA: noKeyA},
		{name: "removed file keeps the old keys", change: func() { os.Remove(path) }, advance: 10 * time.Second, wantA: noKeyA,
			wantLogs: []logRecord{failed("stat " + path + ": no such file or directory")}},
		{name: "still removed, warned once", advance: 10 * time.Second, wantA: noKeyA},
		{name: "recreated with both keys", change: func() { writeInPlace(t, path, jwksJSON(t, jwk(r.a.Public(), "a", ""), jwk(r.b.Public(), "b", ""))) },
			advance: 10 * time.Second, wantLogs: []logRecord{reloaded("2")}},
		{name: "rewritten in place (same inode, new size)", change: func() { writeInPlace(t, path, r.jwksB) }, advance: 10 * time.Second,
			wantA: noKeyA, wantLogs: []logRecord{reloaded("1")}},
		{name: "PEM replaces the JWK Set", change: func() { replaceFile(t, path, pemPublic(t, r.a.Public())) }, advance: 10 * time.Second,
			wantB: "auth: invalid token: bad signature", wantLogs: []logRecord{reloaded("1")}},
	}
	for _, s := range steps {
		if s.change != nil {
			s.change()
		}
		clk.Advance(s.advance)
		_, errA := v.Verify(context.Background(), r.tokA)
		_, errB := v.Verify(context.Background(), r.tokB)
		if diff := cmp.Diff(s.wantA, errString(errA)); diff != "" {
			t.Errorf("%s: token A (-want +got):\n%s", s.name, diff)
		}
		if diff := cmp.Diff(s.wantB, errString(errB)); diff != "" {
			t.Errorf("%s: token B (-want +got):\n%s", s.name, diff)
		}
		if diff := cmp.Diff(s.wantLogs, rec.take()); diff != "" {
			t.Errorf("%s: logs (-want +got):\n%s", s.name, diff)
		}
	}
}

// writeInPlace truncates and rewrites path (keeping its inode if it exists).
func writeInPlace(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReloadInterval checks when a replaced key file is picked up, for
// several intervals, and that Close stops reloading.
func TestReloadInterval(t *testing.T) {
	r := newRotation(t)
	tests := []struct {
		name     string
		interval time.Duration
		close    bool
		advance  time.Duration
		wantB    string
	}{
		{name: "default 10s, before", interval: 0, advance: 10*time.Second - time.Nanosecond, wantB: noKeyB},
		{name: "default 10s, at", interval: 0, advance: 10 * time.Second},
		{name: "1s, at", interval: time.Second, advance: time.Second},
		{name: "negative never reloads", interval: -1, advance: 1000 * time.Hour, wantB: noKeyB},
		{name: "closed never reloads", interval: time.Second, close: true, advance: time.Hour, wantB: noKeyB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "jwks.json", r.jwksA)
			// A token valid whatever the clock advance.
			tokB := sign(t, jose.ES256, r.b, "b", claims("bob", map[string]any{"exp": t0.Add(2000 * time.Hour).Unix()}))
			clk := newClock(t0)
			v := newVerifier(t, Config{KeyFile: path, Now: clk.Now, ReloadInterval: tt.interval})
			if tt.close {
				if err := v.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}
			replaceFile(t, path, r.jwksB)
			clk.Advance(tt.advance)
			_, err := v.Verify(context.Background(), tokB)
			if diff := cmp.Diff(tt.wantB, errString(err)); diff != "" {
				t.Errorf("token B (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCloseTwice(t *testing.T) {
	v := newVerifier(t, Config{Secret: secretOf(32)})
	for i := range 2 {
		if err := v.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	// Verify keeps working after Close.
	if _, err := v.Verify(context.Background(), sign(t, jose.HS256, secretOf(32), "", claims("alice", nil))); err != nil {
		t.Fatalf("Verify after Close: %v", err)
	}
}

// TestReloadConcurrent verifies from several goroutines while the key file
// is rotated back and forth; run with -race. Each verification must either
// succeed or fail for the unknown kid, never anything else.
func TestReloadConcurrent(t *testing.T) {
	r := newRotation(t)
	path := writeFile(t, t.TempDir(), "jwks.json", r.jwksA)
	clk := newClock(t0)
	v := newVerifier(t, Config{KeyFile: path, Now: clk.Now, ReloadInterval: time.Second})

	unexpected := make(chan error, 1000)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			tok := r.tokA
			if g%2 == 1 {
				tok = r.tokB
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := v.Verify(context.Background(), tok)
				switch errString(err) {
				case "":
					if c.Owner != "alice" && c.Owner != "bob" {
						unexpected <- err
					}
				case noKeyA, noKeyB:
				default:
					unexpected <- err
				}
			}
		})
	}
	for i := range 40 {
		doc := r.jwksA
		if i%2 == 0 {
			doc = r.jwksB
		}
		replaceFile(t, path, doc)
		clk.Advance(time.Second)
		// Wait until a verification has seen the change: the first Verify
		// after the advance reloads, unless another goroutine is reloading
		// right then, so a few attempts suffice; a stale cached result would
		// never let it through.
		seen := false
		for range 10000 {
			_, errB := v.Verify(context.Background(), r.tokB)
			if seen = (errB == nil) == (i%2 == 0); seen {
				break
			}
		}
		if !seen {
			t.Errorf("rotation %d: token B's result did not change", i)
			break
		}
	}
	close(stop)
	wg.Wait()
	close(unexpected)
	for err := range unexpected {
		t.Errorf("unexpected Verify result: %v", err)
	}
}
