package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Mint signs a token with the HMAC secret (HS256), for `filestored token` and
// tests. The token has "sub", "iat" (now) and "exp" (now+ttl); it has no
// "iss" nor "aud", so a Verifier that checks them refuses it (MintWith adds
// them). A nil scopes
// leaves out the "scope" claim (the token then has ScopeRead and
// ScopeWrite); a non-nil one is written as "scope", space-separated, so an
// empty one grants nothing. A zero now means time.Now().
//
// It fails when the secret is shorter than 32 bytes, sub is empty, longer
// than 255 bytes or has control characters, ttl is not positive, or a scope
// is empty or has spaces.
func Mint(secret []byte, sub string, scopes []string, ttl time.Duration, now time.Time) (string, error) {
	return MintWith(secret, sub, scopes, ttl, now, nil)
}

// MintOptions adds claims to a minted token.
type MintOptions struct {
	// Issuer, when set, is the token's "iss".
	Issuer string
	// Audience, when set, is the token's "aud" (a single audience).
	Audience string
}

// MintWith is Mint with the extra claims of opts (nil is the zero value),
// so that a Verifier configured with an Issuer and Audience accepts the
// token.
func MintWith(secret []byte, sub string, scopes []string, ttl time.Duration, now time.Time, opts *MintOptions) (string, error) {
	if opts == nil {
		opts = &MintOptions{}
	}
	switch {
	case len(secret) < minSecretLen:
		return "", fmt.Errorf("auth: mint: secret has %d bytes, at least %d are required", len(secret), minSecretLen)
	case sub == "" || len(sub) > maxSubLen:
		return "", fmt.Errorf("auth: mint: sub must have 1 to %d bytes", maxSubLen)
	case strings.ContainsFunc(sub, unicode.IsControl):
		return "", errors.New("auth: mint: sub contains control characters")
	case !utf8.ValidString(sub) || strings.ContainsRune(sub, utf8.RuneError):
		return "", errors.New("auth: mint: sub is not valid Unicode (or contains U+FFFD)")
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
	claims := jwt.Claims{
		Subject:  sub,
		Issuer:   opts.Issuer,
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(ttl)),
	}
	if opts.Audience != "" {
		claims.Audience = jwt.Audience{opts.Audience}
	}
	b := jwt.Signed(signer).Claims(claims)
	if scopes != nil {
		b = b.Claims(map[string]any{"scope": strings.Join(scopes, " ")})
	}
	tok, err := b.Serialize()
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return tok, nil
}
