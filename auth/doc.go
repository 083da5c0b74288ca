// Package auth verifies the JSON Web Tokens that callers of the filestore REST
// API present as "Authorization: Bearer <JWT>", and carries the verified
// caller through a context.Context. It knows nothing of HTTP status codes:
// package httpapi maps ErrNoToken and ErrInvalidToken to its responses.
//
// # Keys and algorithms
//
// A Verifier accepts exactly the algorithms of the keys it is configured with:
//
//   - Config.Secret, an HMAC key (its bytes are the key, at least 32 of them):
//     HS256, plus HS384 when it has at least 48 bytes and HS512 when it has at
//     least 64.
//   - Config.KeyFile, a PEM file of public keys ("PUBLIC KEY", "RSA PUBLIC
//     KEY" or "CERTIFICATE" blocks) or a JWK Set (or a single JWK), told apart
//     by content. An RSA key (2048 to 8192 bits) accepts RS256 and PS256, a
//     P-256 key ES256 and an Ed25519 key EdDSA. A JWK's "alg", when present,
//     pins the key to that one algorithm.
//
// "alg": "none", and every algorithm no configured key allows, is rejected
// before any signature work. HMAC algorithms are verified with the secret
// only: a key file never provides an HMAC key (symmetric "oct" JWKs are
// ignored with a warning), so a token MACed with the bytes of a public key
// (the classic RS256/HS256 confusion) is always rejected.
//
// # Key IDs
//
//   - The secret and PEM keys have no key ID and ignore the token's "kid".
//   - A JWK Set key is used for a token whose "kid" equals the key's "kid"
//     (a JWK without "kid" matches only tokens without one). A token without
//     "kid" is also accepted by the key of a JWK Set holding exactly one
//     usable key.
//     A token whose "kid" names no JWK Set key is rejected (unless it is an
//     HMAC token, which only the secret verifies).
//
// When several keys match a token (for example JWKs without "kid"), each is
// tried in file order; the first that verifies the signature wins.
//
// # Reloading the key file
//
// On Verify, at most once per Config.ReloadInterval (by Config.Now), the key
// file's identity, size and modification time are compared with those of
// the file last read; on a change it is read again. A new file that cannot be
// read or parsed keeps the previous keys and logs a warning (once per
// change). Replace key files atomically (write a new file, then rename it
// over the old one): an in-place rewrite that keeps both the size and the
// modification time is not noticed.
//
// # Claims
//
// "exp" is required; "nbf" and "iat" are honoured; an "iat" in the future is
// invalid; all with a leeway of Config.Leeway (60 s by default). "iss" and
// "aud" are checked when Config.Issuer / Config.Audience are set. "sub" is the
// owner id: required, 1-255 bytes, no control characters.
//
// Scopes come from "scope" (space-separated string) or, when "scope" is
// absent, "scp" (array of strings, or a space-separated string). Only
// ScopeRead, ScopeWrite and ScopeAdmin are kept; other values are ignored.
// A token with neither claim has ScopeRead and ScopeWrite; ScopeAdmin is
// never implied. A present but empty claim grants no scope.
//
// # Caching verified tokens
//
// Clients send the same token with many requests, so a Verifier remembers
// the tokens that verified successfully (up to Config.CacheSize, 4096 by
// default; negative disables it), keyed by the SHA-256 of the token, and
// answers them again without parsing or signature checks. A remembered
// token is answered only while its "exp", "nbf" and "iat" pass the same
// checks (same leeway, same clock) as at the first verification, for at
// most one minute, and only with the keys that verified it: a key file
// reload forgets every token. Failures are never remembered: a bad token
// costs a full verification every time. When the cache is full the token
// remembered first is forgotten.
//
// # Hostile input
//
// Tokens longer than 8 KiB and JOSE headers longer than 2 KiB (encoded) are
// rejected before any parsing. Every failure of a token that was sent wraps
// ErrInvalidToken, with the reason in the message; nothing panics.
package auth
