package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

func TestNewErrors(t *testing.T) {
	keys := newTestKeys(t)
	dir := t.TempDir()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(keys.ec)
	if err != nil {
		t.Fatal(err)
	}
	file := func(name string, data []byte) string { return writeFile(t, dir, name, data) }
	missing := filepath.Join(dir, "missing.pem")
	_, derErr := x509.ParsePKIXPublicKey([]byte{1, 2, 3})
	weakEd := pemPublic(t, ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))

	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "no key", cfg: Config{}, wantErr: "auth: no key configured: set Secret or KeyFile"},
		{name: "secret of 31 bytes", cfg: Config{Secret: secretOf(31)}, wantErr: "auth: secret has 31 bytes, at least 32 are required"},
		{name: "negative leeway", cfg: Config{Secret: secretOf(32), Leeway: -time.Second}, wantErr: "auth: negative Leeway"},
		{name: "missing key file", cfg: Config{KeyFile: missing}, wantErr: "auth: key file: stat " + missing + ": no such file or directory"},
		{name: "key file is a directory", cfg: Config{KeyFile: dir}, wantErr: "auth: key file: " + dir + " is not a regular file"},
		{name: "key file too large", cfg: Config{KeyFile: file("big.pem", make([]byte, maxKeyFileSize+1))}, wantErr: "auth: key file: " + filepath.Join(dir, "big.pem") + " is larger than 1048576 bytes"},
		{name: "empty key file", cfg: Config{KeyFile: file("empty", nil)}, wantErr: "auth: key file " + filepath.Join(dir, "empty") + ": neither a PEM public key nor a JWK Set"},
		{name: "text key file", cfg: Config{KeyFile: file("text", []byte("hello"))}, wantErr: "auth: key file " + filepath.Join(dir, "text") + ": neither a PEM public key nor a JWK Set"},
		{name: "broken JSON", cfg: Config{KeyFile: file("broken.json", []byte("{not json"))}, wantErr: "auth: key file " + filepath.Join(dir, "broken.json") + ": invalid JWK Set: invalid character 'n' looking for beginning of object key string"},
		{name: "JSON without keys", cfg: Config{KeyFile: file("nokeys.json", []byte(`{"a":1}`))}, wantErr: "auth: key file " + filepath.Join(dir, "nokeys.json") + `: invalid JWK Set: no "keys" array (nor a single JWK with "kty")`},
		{name: "empty JWK Set", cfg: Config{KeyFile: file("empty.json", []byte(`{"keys":[]}`))}, wantErr: "auth: key file " + filepath.Join(dir, "empty.json") + ": JWK Set has no usable key (of 0)"},
		{name: "JWK Set with only an HMAC key", cfg: Config{KeyFile: file("oct.json", jwksJSON(t, jose.JSONWebKey{Key: secretOf(64), KeyID: "k"}))}, wantErr: "auth: key file " + filepath.Join(dir, "oct.json") + ": JWK Set has no usable key (of 1)"},
		{name: "private PEM", cfg: Config{KeyFile: file("priv.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))}, wantErr: "auth: key file " + filepath.Join(dir, "priv.pem") + ": PEM block 0 (PRIVATE KEY): private key in key file; configure the public key"},
		{name: "RSA 1024", cfg: Config{KeyFile: file("small.pem", pemPublic(t, small.Public()))}, wantErr: "auth: key file " + filepath.Join(dir, "small.pem") + ": PEM block 0 (PUBLIC KEY): RSA key has 1024 bits, 2048 to 8192 are supported"},
		{name: "P-384", cfg: Config{KeyFile: file("p384.pem", pemPublic(t, p384.Public()))}, wantErr: "auth: key file " + filepath.Join(dir, "p384.pem") + ": PEM block 0 (PUBLIC KEY): EC key is not on curve P-256 (only ES256 is supported)"},
		{name: "weak Ed25519", cfg: Config{KeyFile: file("weak.pem", weakEd)}, wantErr: "auth: key file " + filepath.Join(dir, "weak.pem") + ": PEM block 0 (PUBLIC KEY): go-jose/go-jose: invalid Ed25519 public key, low-order point"},
		{name: "unknown PEM block", cfg: Config{KeyFile: file("foo.pem", pem.EncodeToMemory(&pem.Block{Type: "FOO", Bytes: []byte{1}}))}, wantErr: "auth: key file " + filepath.Join(dir, "foo.pem") + ": PEM block 0 (FOO): unsupported PEM block type"},
		{name: "bad DER", cfg: Config{KeyFile: file("der.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}))}, wantErr: "auth: key file " + filepath.Join(dir, "der.pem") + ": PEM block 0 (PUBLIC KEY): " + errString(derErr)},
		{name: "second PEM block bad", cfg: Config{KeyFile: file("two.pem", append(pemPublic(t, keys.ec.Public()), pemPublic(t, small.Public())...))}, wantErr: "auth: key file " + filepath.Join(dir, "two.pem") + ": PEM block 1 (PUBLIC KEY): RSA key has 1024 bits, 2048 to 8192 are supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(tt.cfg)
			if diff := cmp.Diff(tt.wantErr, errString(err)); diff != "" {
				t.Errorf("New error (-want +got):\n%s", diff)
			}
			if v != nil {
				t.Errorf("New returned a Verifier with an error")
			}
		})
	}
}

// TestKeyFileFormats loads each supported key file format and verifies a
// token with every key in it.
func TestKeyFileFormats(t *testing.T) {
	keys := newTestKeys(t)
	dir := t.TempDir()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "issuer"},
		NotBefore:    t0.Add(-time.Hour),
		NotAfter:     t0.Add(-time.Minute), // expired: only the key is used
	}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, keys.rsa.Public(), keys.rsa)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&keys.rsa.PublicKey)})
	multi := []byte("# keys of the issuer\n" + string(pemPublic(t, keys.rsa.Public())) + "\n" + string(pemPublic(t, keys.ec.Public())) + string(pemPublic(t, keys.ed.Public())))
	single := []byte(mustJSON(t, jwk(keys.ec.Public(), "", "")))
	alice := claims("alice", nil)
	rw := &Caller{Owner: "alice", Scopes: []string{ScopeRead, ScopeWrite}}

	tests := []struct {
		name  string
		file  []byte
		token string
		want  *Caller
	}{
		{name: "PKCS #1 RSA PUBLIC KEY", file: pkcs1, token: sign(t, jose.RS256, keys.rsa, "", alice), want: rw},
		{name: "certificate", file: certPEM, token: sign(t, jose.PS256, keys.rsa, "", alice), want: rw},
		{name: "several PEM blocks: RSA", file: multi, token: sign(t, jose.RS256, keys.rsa, "", alice), want: rw},
		{name: "several PEM blocks: EC", file: multi, token: sign(t, jose.ES256, keys.ec, "", alice), want: rw},
		{name: "several PEM blocks: Ed25519", file: multi, token: sign(t, jose.EdDSA, keys.ed, "", alice), want: rw},
		{name: "single JWK, no kid", file: single, token: sign(t, jose.ES256, keys.ec, "", alice), want: rw},
		{name: "leading white space before JSON", file: append([]byte("\n  "), single...), token: sign(t, jose.ES256, keys.ec, "", alice), want: rw},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, Config{KeyFile: writeFile(t, dir, "key"+string(rune('a'+i)), tt.file)})
			got, err := v.Verify(context.Background(), tt.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Verify (-want +got):\n%s", diff)
			}
		})
	}
}

// TestJWKSSkipsUnusableKeys checks that a JWK Set's unusable keys are
// skipped with one warning each and that the usable ones still work.
func TestJWKSSkipsUnusableKeys(t *testing.T) {
	keys := newTestKeys(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hmacKey := secretOf(64)
	doc := jwksJSON(t,
		jose.JSONWebKey{Key: hmacKey, KeyID: "hmac", Algorithm: "HS256"},
		jose.JSONWebKey{Key: keys.rsa, KeyID: "private"},
		jose.JSONWebKey{Key: keys.rsa.Public(), KeyID: "enc", Use: "enc"},
		jwk(keys.rsa.Public(), "mismatch", "ES256"),
		jwk(p384.Public(), "p384", ""),
		jwk(keys.ec.Public(), "ec", ""),
		jwk(keys.rsa.Public(), "rsa", ""),
	)
	// An unknown key type: go-jose refuses to parse it.
	doc = []byte(strings.Replace(string(doc), `"keys":[`, `"keys":[{"kty":"XYZ","kid":"xyz"},`, 1))
	path := writeFile(t, t.TempDir(), "jwks.json", doc)
	rec := &recorder{}
	v := newVerifier(t, Config{Secret: secretOf(32), KeyFile: path, Logger: slog.New(rec)})

	warn := func(index, kid, err string) logRecord {
		return logRecord{Level: slog.LevelWarn, Msg: "auth: ignoring unusable key in key file", Attrs: map[string]string{"file": path, "index": index, "kid": kid, "err": err}}
	}
	wantLogs := []logRecord{
		warn("0", "xyz", "go-jose/go-jose: unsupported key type, format, curve, or RSA modulus size"),
		warn("1", "hmac", `symmetric ("oct") keys are not taken from key files; configure the secret instead`),
		warn("2", "private", "key file holds private key material; publish only public keys"),
		warn("3", "enc", `key is for encryption ("use": "enc")`),
		warn("4", "mismatch", `alg "ES256" cannot be used with this key (it allows [RS256 PS256])`),
		warn("5", "p384", "EC key is not on curve P-256 (only ES256 is supported)"),
	}
	if diff := cmp.Diff(wantLogs, rec.take()); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}

	alice := claims("alice", nil)
	tests := []struct {
		name    string
		token   string
		wantErr string
	}{
		{name: "usable EC key", token: sign(t, jose.ES256, keys.ec, "ec", alice)},
		{name: "usable RSA key", token: sign(t, jose.RS256, keys.rsa, "rsa", alice)},
		{name: "the JWK Set's HMAC key is not a key", token: sign(t, jose.HS256, hmacKey, "hmac", alice), wantErr: "auth: invalid token: bad signature"},
		{name: "private key skipped", token: sign(t, jose.RS256, keys.rsa, "private", alice), wantErr: `auth: invalid token: no configured key for algorithm RS256 and kid "private"`},
		{name: "enc key skipped", token: sign(t, jose.RS256, keys.rsa, "enc", alice), wantErr: `auth: invalid token: no configured key for algorithm RS256 and kid "enc"`},
		{name: "P-384 never accepted", token: sign(t, jose.ES384, p384, "p384", alice), wantErr: `auth: invalid token: algorithm "ES384" is not accepted`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tt.token)
			if diff := cmp.Diff(tt.wantErr, errString(err)); diff != "" {
				t.Errorf("Verify error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewCopiesSecret(t *testing.T) {
	secret := secretOf(32)
	v := newVerifier(t, Config{Secret: secret})
	tok := sign(t, jose.HS256, secretOf(32), "", claims("alice", nil))
	secret[0] ^= 0xff
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify after changing the caller's secret slice: %v", err)
	}
}

func TestKeyFileFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := mkfifo(path); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	_, err := New(Config{KeyFile: path})
	want := "auth: key file: " + path + " is not a regular file"
	if diff := cmp.Diff(want, errString(err)); diff != "" {
		t.Errorf("New error (-want +got):\n%s", diff)
	}
	if errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v is ErrNotExist", err)
	}
}

// TestJWKSKeyOps: a JWK whose key_ops (RFC 7517 4.3) does not list
// "verify", or is not an array, is skipped with a warning, as "use": "enc"
// is; go-jose does not read key_ops. Before, such keys verified tokens.
func TestJWKSKeyOps(t *testing.T) {
	keys := newTestKeys(t)
	var jwks []any
	for _, k := range []struct {
		kid string
		ops any
	}{
		{"enc", []string{"encrypt", "wrapKey"}},
		{"sign", []string{"sign"}},
		{"string", "verify"},
		{"verify", []string{"sign", "verify"}},
		{"none", nil},
	} {
		raw, err := json.Marshal(jwk(keys.ec.Public(), k.kid, ""))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if k.ops != nil {
			m["key_ops"] = k.ops
		}
		jwks = append(jwks, m)
	}
	doc, err := json.Marshal(map[string]any{"keys": jwks})
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, t.TempDir(), "jwks.json", doc)
	rec := &recorder{}
	v := newVerifier(t, Config{KeyFile: path, Logger: slog.New(rec)})
	warn := func(index, kid, err string) logRecord {
		return logRecord{Level: slog.LevelWarn, Msg: "auth: ignoring unusable key in key file", Attrs: map[string]string{"file": path, "index": index, "kid": kid, "err": err}}
	}
	wantLogs := []logRecord{
		warn("0", "enc", `key is not for verifying signatures ("key_ops": ["encrypt" "wrapKey"])`),
		warn("1", "sign", `key is not for verifying signatures ("key_ops": ["sign"])`),
		warn("2", "string", `"key_ops" is not an array of strings`),
	}
	if diff := cmp.Diff(wantLogs, rec.take()); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	for kid, wantErr := range map[string]string{
		"enc":    `auth: invalid token: no configured key for algorithm ES256 and kid "enc"`,
		"sign":   `auth: invalid token: no configured key for algorithm ES256 and kid "sign"`,
		"string": `auth: invalid token: no configured key for algorithm ES256 and kid "string"`,
		"verify": "",
		"none":   "",
	} {
		_, err := v.Verify(context.Background(), sign(t, jose.ES256, keys.ec, kid, claims("alice", nil)))
		if diff := cmp.Diff(wantErr, errString(err)); diff != "" {
			t.Errorf("kid %s: Verify error (-want +got):\n%s", kid, diff)
		}
	}
}
