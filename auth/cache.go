package auth

import (
	"crypto/sha256"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

// Bounds of the cache of verified tokens.
const (
	defaultCacheSize = 4096        // entries, when Config.CacheSize is zero
	cacheMaxAge      = time.Minute // longest life of an entry, by Config.Now
)

// tokenCache remembers tokens that verified successfully, so that a token
// presented again is not parsed and its signature not checked again. It is
// keyed by the SHA-256 of the token: no token is kept, and an entry's size
// does not depend on the token's. Failures are never stored.
//
// An entry is used only while every time check of Verify still passes (see
// cacheEntry.usable), and only with the key set it was verified with. At most
// size entries are kept; when full, the entry inserted first is dropped.
// A nil *tokenCache caches nothing.
type tokenCache struct {
	size int

	mu      sync.Mutex
	entries map[[sha256.Size]byte]*cacheEntry
	// ring holds the key of every inserted entry, in insertion order from
	// next (when full): ring[next] is the oldest and is evicted first. A slot
	// whose entry was deleted meanwhile keeps its stale key; the entry's slot
	// field tells whether it still owns the slot.
	ring [][sha256.Size]byte
	next int
	hits uint64 // lookups answered from the cache, for tests
}

// cacheEntry is what a successful verification established.
type cacheEntry struct {
	slot  int
	keys  *keySet   // the key snapshot that verified the token
	added time.Time // Config.Now at verification
	// exp, nbf and iat are the token's time claims (nil when absent).
	exp, nbf, iat *jwt.NumericDate
	owner         string
	// scopes is never handed out: callers get a copy.
	scopes []string
}

// newTokenCache returns a cache of at most size entries, or nil (no caching)
// when size is not positive.
func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	return &tokenCache{size: size, entries: make(map[[sha256.Size]byte]*cacheEntry)}
}

// cacheKey is the key of token in a tokenCache.
func cacheKey(token string) [sha256.Size]byte {
	return sha256.Sum256([]byte(token))
}

// get returns a new Caller for the entry of key when there is one verified
// with keys and still usable at now with leeway. It drops an entry that is
// no longer usable.
func (c *tokenCache) get(key [sha256.Size]byte, keys *keySet, now time.Time, leeway time.Duration) (*Caller, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if !e.usable(keys, now, leeway) {
		delete(c.entries, key)
		return nil, false
	}
	c.hits++
	return &Caller{Owner: e.owner, Scopes: slices.Clone(e.scopes)}, true
}

// put remembers that the token of key was verified with keys at now, with
// claims times giving caller. It keeps a copy of caller's scopes.
func (c *tokenCache) put(key [sha256.Size]byte, keys *keySet, now time.Time, times *jwt.Claims, caller *Caller) {
	if c == nil {
		return
	}
	e := &cacheEntry{
		keys:   keys,
		added:  now,
		exp:    copyDate(times.Expiry),
		nbf:    copyDate(times.NotBefore),
		iat:    copyDate(times.IssuedAt),
		owner:  caller.Owner,
		scopes: slices.Clone(caller.Scopes),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[key]; ok {
		// Verified concurrently, or again after it became unusable but
		// before it was evicted: refresh it in its slot.
		e.slot = old.slot
		c.entries[key] = e
		return
	}
	if len(c.ring) < c.size {
		e.slot = len(c.ring)
		c.ring = append(c.ring, key)
	} else {
		e.slot = c.next
		if old, ok := c.entries[c.ring[e.slot]]; ok && old.slot == e.slot {
			delete(c.entries, c.ring[e.slot])
		}
		c.ring[e.slot] = key
		c.next = (c.next + 1) % c.size
	}
	c.entries[key] = e
}

// clear drops every entry.
func (c *tokenCache) clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
	c.ring = c.ring[:0]
	c.next = 0
}

// usable reports whether the entry may answer for its token at now: it was
// verified with keys (the current snapshot), at most cacheMaxAge ago and not
// after now, and its exp, nbf and iat pass the very check Verify makes
// (go-jose's, with leeway, at now).
func (e *cacheEntry) usable(keys *keySet, now time.Time, leeway time.Duration) bool {
	if e.keys != keys || now.Before(e.added) || now.Sub(e.added) >= cacheMaxAge {
		return false
	}
	times := jwt.Claims{Expiry: e.exp, NotBefore: e.nbf, IssuedAt: e.iat}
	return times.ValidateWithLeeway(jwt.Expected{Time: now}, leeway) == nil
}

// copyDate returns a copy of d, or nil.
func copyDate(d *jwt.NumericDate) *jwt.NumericDate {
	if d == nil {
		return nil
	}
	c := *d
	return &c
}
