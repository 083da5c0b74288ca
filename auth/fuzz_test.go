package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"

	jose "github.com/go-jose/go-jose/v4"
)

// FuzzVerify feeds arbitrary tokens to a Verifier configured with a secret
// and a JWK Set (RSA, EC, Ed25519). It must never panic, and every result
// must be a valid caller or one of the package's errors. Besides the seeds
// added here (signed with keys made at run time), testdata/fuzz/FuzzVerify
// holds tokens MACed with secretOf(64) and valid at t0: accepted ones, and
// hostile ones (headers of 2 KiB, deep nesting, a duplicate alg, kid
// traversal, a sub with NUL and bidi characters, the JSON serialization).
func FuzzVerify(f *testing.F) {
	keys := newTestKeys(f)
	ec2, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	secret := secretOf(64)
	path := writeFile(f, f.TempDir(), "jwks.json", jwksJSON(f,
		jwk(keys.rsa.Public(), "rsa", ""),
		jwk(keys.ec.Public(), "ec", "ES256"),
		jwk(ec2.Public(), "", ""),
		jwk(keys.ed.Public(), "ed", ""),
	))
	v, err := New(Config{Secret: secret, KeyFile: path, Now: func() time.Time { return t0 }, ReloadInterval: -1})
	if err != nil {
		f.Fatal(err)
	}
	defer v.Close()

	alice := claims("alice", map[string]any{"scope": "files:read admin"})
	for _, s := range []string{
		sign(f, jose.HS256, secret, "", alice),
		sign(f, jose.HS512, secret, "kid", alice),
		sign(f, jose.RS256, keys.rsa, "rsa", alice),
		sign(f, jose.PS256, keys.rsa, "rsa", claims("bob", map[string]any{"scp": []string{"files:write"}})),
		sign(f, jose.ES256, keys.ec, "ec", alice),
		sign(f, jose.ES256, ec2, "", alice),
		sign(f, jose.EdDSA, keys.ed, "ed", alice),
		sign(f, jose.HS256, secret, "", claims("alice", map[string]any{"exp": nil})),
		sign(f, jose.HS256, secret, "", claims(strings.Repeat("x", 300), nil)),
		craftHMAC(f, sha256.New, secret, map[string]any{"alg": "HS256", "crit": []string{"b64"}, "b64": false}, alice),
		b64(`{"alg":"none"}`) + "." + b64(mustJSON(f, alice)) + ".",
		b64(`{"alg":"HS256"}`) + ".e30.",
		b64(`{"alg":"RS256","kid":"rsa"}`) + "." + b64(`{"sub":"a","exp":1e400}`) + ".AAAA",
		"garbage", "a.b", "a.b.c", "..", "...", "a.b.c.d.e", "!!!.e30.c2ln", "e30.e30.e30",
		strings.Repeat("A", maxTokenLen+1),
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(context.Background(), token)
		switch {
		case err == nil:
			if c == nil || c.Owner == "" || len(c.Owner) > maxSubLen || strings.ContainsFunc(c.Owner, unicode.IsControl) {
				t.Fatalf("Verify(%q) accepted a bad caller %+v", token, c)
			}
			for _, s := range c.Scopes {
				if s != ScopeRead && s != ScopeWrite && s != ScopeAdmin {
					t.Fatalf("Verify(%q) granted unknown scope %q", token, s)
				}
			}
		case c != nil:
			t.Fatalf("Verify(%q) returned a caller with error %v", token, err)
		case !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrNoToken):
			t.Fatalf("Verify(%q) error %v wraps neither ErrInvalidToken nor ErrNoToken", token, err)
		}
		tok, err := BearerToken("Bearer " + token)
		if err == nil && tok != strings.TrimSpace(token) {
			t.Fatalf("BearerToken(%q) = %q", "Bearer "+token, tok)
		}
	})
}
