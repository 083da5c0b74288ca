package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMintRoundTrip(t *testing.T) {
	secret := secretOf(32)
	v := newVerifier(t, Config{Secret: secret})
	tests := []struct {
		name   string
		scopes []string
		want   *Caller
	}{
		{name: "nil scopes: read and write", scopes: nil, want: &Caller{Owner: "alice", Scopes: []string{ScopeRead, ScopeWrite}}},
		{name: "admin only", scopes: []string{ScopeAdmin}, want: &Caller{Owner: "alice", Scopes: []string{ScopeAdmin}}},
		{name: "all", scopes: []string{ScopeAdmin, ScopeWrite, ScopeRead}, want: &Caller{Owner: "alice", Scopes: []string{ScopeRead, ScopeWrite, ScopeAdmin}}},
		{name: "empty: nothing", scopes: []string{}, want: &Caller{Owner: "alice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Mint(secret, "alice", tt.scopes, time.Hour, t0)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			got, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Verify (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMintClaims decodes a minted token and checks its exact header and
// claims, and that it expires after ttl plus the leeway.
func TestMintClaims(t *testing.T) {
	secret := secretOf(32)
	tok, err := Mint(secret, "alice", []string{ScopeRead, ScopeAdmin}, 15*time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	decode := func(s string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	wantHeader := map[string]any{"alg": "HS256", "typ": "JWT"}
	if diff := cmp.Diff(wantHeader, decode(parts[0])); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	wantClaims := map[string]any{
		"sub":   "alice",
		"iat":   float64(t0.Unix()),
		"exp":   float64(t0.Add(15 * time.Minute).Unix()),
		"scope": "files:read admin",
	}
	if diff := cmp.Diff(wantClaims, decode(parts[1])); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}

	tests := []struct {
		name    string
		at      time.Time
		wantErr string
	}{
		{name: "at expiry plus leeway", at: t0.Add(16 * time.Minute)},
		{name: "after expiry plus leeway", at: t0.Add(16*time.Minute + time.Second), wantErr: "auth: invalid token: token expired (exp)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, Config{Secret: secret, Now: func() time.Time { return tt.at }})
			_, err := v.Verify(context.Background(), tok)
			if diff := cmp.Diff(tt.wantErr, errString(err)); diff != "" {
				t.Errorf("Verify error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMintErrors(t *testing.T) {
	tests := []struct {
		name    string
		secret  []byte
		sub     string
		scopes  []string
		ttl     time.Duration
		wantErr string
	}{
		{name: "short secret", secret: secretOf(31), sub: "alice", ttl: time.Hour, wantErr: "auth: mint: secret has 31 bytes, at least 32 are required"},
		{name: "empty sub", secret: secretOf(32), sub: "", ttl: time.Hour, wantErr: "auth: mint: sub must have 1 to 255 bytes"},
		{name: "long sub", secret: secretOf(32), sub: strings.Repeat("a", 256), ttl: time.Hour, wantErr: "auth: mint: sub must have 1 to 255 bytes"},
		{name: "control in sub", secret: secretOf(32), sub: "a\nb", ttl: time.Hour, wantErr: "auth: mint: sub contains control characters"},
		{name: "U+FFFD in sub", secret: secretOf(32), sub: "a\ufffd", ttl: time.Hour, wantErr: "auth: mint: sub is not valid Unicode (or contains U+FFFD)"},
		{name: "invalid UTF-8 in sub", secret: secretOf(32), sub: "a\xff", ttl: time.Hour, wantErr: "auth: mint: sub is not valid Unicode (or contains U+FFFD)"},
		{name: "zero ttl", secret: secretOf(32), sub: "alice", ttl: 0, wantErr: "auth: mint: ttl must be positive"},
		{name: "empty scope", secret: secretOf(32), sub: "alice", scopes: []string{""}, ttl: time.Hour, wantErr: `auth: mint: invalid scope ""`},
		{name: "scope with space", secret: secretOf(32), sub: "alice", scopes: []string{"files:read files:write"}, ttl: time.Hour, wantErr: `auth: mint: invalid scope "files:read files:write"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Mint(tt.secret, tt.sub, tt.scopes, tt.ttl, t0)
			if diff := cmp.Diff(tt.wantErr, errString(err)); diff != "" {
				t.Errorf("Mint error (-want +got):\n%s", diff)
			}
			if tok != "" {
				t.Errorf("Mint returned a token with an error: %q", tok)
			}
		})
	}
}

// TestMintZeroNow checks that a zero now means the current time: the token
// verifies against the real clock.
func TestMintZeroNow(t *testing.T) {
	secret := secretOf(32)
	tok, err := Mint(secret, "alice", nil, time.Minute, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestMintWithIssuerAndAudience(t *testing.T) {
	secret := []byte(strings.Repeat("k", 64))
	tok, err := MintWith(secret, "alice", nil, time.Hour, time.Time{}, &MintOptions{Issuer: "https://issuer", Audience: "files"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		iss, aud string
		ok       bool
	}{
		{"https://issuer", "files", true},
		{"", "", true},
		{"https://issuer", "", true},
		{"https://other", "files", false},
		{"https://issuer", "other", false},
	}
	for _, tt := range tests {
		v, err := New(Config{Secret: secret, Issuer: tt.iss, Audience: tt.aud})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(context.Background(), tok)
		v.Close()
		if (err == nil) != tt.ok {
			t.Errorf("Verify with iss %q, aud %q: %v, want ok %v", tt.iss, tt.aud, err, tt.ok)
		}
	}
}
