package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
)

// cacheStats is what the tests check of a Verifier's cache.
type cacheStats struct {
	Hits    uint64 // Verify calls answered from the cache
	Entries int    // tokens remembered
}

// statsOf returns v's cache statistics (zero when caching is disabled).
func statsOf(v *Verifier) cacheStats {
	c := v.cache
	if c == nil {
		return cacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return cacheStats{Hits: c.hits, Entries: len(c.entries)}
}

func TestCacheSizeConfig(t *testing.T) {
	tests := []struct {
		name     string
		give     int
		wantSize int // 0: no cache
	}{
		{name: "zero means the default", give: 0, wantSize: 4096},
		{name: "positive", give: 3, wantSize: 3},
		{name: "negative disables", give: -1, wantSize: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, Config{Secret: secretOf(32), CacheSize: tt.give})
			got := 0
			if v.cache != nil {
				got = v.cache.size
			}
			if diff := cmp.Diff(tt.wantSize, got); diff != "" {
				t.Errorf("cache size (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCacheTimeChecks verifies one token at a series of clock readings with
// a caching Verifier and with a non-caching one: both must give exactly the
// same result at every step, and the cache must answer exactly where the
// time claims, the leeway and the one-minute cap allow it.
func TestCacheTimeChecks(t *testing.T) {
	secret := secretOf(64)
	rw := &Caller{Owner: "alice", Scopes: []string{ScopeRead, ScopeWrite}}
	at := func(d time.Duration) int64 { return t0.Add(d).Unix() }
	bad := func(reason string) string { return "auth: invalid token: " + reason }
	type step struct {
		at        time.Duration // clock reading, from t0
		wantErr   string
		wantStats cacheStats
	}
	tests := []struct {
		name   string
		leeway time.Duration
		claims map[string]any
		steps  []step
	}{
		{name: "repeated valid token is served from the cache", claims: nil, steps: []step{
			{at: 0, wantStats: cacheStats{Hits: 0, Entries: 1}},
			{at: 0, wantStats: cacheStats{Hits: 1, Entries: 1}},
			{at: 30 * time.Second, wantStats: cacheStats{Hits: 2, Entries: 1}},
		}},
		{name: "expires while cached, leeway 1s", leeway: time.Second, claims: map[string]any{"exp": at(30 * time.Second)}, steps: []step{
			{at: 0, wantStats: cacheStats{Hits: 0, Entries: 1}},
			{at: 31 * time.Second, wantStats: cacheStats{Hits: 1, Entries: 1}}, // now - leeway == exp: still valid
			{at: 31*time.Second + time.Nanosecond, wantErr: bad("token expired (exp)"), wantStats: cacheStats{Hits: 1, Entries: 0}},
			{at: 31*time.Second + time.Nanosecond, wantErr: bad("token expired (exp)"), wantStats: cacheStats{Hits: 1, Entries: 0}},
		}},
		{name: "expired within the default leeway, then beyond it", claims: map[string]any{"exp": at(-30 * time.Second)}, steps: []step{
			{at: 0, wantStats: cacheStats{Hits: 0, Entries: 1}},
			{at: 30 * time.Second, wantStats: cacheStats{Hits: 1, Entries: 1}},
			{at: 30*time.Second + time.Nanosecond, wantErr: bad("token expired (exp)"), wantStats: cacheStats{Hits: 1, Entries: 0}},
		}},
		{name: "nbf in the future is not cached", claims: map[string]any{"nbf": at(61 * time.Second)}, steps: []step{
			{at: 0, wantErr: bad("token not valid yet (nbf)"), wantStats: cacheStats{Hits: 0, Entries: 0}},
			{at: 0, wantErr: bad("token not valid yet (nbf)"), wantStats: cacheStats{Hits: 0, Entries: 0}},
			{at: time.Second, wantStats: cacheStats{Hits: 0, Entries: 1}}, // now + leeway == nbf: valid
			{at: 2 * time.Second, wantStats: cacheStats{Hits: 1, Entries: 1}},
		}},
		{name: "clock set back before nbf", claims: map[string]any{"nbf": at(59 * time.Second)}, steps: []step{
			{at: 0, wantStats: cacheStats{Hits: 0, Entries: 1}},
			{at: -time.Second, wantStats: cacheStats{Hits: 0, Entries: 1}}, // earlier than the entry: verified again
			{at: -time.Second, wantStats: cacheStats{Hits: 1, Entries: 1}},
			{at: -2 * time.Second, wantErr: bad("token not valid yet (nbf)"), wantStats: cacheStats{Hits: 1, Entries: 0}},
		}},
		{name: "clock set back before iat", claims: map[string]any{"iat": at(59 * time.Second)}, steps: []step{
			{at: 0, wantStats: cacheStats{Hits: 0, Entries: 1}},
			{at: 0, wantStats: cacheStats{Hits: 1, Entries: 1}},
			{at: -2 * time.Second, wantErr: bad("token issued in the future (iat)"), wantStats: cacheStats{Hits: 1, Entries: 0}},
		}},
		{name: "an entry lives less than a minute", claims: nil, steps: []step{
			{at: 0, wantStats: cacheStats{Hits: 0, Entries: 1}},
			{at: time.Minute - time.Nanosecond, wantStats: cacheStats{Hits: 1, Entries: 1}},
			{at: time.Minute, wantStats: cacheStats{Hits: 1, Entries: 1}}, // verified again, cached anew
			{at: 2*time.Minute - time.Nanosecond, wantStats: cacheStats{Hits: 2, Entries: 1}},
			{at: 2 * time.Minute, wantStats: cacheStats{Hits: 2, Entries: 1}},
			{at: 2 * time.Minute, wantStats: cacheStats{Hits: 3, Entries: 1}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(t0)
			cached := newVerifier(t, Config{Secret: secret, Now: clk.Now, Leeway: tt.leeway})
			plain := newVerifier(t, Config{Secret: secret, Now: clk.Now, Leeway: tt.leeway, CacheSize: -1})
			token := sign(t, jose.HS256, secret, "", claims("alice", tt.claims))
			for i, s := range tt.steps {
				clk.Set(t0.Add(s.at))
				var want *Caller
				if s.wantErr == "" {
					want = rw
				}
				for _, v := range []struct {
					name string
					v    *Verifier
				}{{"cached", cached}, {"uncached", plain}} {
					got, err := v.v.Verify(context.Background(), token)
					if diff := cmp.Diff(s.wantErr, errString(err)); diff != "" {
						t.Errorf("step %d (at %v), %s: error (-want +got):\n%s", i, s.at, v.name, diff)
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("step %d (at %v), %s: caller (-want +got):\n%s", i, s.at, v.name, diff)
					}
				}
				if diff := cmp.Diff(s.wantStats, statsOf(cached)); diff != "" {
					t.Errorf("step %d (at %v): cache (-want +got):\n%s", i, s.at, diff)
				}
				if diff := cmp.Diff(cacheStats{}, statsOf(plain)); diff != "" {
					t.Errorf("step %d (at %v): disabled cache (-want +got):\n%s", i, s.at, diff)
				}
			}
		})
	}
}

// TestCacheEntryUsable checks the rule deciding whether a cache entry may
// answer, at the boundaries of each of its conditions.
func TestCacheEntryUsable(t *testing.T) {
	ks, other := &keySet{}, &keySet{}
	date := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(t0.Add(d)) }
	entry := func(exp, nbf, iat *jwt.NumericDate) *cacheEntry {
		return &cacheEntry{keys: ks, added: t0, exp: exp, nbf: nbf, iat: iat}
	}
	valid := entry(date(time.Hour), date(-time.Hour), date(-time.Hour))
	tests := []struct {
		name   string
		e      *cacheEntry
		keys   *keySet
		now    time.Duration // from t0
		leeway time.Duration
		want   bool
	}{
		{name: "fresh", e: valid, keys: ks, now: 0, want: true},
		{name: "other key set", e: valid, keys: other, now: 0, want: false},
		{name: "clock before the entry", e: valid, keys: ks, now: -time.Nanosecond, want: false},
		{name: "just under a minute old", e: valid, keys: ks, now: time.Minute - time.Nanosecond, want: true},
		{name: "a minute old", e: valid, keys: ks, now: time.Minute, want: false},
		{name: "exp at now minus leeway", e: entry(date(0), nil, nil), keys: ks, now: 10 * time.Second, leeway: 10 * time.Second, want: true},
		{name: "exp before now minus leeway", e: entry(date(0), nil, nil), keys: ks, now: 10*time.Second + time.Nanosecond, leeway: 10 * time.Second, want: false},
		{name: "exp passed, no leeway", e: entry(date(0), nil, nil), keys: ks, now: time.Nanosecond, want: false},
		{name: "nbf at now plus leeway", e: entry(date(time.Hour), date(10*time.Second), nil), keys: ks, now: 0, leeway: 10 * time.Second, want: true},
		{name: "nbf after now plus leeway", e: entry(date(time.Hour), date(11*time.Second), nil), keys: ks, now: 0, leeway: 10 * time.Second, want: false},
		{name: "iat at now plus leeway", e: entry(date(time.Hour), nil, date(10*time.Second)), keys: ks, now: 0, leeway: 10 * time.Second, want: true},
		{name: "iat after now plus leeway", e: entry(date(time.Hour), nil, date(11*time.Second)), keys: ks, now: 0, leeway: 10 * time.Second, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.e.usable(tt.keys, t0.Add(tt.now), tt.leeway)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("usable (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCacheFailuresNotCached verifies bad tokens three times each: every
// time the full verification gives the same error, and nothing is cached.
func TestCacheFailuresNotCached(t *testing.T) {
	keys := newTestKeys(t)
	secret := secretOf(64)
	rsaPath := writeFile(t, t.TempDir(), "rsa.pem", pemPublic(t, keys.rsa.Public()))
	otherRSA := newTestKeys(t).rsa
	alice := claims("alice", nil)
	good := sign(t, jose.HS256, secret, "", alice)
	hdr, payload, sig := splitToken(t, good)
	evePayload := b64(mustJSON(t, claims("eve", map[string]any{"scope": "admin"})))
	bad := func(reason string) string { return "auth: invalid token: " + reason }
	tests := []struct {
		name    string
		cfg     Config
		token   string
		wantErr string
	}{
		{name: "wrong secret", cfg: Config{Secret: secret}, token: sign(t, jose.HS256, secretOf(48), "", alice), wantErr: bad("bad signature")},
		{name: "valid token's signature altered", cfg: Config{Secret: secret}, token: hdr + "." + payload + "." + flipChar(sig, 10), wantErr: bad("bad signature")},
		{name: "valid token's signature on another payload", cfg: Config{Secret: secret}, token: hdr + "." + evePayload + "." + sig, wantErr: bad("bad signature")},
		{name: "RS256 wrong key", cfg: Config{KeyFile: rsaPath}, token: sign(t, jose.RS256, otherRSA, "", alice), wantErr: bad("bad signature")},
		{name: "alg none", cfg: Config{Secret: secret}, token: b64(`{"alg":"none"}`) + "." + payload + ".", wantErr: bad(`algorithm "none" is not accepted`)},
		{name: "expired", cfg: Config{Secret: secret}, token: sign(t, jose.HS256, secret, "", claims("alice", map[string]any{"exp": t0.Add(-time.Hour).Unix()})), wantErr: bad("token expired (exp)")},
		{name: "wrong audience", cfg: Config{Secret: secret, Audience: "filestore"}, token: sign(t, jose.HS256, secret, "", claims("alice", map[string]any{"aud": "other"})), wantErr: bad("wrong audience (aud)")},
		{name: "missing sub", cfg: Config{Secret: secret}, token: sign(t, jose.HS256, secret, "", claims("alice", map[string]any{"sub": nil})), wantErr: bad("sub claim missing or empty")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, tt.cfg)
			for i := range 3 {
				got, err := v.Verify(context.Background(), tt.token)
				if diff := cmp.Diff(tt.wantErr, errString(err)); diff != "" {
					t.Errorf("Verify #%d error (-want +got):\n%s", i+1, diff)
				}
				if got != nil {
					t.Errorf("Verify #%d caller = %+v, want nil", i+1, got)
				}
			}
			if diff := cmp.Diff(cacheStats{}, statsOf(v)); diff != "" {
				t.Errorf("cache (-want +got):\n%s", diff)
			}
		})
	}
}

// splitToken returns the three parts of a compact JWS.
func splitToken(t *testing.T, token string) (header, payload, sig string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts", token, len(parts))
	}
	return parts[0], parts[1], parts[2]
}

// flipChar replaces the base64url character at i of s by another one.
func flipChar(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

// TestCacheAfterValidTokenRejectsTampering caches a valid token and then
// presents copies of it with a changed payload or signature: none is
// answered from the cache.
func TestCacheAfterValidTokenRejectsTampering(t *testing.T) {
	secret := secretOf(64)
	v := newVerifier(t, Config{Secret: secret})
	good := sign(t, jose.HS256, secret, "", claims("alice", map[string]any{"scope": "files:read"}))
	hdr, payload, sig := splitToken(t, good)
	admin := b64(mustJSON(t, claims("alice", map[string]any{"scope": "admin"})))
	tests := []struct {
		name      string
		token     string
		want      *Caller
		wantErr   string
		wantStats cacheStats
	}{
		{name: "valid, first", token: good, want: &Caller{Owner: "alice", Scopes: []string{ScopeRead}}, wantStats: cacheStats{Hits: 0, Entries: 1}},
		{name: "valid, again", token: good, want: &Caller{Owner: "alice", Scopes: []string{ScopeRead}}, wantStats: cacheStats{Hits: 1, Entries: 1}},
		{name: "escalated payload, same signature", token: hdr + "." + admin + "." + sig, wantErr: "auth: invalid token: bad signature", wantStats: cacheStats{Hits: 1, Entries: 1}},
		{name: "altered signature", token: hdr + "." + payload + "." + flipChar(sig, 5), wantErr: "auth: invalid token: bad signature", wantStats: cacheStats{Hits: 1, Entries: 1}},
		{name: "truncated", token: good[:len(good)-1], wantErr: "auth: invalid token: bad signature", wantStats: cacheStats{Hits: 1, Entries: 1}},
	}
	for _, tt := range tests {
		got, err := v.Verify(context.Background(), tt.token)
		if diff := cmp.Diff(tt.wantErr, errString(err)); diff != "" {
			t.Errorf("%s: error (-want +got):\n%s", tt.name, diff)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: caller (-want +got):\n%s", tt.name, diff)
		}
		if diff := cmp.Diff(tt.wantStats, statsOf(v)); diff != "" {
			t.Errorf("%s: cache (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestCacheReload checks that new keys drop the cache: a cached token whose
// key was removed stops verifying at the reload, and the others are verified
// again; a reload that fails keeps the cache.
func TestCacheReload(t *testing.T) {
	r := newRotation(t)
	path := writeFile(t, t.TempDir(), "jwks.json", jwksJSON(t, jwk(r.a.Public(), "a", ""), jwk(r.b.Public(), "b", "")))
	clk := newClock(t0)
	v := newVerifier(t, Config{KeyFile: path, Now: clk.Now, ReloadInterval: 10 * time.Second})
	type result struct {
		Owner string
		Err   string
	}
	alice, bob := result{Owner: "alice"}, result{Owner: "bob"}
	steps := []struct {
		name      string
		change    func()
		advance   time.Duration
		tokens    []string
		want      []result
		wantStats cacheStats
	}{
		{name: "both keys: verified", tokens: []string{r.tokA, r.tokB}, want: []result{alice, bob}, wantStats: cacheStats{Hits: 0, Entries: 2}},
		{name: "both keys: cached", tokens: []string{r.tokA, r.tokB}, want: []result{alice, bob}, wantStats: cacheStats{Hits: 2, Entries: 2}},
		{name: "file replaced, check not due: still cached", change: func() { replaceFile(t, path, r.jwksB) }, advance: 9 * time.Second,
			tokens: []string{r.tokA, r.tokB}, want: []result{alice, bob}, wantStats: cacheStats{Hits: 4, Entries: 2}},
		{name: "reloaded: removed key's token rejected, cache dropped", advance: time.Second,
			tokens: []string{r.tokA}, want: []result{{Err: noKeyA}}, wantStats: cacheStats{Hits: 4, Entries: 0}},
		{name: "remaining key's token verified again", tokens: []string{r.tokB, r.tokB}, want: []result{bob, bob}, wantStats: cacheStats{Hits: 5, Entries: 1}},
		{name: "broken file keeps keys and cache", change: func() { replaceFile(t, path, []byte(`{broken`)) }, advance: 10 * time.Second,
			tokens: []string{r.tokB, r.tokA}, want: []result{bob, {Err: noKeyA}}, wantStats: cacheStats{Hits: 6, Entries: 1}},
	}
	for _, s := range steps {
		if s.change != nil {
			s.change()
		}
		clk.Advance(s.advance)
		var got []result
		for _, tok := range s.tokens {
			c, err := v.Verify(context.Background(), tok)
			res := result{Err: errString(err)}
			if c != nil {
				res.Owner = c.Owner
			}
			got = append(got, res)
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%s: results (-want +got):\n%s", s.name, diff)
		}
		if diff := cmp.Diff(s.wantStats, statsOf(v)); diff != "" {
			t.Errorf("%s: cache (-want +got):\n%s", s.name, diff)
		}
	}
}

// TestCacheBound verifies tokens of five owners with a cache of three: the
// cache never holds more than three, and forgets the oldest first.
func TestCacheBound(t *testing.T) {
	secret := secretOf(32)
	v := newVerifier(t, Config{Secret: secret, CacheSize: 3})
	tokens := make([]string, 5)
	for i := range tokens {
		tokens[i] = sign(t, jose.HS256, secret, "", claims(fmt.Sprintf("u%d", i), nil))
	}
	steps := []struct {
		user int
		hit  bool
	}{
		{0, false}, {1, false}, {2, false}, // cache: 0 1 2
		{0, true}, {1, true}, {2, true},
		{3, false}, // evicts 0
		{4, false}, // evicts 1
		{2, true}, {3, true}, {4, true},
		{0, false}, // evicts 2
		{1, false}, // evicts 3
		{4, true}, {0, true}, {1, true},
		{2, false}, // evicts 4
		{3, false}, // evicts 0
	}
	var hits uint64
	for i, s := range steps {
		c, err := v.Verify(context.Background(), tokens[s.user])
		if err != nil {
			t.Fatalf("step %d: Verify u%d: %v", i, s.user, err)
		}
		if diff := cmp.Diff(fmt.Sprintf("u%d", s.user), c.Owner); diff != "" {
			t.Errorf("step %d: owner (-want +got):\n%s", i, diff)
		}
		if s.hit {
			hits++
		}
		want := cacheStats{Hits: hits, Entries: min(i+1, 3)}
		if diff := cmp.Diff(want, statsOf(v)); diff != "" {
			t.Errorf("step %d (u%d): cache (-want +got):\n%s", i, s.user, diff)
		}
	}
}

// TestTokenCacheEviction checks the eviction order when entries were
// dropped as unusable in between: the bound holds, the oldest slot goes
// first, and a token stored again replaces its entry in place.
func TestTokenCacheEviction(t *testing.T) {
	ks := &keySet{}
	c := newTokenCache(3)
	key := func(name string) [sha256.Size]byte { return cacheKey(name) }
	times := &jwt.Claims{Expiry: jwt.NewNumericDate(t0.Add(time.Hour))}
	put := func(name string, at time.Duration) {
		c.put(key(name), ks, t0.Add(at), times, &Caller{Owner: name})
	}
	// slotAt is where an entry is and when it was stored (from t0).
	type slotAt struct {
		Slot int
		At   time.Duration
	}
	contents := func() map[string]slotAt {
		out := map[string]slotAt{}
		for _, name := range []string{"k1", "k2", "k3", "k4", "k5"} {
			if e, ok := c.entries[key(name)]; ok {
				out[name] = slotAt{Slot: e.slot, At: e.added.Sub(t0)}
			}
		}
		if len(out) != len(c.entries) {
			t.Fatalf("cache holds %d entries, %d known", len(c.entries), len(out))
		}
		return out
	}
	steps := []struct {
		name string
		do   func()
		want map[string]slotAt
	}{
		{name: "fill", do: func() { put("k1", 0); put("k2", 0); put("k3", 0) }, want: map[string]slotAt{"k1": {0, 0}, "k2": {1, 0}, "k3": {2, 0}}},
		{name: "k2 unusable: dropped on lookup", do: func() {
			if _, ok := c.get(key("k2"), ks, t0.Add(-time.Second), 0); ok {
				t.Errorf("k2 answered at a time before its entry")
			}
		}, want: map[string]slotAt{"k1": {0, 0}, "k3": {2, 0}}},
		{name: "k2 again takes the oldest slot, evicting k1", do: func() { put("k2", 0) }, want: map[string]slotAt{"k2": {0, 0}, "k3": {2, 0}}},
		{name: "k4 takes slot 1, whose old key k2 lives on in slot 0", do: func() { put("k4", 0) }, want: map[string]slotAt{"k2": {0, 0}, "k4": {1, 0}, "k3": {2, 0}}},
		{name: "k4 stored again: replaced in its slot", do: func() { put("k4", time.Second) }, want: map[string]slotAt{"k2": {0, 0}, "k4": {1, time.Second}, "k3": {2, 0}}},
		{name: "k5 evicts k3", do: func() { put("k5", 0) }, want: map[string]slotAt{"k2": {0, 0}, "k4": {1, time.Second}, "k5": {2, 0}}},
		{name: "k1 evicts k2", do: func() { put("k1", 0) }, want: map[string]slotAt{"k1": {0, 0}, "k4": {1, time.Second}, "k5": {2, 0}}},
		{name: "clear", do: c.clear, want: map[string]slotAt{}},
		{name: "refill after clear", do: func() { put("k3", 0) }, want: map[string]slotAt{"k3": {0, 0}}},
	}
	for _, s := range steps {
		s.do()
		if diff := cmp.Diff(s.want, contents()); diff != "" {
			t.Errorf("%s: contents (-want +got):\n%s", s.name, diff)
		}
	}
	// A stale key set never answers, even for an entry stored after a
	// reload cleared the cache.
	if _, ok := c.get(key("k3"), &keySet{}, t0, 0); ok {
		t.Errorf("k3 answered for another key set")
	}
	if _, ok := c.get(key("k3"), ks, t0, 0); ok {
		t.Errorf("k3 answered after it was dropped for another key set")
	}
}

// TestCacheCallerNotShared modifies every Caller Verify returns: the next
// answer from the cache is unchanged.
func TestCacheCallerNotShared(t *testing.T) {
	secret := secretOf(32)
	v := newVerifier(t, Config{Secret: secret})
	token := sign(t, jose.HS256, secret, "", claims("alice", map[string]any{"scope": "files:read admin"}))
	want := &Caller{Owner: "alice", Scopes: []string{ScopeRead, ScopeAdmin}}
	for i := range 3 {
		got, err := v.Verify(context.Background(), token)
		if err != nil {
			t.Fatalf("Verify #%d: %v", i+1, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Verify #%d (-want +got):\n%s", i+1, diff)
		}
		got.Owner = "mallory"
		got.Scopes[0] = ScopeWrite
		got.Scopes = append(got.Scopes[:1], ScopeWrite, ScopeWrite)
	}
	if diff := cmp.Diff(cacheStats{Hits: 2, Entries: 1}, statsOf(v)); diff != "" {
		t.Errorf("cache (-want +got):\n%s", diff)
	}
}

// TestCacheConcurrent verifies eight tokens from four goroutines with a
// cache of four while the clock moves on (entries age out and are
// evicted); run with -race. Every result must be the token's caller.
func TestCacheConcurrent(t *testing.T) {
	secret := secretOf(32)
	clk := newClock(t0)
	v := newVerifier(t, Config{Secret: secret, Now: clk.Now, CacheSize: 4})
	const nTokens, perGoroutine = 8, 300
	tokens := make([]string, nTokens)
	for i := range tokens {
		tokens[i] = sign(t, jose.HS256, secret, "", claims(fmt.Sprintf("u%d", i), map[string]any{"scope": "files:read"}))
	}
	errs := make(chan error, 4*perGoroutine)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range perGoroutine {
				n := (g + i) % nTokens
				if i%16 == 0 {
					clk.Advance(5 * time.Second) // 4*300/16*5s: about 6 minutes in all
				}
				c, err := v.Verify(context.Background(), tokens[n])
				if err != nil {
					errs <- err
					continue
				}
				if diff := cmp.Diff(&Caller{Owner: fmt.Sprintf("u%d", n), Scopes: []string{ScopeRead}}, c); diff != "" {
					errs <- errors.New(diff)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("unexpected Verify result: %v", err)
	}
	v.cache.mu.Lock()
	defer v.cache.mu.Unlock()
	if len(v.cache.entries) > 4 || len(v.cache.ring) != 4 {
		t.Errorf("cache holds %d entries in %d slots, want at most 4 in 4", len(v.cache.entries), len(v.cache.ring))
	}
}
