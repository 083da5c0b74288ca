package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Mint signs a token with the HMAC secret (HS256), for `filestored token` and
// tests. The token has "sub", "iat" (now) and "exp" (now+ttl); it has no
// "iss" nor "aud", so a Verifier that checks them refuses it. A nil scopes
// leaves out the "scope" claim (the token then has ScopeRead and
// ScopeWrite); a non-nil one is written as "scope", space-separated, so an
// empty one grants nothing. A zero now means time.Now().
//
// It fails when the secret is shorter than 32 bytes, sub is empty, longer
// than 255 bytes or has control characters, ttl is not positive, or a scope
// is empty or has spaces.
func Mint(secret []byte, sub string, scopes []string, ttl time.Duration, now time.Time) (string, error) {
	switch {
	case len(secret) < minSecretLen:
		return "", fmt.Errorf("auth: mint: secret has %d bytes, at least %d are required", len(secret), minSecretLen)
	case sub == "" || len(sub) > maxSubLen:
		return "", fmt.Errorf("auth: mint: sub must have 1 to %d bytes", maxSubLen)
	case strings.ContainsFunc(sub, unicode.IsControl):
		return "", errors.New("auth: mint: sub contains control characters")
	case ttl <= 0:
		return "", errors.New("auth: mint: ttl must be positive")
	}
	for _, s := range scopes {
		if s == "" || strings.ContainsFunc(s, unicode.IsSpace) {
			return "", fmt.Errorf("auth: mint: invalid scope %q", s)
		}
	}
	if now.IsZero() {
		now = time.Now()
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.HS256, Key: secret},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	b := jwt.Signed(signer).Claims(jwt.Claims{
		Subject:  sub,
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(ttl)),
	})
	if scopes != nil {
		b = b.Claims(map[string]any{"scope": strings.Join(scopes, " ")})
	}
	tok, err := b.Serialize()
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return tok, nil
}
