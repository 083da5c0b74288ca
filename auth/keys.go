package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// Limits on secrets and keys.
const (
	minSecretLen = 32   // bytes of an HMAC secret for HS256
	minRSABits   = 2048 // smallest RSA modulus accepted
	maxRSABits   = 8192 // largest RSA modulus accepted (bounds verify cost)
)

// keyOrigin says where a verification key came from; it decides how the
// token's "kid" is matched.
type keyOrigin int

const (
	originSecret keyOrigin = iota // Config.Secret: ignores kid
	originPEM                     // a PEM key file: ignores kid
	originJWKS                    // a JWK (Set) key file: matched by kid
)

// verificationKey is one configured key with the algorithms it verifies.
type verificationKey struct {
	origin keyOrigin
	kid    string
	algs   []jose.SignatureAlgorithm
	// key is []byte (secret only), *rsa.PublicKey, *ecdsa.PublicKey or
	// ed25519.PublicKey.
	key any
}

// keySet is an immutable snapshot of every configured key. A Verifier swaps
// whole snapshots atomically when the key file is reloaded.
type keySet struct {
	keys []verificationKey
	// algs is the union of the keys' algorithms: nothing else is parsed.
	algs []jose.SignatureAlgorithm
	// jwksKeys counts the keys that came from a JWK Set.
	jwksKeys int
}

// newKeySet builds a snapshot from the secret's key (if any) and the key
// file's keys.
func newKeySet(keys ...[]verificationKey) *keySet {
	s := &keySet{}
	for _, ks := range keys {
		for _, k := range ks {
			s.keys = append(s.keys, k)
			if k.origin == originJWKS {
				s.jwksKeys++
			}
			for _, a := range k.algs {
				if !slices.Contains(s.algs, a) {
					s.algs = append(s.algs, a)
				}
			}
		}
	}
	return s
}

// accepts reports whether some key verifies alg.
func (s *keySet) accepts(alg jose.SignatureAlgorithm) bool {
	return slices.Contains(s.algs, alg)
}

// candidates returns the keys that may verify a token with the given alg and
// kid header values, in configuration order (see the package doc).
func (s *keySet) candidates(alg jose.SignatureAlgorithm, kid string) []verificationKey {
	var out []verificationKey
	for _, k := range s.keys {
		if !slices.Contains(k.algs, alg) {
			continue
		}
		if k.origin == originJWKS && k.kid != kid && (kid != "" || s.jwksKeys != 1) {
			continue
		}
		out = append(out, k)
	}
	return out
}

// secretKey turns an HMAC secret into a key allowing HS256, and HS384/HS512
// when the secret is long enough for them.
func secretKey(secret []byte) (verificationKey, error) {
	if len(secret) < minSecretLen {
		return verificationKey{}, fmt.Errorf("auth: secret has %d bytes, at least %d are required", len(secret), minSecretLen)
	}
	algs := []jose.SignatureAlgorithm{jose.HS256}
	if len(secret) >= 48 {
		algs = append(algs, jose.HS384)
	}
	if len(secret) >= 64 {
		algs = append(algs, jose.HS512)
	}
	return verificationKey{origin: originSecret, algs: algs, key: slices.Clone(secret)}, nil
}

// publicKeyAlgorithms returns the algorithms a public key verifies, or an
// error for a key type, curve or size that is not supported.
func publicKeyAlgorithms(key any) ([]jose.SignatureAlgorithm, error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		if bits < minRSABits || bits > maxRSABits {
			return nil, fmt.Errorf("RSA key has %d bits, %d to %d are supported", bits, minRSABits, maxRSABits)
		}
		return []jose.SignatureAlgorithm{jose.RS256, jose.PS256}, nil
	case *ecdsa.PublicKey:
		if k.Curve == nil || k.Curve.Params().Name != "P-256" {
			return nil, fmt.Errorf("EC key is not on curve P-256 (only ES256 is supported)")
		}
		return []jose.SignatureAlgorithm{jose.ES256}, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("Ed25519 key has %d bytes", len(k))
		}
		return []jose.SignatureAlgorithm{jose.EdDSA}, nil
	default:
		return nil, fmt.Errorf("unsupported key type %T", key)
	}
}
