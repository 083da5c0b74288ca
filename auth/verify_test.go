package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

func TestVerify(t *testing.T) {
	keys := newTestKeys(t)
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secret32, secret48, secret64 := secretOf(32), secretOf(48), secretOf(64)
	otherSecret := []byte(strings.Repeat("x", 64))
	rsaPEM := pemPublic(t, keys.rsa.Public())
	rsaPath := writeFile(t, dir, "rsa.pem", rsaPEM)

	vHS32 := newVerifier(t, Config{Secret: secret32})
	vHS48 := newVerifier(t, Config{Secret: secret48})
	vHS64 := newVerifier(t, Config{Secret: secret64})
	vRSA := newVerifier(t, Config{KeyFile: rsaPath})
	vEC := newVerifier(t, Config{KeyFile: writeFile(t, dir, "ec.pem", pemPublic(t, keys.ec.Public()))})
	vEd := newVerifier(t, Config{KeyFile: writeFile(t, dir, "ed.pem", pemPublic(t, keys.ed.Public()))})
	vBoth := newVerifier(t, Config{Secret: secret64, KeyFile: rsaPath})
	vJWKS := newVerifier(t, Config{KeyFile: writeFile(t, dir, "jwks.json", jwksJSON(t,
		jwk(keys.rsa.Public(), "rsa", ""),
		jwk(keys.rsa.Public(), "rsa-ps", "PS256"),
		jwk(keys.ec.Public(), "ec", ""),
		jwk(keys.ed.Public(), "ed", "EdDSA"),
	))})
	vJWKS1 := newVerifier(t, Config{KeyFile: writeFile(t, dir, "one.json", jwksJSON(t, jwk(keys.ec.Public(), "only", "")))})
	vIssAud := newVerifier(t, Config{Secret: secret64, Issuer: "https://issuer.example", Audience: "filestore"})

	alice := claims("alice", nil)
	rw := &Caller{Owner: "alice", Scopes: []string{ScopeRead, ScopeWrite}}
	scoped := func(s ...string) *Caller { return &Caller{Owner: "alice", Scopes: s} }
	hs256 := func(c map[string]any) string { return sign(t, jose.HS256, secret64, "", c) }
	at := func(d time.Duration) int64 { return t0.Add(d).Unix() }
	bad := func(reason string) string { return "auth: invalid token: " + reason }
	rawToken := func(header, payload, sig string) string { return b64(header) + "." + b64(payload) + "." + sig }
	validPayload := mustJSON(t, alice)
	expStr := strconv.FormatInt(at(time.Hour), 10)

	tests := []struct {
		name    string
		v       *Verifier
		token   string
		want    *Caller
		wantErr string
	}{
		// Every algorithm, with the key types that allow it.
		{name: "HS256", v: vHS64, token: sign(t, jose.HS256, secret64, "", alice), want: rw},
		{name: "HS384", v: vHS64, token: sign(t, jose.HS384, secret64, "", alice), want: rw},
		{name: "HS512", v: vHS64, token: sign(t, jose.HS512, secret64, "", alice), want: rw},
		{name: "HS256 with a 32-byte secret", v: vHS32, token: sign(t, jose.HS256, secret32, "", alice), want: rw},
		{name: "HS384 with a 48-byte secret", v: vHS48, token: sign(t, jose.HS384, secret48, "", alice), want: rw},
		{name: "RS256 PEM", v: vRSA, token: sign(t, jose.RS256, keys.rsa, "", alice), want: rw},
		{name: "PS256 PEM", v: vRSA, token: sign(t, jose.PS256, keys.rsa, "", alice), want: rw},
		{name: "ES256 PEM", v: vEC, token: sign(t, jose.ES256, keys.ec, "", alice), want: rw},
		{name: "EdDSA PEM", v: vEd, token: sign(t, jose.EdDSA, keys.ed, "", alice), want: rw},
		{name: "PEM key ignores kid", v: vRSA, token: sign(t, jose.RS256, keys.rsa, "whatever", alice), want: rw},
		{name: "RS256 JWKS", v: vJWKS, token: sign(t, jose.RS256, keys.rsa, "rsa", alice), want: rw},
		{name: "PS256 JWKS unpinned", v: vJWKS, token: sign(t, jose.PS256, keys.rsa, "rsa", alice), want: rw},
		{name: "PS256 JWKS pinned", v: vJWKS, token: sign(t, jose.PS256, keys.rsa, "rsa-ps", alice), want: rw},
		{name: "ES256 JWKS", v: vJWKS, token: sign(t, jose.ES256, keys.ec, "ec", alice), want: rw},
		{name: "EdDSA JWKS", v: vJWKS, token: sign(t, jose.EdDSA, keys.ed, "ed", alice), want: rw},
		{name: "secret and PEM: HS256", v: vBoth, token: sign(t, jose.HS256, secret64, "", alice), want: rw},
		{name: "secret and PEM: RS256", v: vBoth, token: sign(t, jose.RS256, keys.rsa, "", alice), want: rw},
		{name: "one-key JWKS, no kid", v: vJWKS1, token: sign(t, jose.ES256, keys.ec, "", alice), want: rw},
		{name: "one-key JWKS, its kid", v: vJWKS1, token: sign(t, jose.ES256, keys.ec, "only", alice), want: rw},

		// Algorithms that are not configured.
		{name: "alg none", v: vHS64, token: rawToken(`{"alg":"none","typ":"JWT"}`, validPayload, ""), wantErr: bad(`algorithm "none" is not accepted`)},
		{name: "alg none with a signature", v: vBoth, token: rawToken(`{"alg":"none"}`, validPayload, "c2ln"), wantErr: bad(`algorithm "none" is not accepted`)},
		{name: "alg NONE", v: vJWKS, token: rawToken(`{"alg":"NONE","kid":"rsa"}`, validPayload, ""), wantErr: bad(`algorithm "NONE" is not accepted`)},
		{name: "no alg", v: vHS64, token: rawToken(`{"typ":"JWT"}`, validPayload, ""), wantErr: bad(`algorithm "" is not accepted`)},
		{name: "HS384 with a 32-byte secret", v: vHS32, token: craftHMAC(t, sha512.New384, secret32, map[string]string{"alg": "HS384"}, alice), wantErr: bad(`algorithm "HS384" is not accepted`)},
		{name: "HS512 with a 32-byte secret", v: vHS32, token: craftHMAC(t, sha512.New, secret32, map[string]string{"alg": "HS512"}, alice), wantErr: bad(`algorithm "HS512" is not accepted`)},
		{name: "HS512 with a 48-byte secret", v: vHS48, token: craftHMAC(t, sha512.New, secret48, map[string]string{"alg": "HS512"}, alice), wantErr: bad(`algorithm "HS512" is not accepted`)},
		{name: "HMAC keyed with the RSA PEM, PEM only", v: vRSA, token: sign(t, jose.HS256, rsaPEM, "", alice), wantErr: bad(`algorithm "HS256" is not accepted`)},
		{name: "HMAC keyed with the RSA PEM, secret and PEM", v: vBoth, token: sign(t, jose.HS256, rsaPEM, "", alice), wantErr: bad("bad signature")},
		{name: "HMAC keyed with the RSA JWK", v: vJWKS, token: craftHMAC(t, sha256.New, jwksJSON(t, jwk(keys.rsa.Public(), "rsa", "")), map[string]string{"alg": "HS256", "kid": "rsa"}, alice), wantErr: bad(`algorithm "HS256" is not accepted`)},
		{name: "RS256 against an ES256-only config", v: vEC, token: sign(t, jose.RS256, keys.rsa, "", alice), wantErr: bad(`algorithm "RS256" is not accepted`)},
		{name: "ES384 never accepted", v: vJWKS, token: rawToken(`{"alg":"ES384","kid":"ec"}`, validPayload, "c2ln"), wantErr: bad(`algorithm "ES384" is not accepted`)},
		{name: "JWK alg pinning refuses RS256", v: vJWKS, token: sign(t, jose.RS256, keys.rsa, "rsa-ps", alice), wantErr: bad(`no configured key for algorithm RS256 and kid "rsa-ps"`)},
		{name: "EdDSA-pinned key refuses ES256 by kid", v: vJWKS, token: sign(t, jose.ES256, keys.ec, "ed", alice), wantErr: bad(`no configured key for algorithm ES256 and kid "ed"`)},

		// Keys and key IDs.
		{name: "HS256 wrong secret", v: vHS64, token: sign(t, jose.HS256, otherSecret, "", alice), wantErr: bad("bad signature")},
		{name: "RS256 wrong key", v: vRSA, token: sign(t, jose.RS256, otherRSA, "", alice), wantErr: bad("bad signature")},
		{name: "ES256 wrong key", v: vEC, token: sign(t, jose.ES256, otherEC, "", alice), wantErr: bad("bad signature")},
		{name: "JWKS right kid wrong key", v: vJWKS, token: sign(t, jose.RS256, otherRSA, "rsa", alice), wantErr: bad("bad signature")},
		{name: "JWKS unknown kid", v: vJWKS, token: sign(t, jose.RS256, keys.rsa, "nope", alice), wantErr: bad(`no configured key for algorithm RS256 and kid "nope"`)},
		{name: "JWKS missing kid", v: vJWKS, token: sign(t, jose.RS256, keys.rsa, "", alice), wantErr: bad(`no configured key for algorithm RS256 and kid ""`)},
		{name: "one-key JWKS, other kid", v: vJWKS1, token: sign(t, jose.ES256, keys.ec, "other", alice), wantErr: bad(`no configured key for algorithm ES256 and kid "other"`)},
		{name: "long kid is clipped in the message", v: vJWKS, token: sign(t, jose.RS256, keys.rsa, strings.Repeat("k", 100), alice), wantErr: bad(`no configured key for algorithm RS256 and kid "` + strings.Repeat("k", 40) + `..."`)},

		// Time claims, leeway 60 s.
		{name: "expired beyond leeway", v: vHS64, token: hs256(claims("alice", map[string]any{"exp": at(-61 * time.Second)})), wantErr: bad("token expired (exp)")},
		{name: "expired within leeway", v: vHS64, token: hs256(claims("alice", map[string]any{"exp": at(-59 * time.Second)})), want: rw},
		{name: "nbf beyond leeway", v: vHS64, token: hs256(claims("alice", map[string]any{"nbf": at(61 * time.Second)})), wantErr: bad("token not valid yet (nbf)")},
		{name: "nbf within leeway", v: vHS64, token: hs256(claims("alice", map[string]any{"nbf": at(59 * time.Second)})), want: rw},
		{name: "iat in the future beyond leeway", v: vHS64, token: hs256(claims("alice", map[string]any{"iat": at(61 * time.Second)})), wantErr: bad("token issued in the future (iat)")},
		{name: "iat in the future within leeway", v: vHS64, token: hs256(claims("alice", map[string]any{"iat": at(59 * time.Second)})), want: rw},
		{name: "no iat", v: vHS64, token: hs256(claims("alice", map[string]any{"iat": nil})), want: rw},
		{name: "missing exp", v: vHS64, token: hs256(claims("alice", map[string]any{"exp": nil})), wantErr: bad("exp claim missing")},
		{name: "exp not a number", v: vHS64, token: hs256(claims("alice", map[string]any{"exp": "tomorrow"})), wantErr: bad("malformed claims: go-jose/go-jose/jwt: expected number value to unmarshal NumericDate")},
		{name: "exp overflowing", v: vHS64, token: hs256(claims("alice", map[string]any{"exp": 1e300})), wantErr: bad("malformed claims: go-jose/go-jose/jwt: expected number value to unmarshal NumericDate")},

		// Issuer and audience.
		{name: "iss and aud", v: vIssAud, token: hs256(claims("alice", map[string]any{"iss": "https://issuer.example", "aud": "filestore"})), want: rw},
		{name: "aud array", v: vIssAud, token: hs256(claims("alice", map[string]any{"iss": "https://issuer.example", "aud": []string{"other", "filestore"}})), want: rw},
		{name: "wrong iss", v: vIssAud, token: hs256(claims("alice", map[string]any{"iss": "https://evil.example", "aud": "filestore"})), wantErr: bad("wrong issuer (iss)")},
		{name: "missing iss", v: vIssAud, token: hs256(claims("alice", map[string]any{"aud": "filestore"})), wantErr: bad("wrong issuer (iss)")},
		{name: "wrong aud", v: vIssAud, token: hs256(claims("alice", map[string]any{"iss": "https://issuer.example", "aud": "other"})), wantErr: bad("wrong audience (aud)")},
		{name: "missing aud", v: vIssAud, token: hs256(claims("alice", map[string]any{"iss": "https://issuer.example"})), wantErr: bad("wrong audience (aud)")},
		{name: "iss and aud not checked unless configured", v: vHS64, token: hs256(claims("alice", map[string]any{"iss": "x", "aud": "y"})), want: rw},

		// Subject.
		{name: "missing sub", v: vHS64, token: hs256(claims("alice", map[string]any{"sub": nil})), wantErr: bad("sub claim missing or empty")},
		{name: "empty sub", v: vHS64, token: hs256(claims("", nil)), wantErr: bad("sub claim missing or empty")},
		{name: "sub of 255 bytes", v: vHS64, token: hs256(claims(strings.Repeat("é", 127)+"x", nil)), want: &Caller{Owner: strings.Repeat("é", 127) + "x", Scopes: []string{ScopeRead, ScopeWrite}}},
		{name: "sub of 256 bytes", v: vHS64, token: hs256(claims(strings.Repeat("é", 128), nil)), wantErr: bad("sub claim is longer than 255 bytes")},
		// The JSON decoder reads each of these as "mallory\ufffd": taken,
		// they would be one owner.
		{name: "sub with a lone high surrogate", v: vHS64, token: hmacToken(sha256.New, secret64, `{"alg":"HS256"}`, `{"sub":"mallory\ud800","exp":`+expStr+`}`), wantErr: bad("sub claim is not valid Unicode (or contains U+FFFD)")},
		{name: "sub with a lone low surrogate", v: vHS64, token: hmacToken(sha256.New, secret64, `{"alg":"HS256"}`, `{"sub":"mallory\udc00","exp":`+expStr+`}`), wantErr: bad("sub claim is not valid Unicode (or contains U+FFFD)")},
		{name: "sub with invalid UTF-8", v: vHS64, token: hmacToken(sha256.New, secret64, `{"alg":"HS256"}`, "{\"sub\":\"mallory\xff\",\"exp\":"+expStr+"}"), wantErr: bad("sub claim is not valid Unicode (or contains U+FFFD)")},
		{name: "sub with U+FFFD", v: vHS64, token: hs256(claims("mallory\ufffd", nil)), wantErr: bad("sub claim is not valid Unicode (or contains U+FFFD)")},
		{name: "sub with NUL", v: vHS64, token: hs256(claims("ali\x00ce", nil)), wantErr: bad("sub claim contains control characters")},
		{name: "sub not a string", v: vHS64, token: hs256(claims("alice", map[string]any{"sub": 42})), wantErr: bad("malformed claims: json: cannot unmarshal number into Go value of type string")},

		// Scopes.
		{name: "no scope claim", v: vHS64, token: hs256(alice), want: rw},
		{name: "scope read", v: vHS64, token: hs256(claims("alice", map[string]any{"scope": "files:read"})), want: scoped(ScopeRead)},
		{name: "scope admin does not imply files", v: vHS64, token: hs256(claims("alice", map[string]any{"scope": "admin"})), want: scoped(ScopeAdmin)},
		{name: "scope all, any order, extra spaces", v: vHS64, token: hs256(claims("alice", map[string]any{"scope": "  admin files:write\tfiles:read admin "})), want: scoped(ScopeRead, ScopeWrite, ScopeAdmin)},
		{name: "scope split at non-ASCII space is one unknown scope", v: vHS64, token: hs256(claims("alice", map[string]any{"scope": "profile\u00a0admin files:read\u3000admin"})), want: scoped()},
		{name: "scp string split at non-ASCII space", v: vHS64, token: hs256(claims("alice", map[string]any{"scp": "profile\u2003admin"})), want: scoped()},
		{name: "scope empty grants nothing", v: vHS64, token: hs256(claims("alice", map[string]any{"scope": ""})), want: scoped()},
		{name: "unknown scopes ignored", v: vHS64, token: hs256(claims("alice", map[string]any{"scope": "openid files:readx profile"})), want: scoped()},
		{name: "scp array", v: vHS64, token: hs256(claims("alice", map[string]any{"scp": []string{"files:write"}})), want: scoped(ScopeWrite)},
		{name: "scp array with admin", v: vHS64, token: hs256(claims("alice", map[string]any{"scp": []string{"admin", "files:read"}})), want: scoped(ScopeRead, ScopeAdmin)},
		{name: "scp empty array", v: vHS64, token: hs256(claims("alice", map[string]any{"scp": []string{}})), want: scoped()},
		{name: "scp string", v: vHS64, token: hs256(claims("alice", map[string]any{"scp": "files:read admin"})), want: scoped(ScopeRead, ScopeAdmin)},
		{name: "scope wins over scp", v: vHS64, token: hs256(claims("alice", map[string]any{"scope": "files:read", "scp": []string{"admin"}})), want: scoped(ScopeRead)},
		{name: "scp of numbers", v: vHS64, token: hs256(claims("alice", map[string]any{"scp": []int{1}})), wantErr: bad("scp claim is not an array of strings")},
		{name: "scp a number", v: vHS64, token: hs256(claims("alice", map[string]any{"scp": 5})), wantErr: bad("scp claim is not an array of strings")},
		{name: "scope not a string", v: vHS64, token: hs256(claims("alice", map[string]any{"scope": []string{"admin"}})), wantErr: bad("malformed claims: json: cannot unmarshal array into Go value of type string")},

		// Malformed tokens.
		{name: "garbage", v: vHS64, token: "garbage", wantErr: bad("malformed token: want 3 dot-separated parts")},
		{name: "two parts", v: vHS64, token: "a.b", wantErr: bad("malformed token: want 3 dot-separated parts")},
		{name: "five parts (JWE)", v: vHS64, token: "a.b.c.d.e", wantErr: bad("malformed token: want 3 dot-separated parts")},
		{name: "header not base64url", v: vHS64, token: "!!!.e30.c2ln", wantErr: bad("malformed header: not base64url")},
		{name: "header padded", v: vHS64, token: b64(`{"alg":"HS256"}`) + "=.e30.c2ln", wantErr: bad("malformed header: not base64url")},
		{name: "header not JSON", v: vHS64, token: b64("alg") + ".e30.c2ln", wantErr: bad("malformed header: not a JSON object with string alg and kid")},
		{name: "header an array", v: vHS64, token: b64("[]") + ".e30.c2ln", wantErr: bad("malformed header: not a JSON object with string alg and kid")},
		{name: "alg a number", v: vHS64, token: b64(`{"alg":256}`) + ".e30.c2ln", wantErr: bad("malformed header: not a JSON object with string alg and kid")},
		{name: "payload not base64url", v: vHS64, token: b64(`{"alg":"HS256"}`) + ".!!!.c2ln", wantErr: bad("malformed token: illegal base64 data at input byte 0")},
		{name: "signature not base64url", v: vHS64, token: b64(`{"alg":"HS256"}`) + ".e30.!!!", wantErr: bad("malformed token: illegal base64 data at input byte 0")},
		{name: "empty signature", v: vHS64, token: b64(`{"alg":"HS256"}`) + "." + b64(validPayload) + ".", wantErr: bad("bad signature")},
		{name: "payload not JSON", v: vHS64, token: hmacToken(sha256.New, secret64, `{"alg":"HS256"}`, "hello"), wantErr: bad("malformed claims: invalid character 'h' looking for beginning of value")},
		{name: "payload an array", v: vHS64, token: hmacToken(sha256.New, secret64, `{"alg":"HS256"}`, "[1]"), wantErr: bad("malformed claims: json: cannot unmarshal array into Go value of type auth.tokenClaims")},
		{name: "token too long", v: vHS64, token: hs256(claims("alice", map[string]any{"pad": strings.Repeat("p", 8<<10)})), wantErr: bad("token is longer than 8192 bytes")},
		{name: "header too long", v: vHS64, token: b64(`{"alg":"HS256","x":"`+strings.Repeat("h", 2000)+`"}`) + ".e30.c2ln", wantErr: bad("header is longer than 2048 bytes")},
		{name: "unsupported crit header", v: vHS64, token: craftHMAC(t, sha256.New, secret64, map[string]any{"alg": "HS256", "crit": []string{"exp"}, "exp": 1}, alice), wantErr: bad("signature not verified: go-jose/go-jose: unsupported critical header")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.v.Verify(context.Background(), tt.token)
			if diff := cmp.Diff(tt.wantErr, errString(err)); diff != "" {
				t.Errorf("Verify error (-want +got):\n%s", diff)
			}
			if gotIs, wantIs := errors.Is(err, ErrInvalidToken), tt.wantErr != ""; gotIs != wantIs {
				t.Errorf("errors.Is(err, ErrInvalidToken) = %v, want %v", gotIs, wantIs)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Verify caller (-want +got):\n%s", diff)
			}
		})
	}
}
