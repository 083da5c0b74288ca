package auth

import (
	"context"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func BenchmarkVerify(b *testing.B) {
	keys := newTestKeys(b)
	secret := secretOf(64)
	pemPath := writeFile(b, b.TempDir(), "rsa.pem", pemPublic(b, keys.rsa.Public()))
	jwksPath := writeFile(b, b.TempDir(), "jwks.json", jwksJSON(b,
		jwk(keys.rsa.Public(), "rsa", ""), jwk(keys.ec.Public(), "ec", ""), jwk(keys.ed.Public(), "ed", "")))
	alice := claims("alice", map[string]any{"scope": "files:read files:write"})
	benches := []struct {
		name  string
		cfg   Config
		token string
	}{
		{name: "HS256", cfg: Config{Secret: secret}, token: sign(b, jose.HS256, secret, "", alice)},
		{name: "RS256", cfg: Config{KeyFile: pemPath}, token: sign(b, jose.RS256, keys.rsa, "", alice)},
		{name: "ES256-JWKS", cfg: Config{KeyFile: jwksPath}, token: sign(b, jose.ES256, keys.ec, "ec", alice)},
		{name: "EdDSA-JWKS", cfg: Config{KeyFile: jwksPath}, token: sign(b, jose.EdDSA, keys.ed, "ed", alice)},
		{name: "rejected-alg-none", cfg: Config{Secret: secret}, token: b64(`{"alg":"none"}`) + "." + b64(mustJSON(b, alice)) + "."},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			v := newVerifier(b, bb.cfg)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				c, _ := v.Verify(ctx, bb.token)
				_ = c
			}
		})
	}
}
