package auth

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// verifyBench is one benchmarked configuration: tokens are verified in turn.
type verifyBench struct {
	name    string
	cfg     Config
	tokens  []string
	wantErr bool // every token is rejected
}

// verifyBenches returns the benchmarked configurations. Each presents one
// token again and again, as a client does ("rejected-alg-none" is never
// cached), except "HS256-churn": it cycles through four times more distinct
// tokens than the cache holds, so the cache (nearly) never answers, its
// worst case.
func verifyBenches(b *testing.B) []verifyBench {
	keys := newTestKeys(b)
	secret := secretOf(64)
	pemPath := writeFile(b, b.TempDir(), "rsa.pem", pemPublic(b, keys.rsa.Public()))
	jwksPath := writeFile(b, b.TempDir(), "jwks.json", jwksJSON(b,
		jwk(keys.rsa.Public(), "rsa", ""), jwk(keys.ec.Public(), "ec", ""), jwk(keys.ed.Public(), "ed", "")))
	alice := claims("alice", map[string]any{"scope": "files:read files:write"})
	churn := make([]string, 4*defaultCacheSize)
	for i := range churn {
		churn[i] = sign(b, jose.HS256, secret, "", claims(fmt.Sprintf("user%d", i), nil))
	}
	return []verifyBench{
		{name: "HS256", cfg: Config{Secret: secret}, tokens: []string{sign(b, jose.HS256, secret, "", alice)}},
		{name: "RS256", cfg: Config{KeyFile: pemPath}, tokens: []string{sign(b, jose.RS256, keys.rsa, "", alice)}},
		{name: "ES256-JWKS", cfg: Config{KeyFile: jwksPath}, tokens: []string{sign(b, jose.ES256, keys.ec, "ec", alice)}},
		{name: "EdDSA-JWKS", cfg: Config{KeyFile: jwksPath}, tokens: []string{sign(b, jose.EdDSA, keys.ed, "ed", alice)}},
		{name: "rejected-alg-none", cfg: Config{Secret: secret}, tokens: []string{b64(`{"alg":"none"}`) + "." + b64(mustJSON(b, alice)) + "."}, wantErr: true},
		{name: "HS256-churn", cfg: Config{Secret: secret}, tokens: churn},
	}
}

// cacheMode is one way every configuration is benchmarked.
type cacheMode struct {
	name string
	size int // Config.CacheSize
}

// cacheModes returns the benchmarked modes: without and with the cache.
func cacheModes() []cacheMode {
	return []cacheMode{{name: "uncached", size: -1}, {name: "cached", size: 0}}
}

// benchVerifier returns a Verifier for bb with Config.CacheSize size, after
// checking that it gives the expected result for every token.
func benchVerifier(b *testing.B, bb verifyBench, size int) *Verifier {
	cfg := bb.cfg
	cfg.CacheSize = size
	v := newVerifier(b, cfg)
	for _, tok := range bb.tokens {
		if _, err := v.Verify(context.Background(), tok); (err != nil) != bb.wantErr {
			b.Fatalf("Verify: %v, want error: %v", err, bb.wantErr)
		}
	}
	return v
}

func BenchmarkVerify(b *testing.B) {
	for _, bb := range verifyBenches(b) {
		for _, m := range cacheModes() {
			b.Run(bb.name+"/"+m.name, func(b *testing.B) {
				v := benchVerifier(b, bb, m.size)
				ctx := context.Background()
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					c, _ := v.Verify(ctx, bb.tokens[i%len(bb.tokens)])
					_ = c
					i++
				}
			})
		}
	}
}

// BenchmarkVerifyParallel is BenchmarkVerify from GOMAXPROCS goroutines
// (times -cpu), as a server verifies its concurrent requests.
func BenchmarkVerifyParallel(b *testing.B) {
	for _, bb := range verifyBenches(b) {
		for _, m := range cacheModes() {
			b.Run(bb.name+"/"+m.name, func(b *testing.B) {
				v := benchVerifier(b, bb, m.size)
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				var goroutines atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					// Spread the goroutines over the tokens.
					i := int(goroutines.Add(1)-1) * len(bb.tokens) / runtime.GOMAXPROCS(0)
					for pb.Next() {
						c, err := v.Verify(ctx, bb.tokens[i%len(bb.tokens)])
						if (err != nil) != bb.wantErr || (err == nil && c.Owner == "") {
							b.Errorf("Verify: %v, %+v", err, c)
							return
						}
						i++
					}
				})
			})
		}
	}
}
