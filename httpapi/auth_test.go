package httpapi_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/filestore-go/filestore/auth"
	"github.com/filestore-go/filestore/httpapi"
)

// signJWT signs claims with alg and key.
func signJWT(t *testing.T, alg jose.SignatureAlgorithm, key any, claims map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsignedJWT is a token with "alg": "none".
func unsignedJWT(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + "."
}

func TestTokens(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	keyFile := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(keyFile, pubPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	const iss, aud = "https://issuer.example", "filestore"
	e := newEnv(t, envOptions{auth: func(c *auth.Config) {
		c.KeyFile = keyFile
		c.Issuer = iss
		c.Audience = aud
	}})
	now := time.Now()
	claims := func(change func(c map[string]any)) map[string]any {
		c := map[string]any{"sub": "alice", "iss": iss, "aud": aud, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if change != nil {
			change(c)
		}
		return c
	}
	hs := func(change func(c map[string]any)) string { return signJWT(t, jose.HS256, e.secret, claims(change)) }
	otherSecret, _ := auth.GenerateSecret()

	const (
		challenge = "Bearer"
		invalid   = `Bearer error="invalid_token"`
	)
	tests := []struct {
		name          string
		authorization string // the whole header; "" sends none
		second        string // a second Authorization line, if not ""
		method        string // default GET /v1/files
		status        int
		www           string
	}{
		{name: "valid HS256", authorization: "Bearer " + hs(nil), status: 200},
		{name: "valid RS256", authorization: "Bearer " + signJWT(t, jose.RS256, rsaKey, claims(nil)), status: 200},
		{name: "valid PS256", authorization: "Bearer " + signJWT(t, jose.PS256, rsaKey, claims(nil)), status: 200},
		{name: "lower-case scheme", authorization: "bearer " + hs(nil), status: 200},
		{name: "expired within the leeway", authorization: "Bearer " + hs(func(c map[string]any) { c["exp"] = now.Add(-30 * time.Second).Unix() }), status: 200},
		{name: "no token", authorization: "", status: 401, www: challenge},
		{name: "empty header", authorization: " ", status: 401, www: challenge},
		{name: "empty bearer", authorization: "Bearer ", status: 401, www: invalid},
		{name: "basic scheme", authorization: "Basic YWxpY2U6c2VjcmV0", status: 401, www: challenge}, // RFC 6750 3.1: no error code
		{name: "bare token", authorization: "abc.def.ghi", status: 401, www: invalid},
		{name: "malformed", authorization: "Bearer not.a.jwt", status: 401, www: invalid},
		{name: "garbage", authorization: "Bearer %%%", status: 401, www: invalid},
		{name: "expired", authorization: "Bearer " + hs(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }), status: 401, www: invalid},
		{name: "no exp", authorization: "Bearer " + hs(func(c map[string]any) { delete(c, "exp") }), status: 401, www: invalid},
		{name: "not yet valid", authorization: "Bearer " + hs(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }), status: 401, www: invalid},
		{name: "issued in the future", authorization: "Bearer " + hs(func(c map[string]any) { c["iat"] = now.Add(time.Hour).Unix() }), status: 401, www: invalid},
		{name: "wrong key", authorization: "Bearer " + signJWT(t, jose.HS256, []byte(otherSecret), claims(nil)), status: 401, www: invalid},
		{name: "alg none", authorization: "Bearer " + unsignedJWT(claims(nil)), status: 401, www: invalid},
		{name: "HMAC with the RSA public key", authorization: "Bearer " + signJWT(t, jose.HS256, pubPEM, claims(nil)), status: 401, www: invalid},
		{name: "HMAC with the RSA public key DER", authorization: "Bearer " + signJWT(t, jose.HS256, der, claims(nil)), status: 401, www: invalid},
		{name: "HS512 with a 128-byte secret is fine", authorization: "Bearer " + signJWT(t, jose.HS512, e.secret, claims(nil)), status: 200},
		{name: "wrong iss", authorization: "Bearer " + hs(func(c map[string]any) { c["iss"] = "https://evil.example" }), status: 401, www: invalid},
		{name: "no iss", authorization: "Bearer " + hs(func(c map[string]any) { delete(c, "iss") }), status: 401, www: invalid},
		{name: "wrong aud", authorization: "Bearer " + hs(func(c map[string]any) { c["aud"] = "another-api" }), status: 401, www: invalid},
		{name: "no sub", authorization: "Bearer " + hs(func(c map[string]any) { delete(c, "sub") }), status: 401, www: invalid},
		{name: "empty sub", authorization: "Bearer " + hs(func(c map[string]any) { c["sub"] = "" }), status: 401, www: invalid},
		{name: "long sub", authorization: "Bearer " + hs(func(c map[string]any) { c["sub"] = strings.Repeat("s", 256) }), status: 401, www: invalid},
		{name: "read scope cannot write", method: "POST", authorization: "Bearer " + hs(func(c map[string]any) { c["scope"] = "files:read" }), status: 403,
			www: `Bearer error="insufficient_scope", scope="files:write"`},
		{name: "scp write cannot read", authorization: "Bearer " + hs(func(c map[string]any) { c["scp"] = []string{"files:write"} }), status: 403,
			www: `Bearer error="insufficient_scope", scope="files:read"`},
		// Authorization is no list: a proxy may read another line than
		// this server would.
		{name: "two headers, the same token", authorization: "Bearer " + hs(nil), second: "Bearer " + hs(nil), status: 401, www: invalid},
		{name: "two headers, valid then garbage", authorization: "Bearer " + hs(nil), second: "Bearer %%%", status: 401, www: invalid},
		{name: "two headers, another owner second", authorization: "Bearer " + hs(nil), second: "Bearer " + hs(func(c map[string]any) { c["sub"] = "bob" }), status: 401, www: invalid},
		{name: "empty scope grants nothing", authorization: "Bearer " + hs(func(c map[string]any) { c["scope"] = "" }), status: 403,
			www: `Bearer error="insufficient_scope", scope="files:read"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, path := "GET", "/v1/files"
			if tt.method == "POST" {
				method, path = "POST", "/v1/files?name=x.txt"
			}
			req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.authorization != "" {
				req.Header.Set("Authorization", tt.authorization)
			}
			if tt.second != "" {
				req.Header.Add("Authorization", tt.second)
			}
			res := e.send(req)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			if got := res.header.Get("WWW-Authenticate"); got != tt.www {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.www)
			}
			switch tt.status {
			case 401:
				wantProblem(t, res, 401, "unauthorized")
			case 403:
				wantProblem(t, res, 403, "forbidden")
			}
		})
	}
}

// TestCustomAuthenticator: any Authenticator works, and its errors map
// like the JWT one's, but with neutral details and no WWW-Authenticate
// header: its credentials need not be bearer tokens (these are API keys
// in X-API-Key). Before, a refused key was answered with a Bearer
// challenge and "the bearer token is invalid or expired".
func TestCustomAuthenticator(t *testing.T) {
	keys := map[string]*auth.Caller{"k-alice": {Owner: "alice", Scopes: []string{auth.ScopeRead}}}
	a := httpapi.AuthenticatorFunc(func(r *http.Request) (*auth.Caller, error) {
		k := r.Header.Get("X-API-Key")
		switch {
		case k == "":
			return nil, auth.ErrNoToken
		case k == "down":
			return nil, os.ErrDeadlineExceeded
		case keys[k] == nil:
			return nil, auth.ErrInvalidToken
		}
		return keys[k], nil
	})
	e := newEnv(t, envOptions{cfg: httpapi.Config{Auth: a}})
	tests := []struct {
		key    string
		method string // GET /v1/files, or POST /v1/files?name=x.txt
		status int
		code   string
		detail string
	}{
		{"k-alice", "GET", 200, "", ""},
		{"", "GET", 401, "unauthorized", "credentials are required"},
		{"nope", "GET", 401, "unauthorized", "the credentials are invalid"},
		{"k-alice", "POST", 403, "forbidden", "the caller lacks the files:write scope"},
		{"down", "GET", 500, "internal", "internal error; quote the request id when reporting it"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.key, func(t *testing.T) {
			path := "/v1/files"
			if tt.method == "POST" {
				path += "?name=x.txt"
			}
			res := e.do(tt.method, path, "", strings.NewReader("x"), "X-API-Key", tt.key)
			if got := res.header.Get("WWW-Authenticate"); got != "" {
				t.Errorf("WWW-Authenticate %q, want none", got)
			}
			if tt.code == "" {
				if res.status != tt.status {
					t.Fatalf("status %d: %s", res.status, res.body)
				}
				return
			}
			wantProblem(t, res, tt.status, tt.code)
			if got := detailOf(t, res); got != tt.detail {
				t.Errorf("detail %q, want %q", got, tt.detail)
			}
		})
	}
}

// TestJWTDetails: the JWT Authenticator's refusals speak of bearer tokens
// (their WWW-Authenticate challenges are TestTokens').
func TestJWTDetails(t *testing.T) {
	e := newEnv(t, envOptions{})
	tests := []struct {
		name   string
		tok    string
		status int
		detail string
	}{
		{"no token", "", 401, "a bearer token is required"},
		{"invalid", "not.a.jwt", 401, "the bearer token is invalid or expired"},
		{"no write scope", e.token("alice", auth.ScopeRead), 403, "the token lacks the files:write scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("POST", "/v1/files?name=x.txt", tt.tok, strings.NewReader("x"))
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			if got := detailOf(t, res); got != tt.detail {
				t.Errorf("detail %q, want %q", got, tt.detail)
			}
		})
	}
}

// keyAuthenticator is an Authenticator of X-API-Key headers that names its
// scheme.
type keyAuthenticator map[string]*auth.Caller

func (k keyAuthenticator) Authenticate(r *http.Request) (*auth.Caller, error) {
	key := r.Header.Get("X-API-Key")
	switch {
	case key == "":
		return nil, auth.ErrNoToken
	case k[key] == nil:
		return nil, auth.ErrInvalidToken
	}
	return k[key], nil
}

func (keyAuthenticator) Challenge() string { return `APIKey realm="filestore"` }

// TestAuthenticatorChallenge: the 401s of an Authenticator that is a
// Challenger carry its challenge (RFC 9110 wants one on every 401); its
// 403s and successes carry none. Before, a custom Authenticator's 401s had
// no WWW-Authenticate header at all.
func TestAuthenticatorChallenge(t *testing.T) {
	e := newEnv(t, envOptions{cfg: httpapi.Config{Auth: keyAuthenticator{"k-alice": {Owner: "alice", Scopes: []string{auth.ScopeRead}}}}})
	tests := []struct {
		key, method string
		status      int
		challenge   string
	}{
		{"", "GET", 401, `APIKey realm="filestore"`},
		{"nope", "GET", 401, `APIKey realm="filestore"`},
		{"k-alice", "POST", 403, ""},
		{"k-alice", "GET", 200, ""},
	}
	for _, tt := range tests {
		path := "/v1/files"
		if tt.method == "POST" {
			path += "?name=x.txt"
		}
		res := e.do(tt.method, path, "", strings.NewReader("x"), "X-API-Key", tt.key)
		if res.status != tt.status || res.header.Get("WWW-Authenticate") != tt.challenge {
			t.Errorf("%s key %q: %d, WWW-Authenticate %q; want %d, %q", tt.method, tt.key, res.status, res.header.Get("WWW-Authenticate"), tt.status, tt.challenge)
		}
	}
}
