package auth

import (
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4/jwt"
)

// maxSubLen is the longest accepted "sub" (owner id), in bytes.
const maxSubLen = 255

// tokenClaims is the payload of a token: the registered claims and scopes.
type tokenClaims struct {
	jwt.Claims
	// Scope is the OAuth "scope" claim; nil when absent (or null).
	Scope *string `json:"scope"`
	// Scp is an array of strings, or a space-separated string; nil when
	// absent (or null).
	Scp any `json:"scp"`
}

// caller validates the verified claims c at now and returns the caller they
// name.
func (v *Verifier) caller(c *tokenClaims, now time.Time) (*Caller, error) {
	if c.Expiry == nil {
		return nil, invalid("exp claim missing")
	}
	want := jwt.Expected{Issuer: v.issuer, Time: now}
	if v.audience != "" {
		want.AnyAudience = jwt.Audience{v.audience}
	}
	if err := c.ValidateWithLeeway(want, v.leeway); err != nil {
		return nil, claimsError(err)
	}
	switch {
	case c.Subject == "":
		return nil, invalid("sub claim missing or empty")
	case len(c.Subject) > maxSubLen:
		return nil, invalid("sub claim is longer than %d bytes", maxSubLen)
	case strings.ContainsFunc(c.Subject, unicode.IsControl):
		return nil, invalid("sub claim contains control characters")
	case strings.ContainsRune(c.Subject, utf8.RuneError):
		// The JSON decoder turns invalid UTF-8 and lone surrogate
		// escapes ("\ud800") into U+FFFD, so distinct subjects would
		// become one owner.
		return nil, invalid("sub claim is not valid Unicode (or contains U+FFFD)")
	}
	scopes, err := parseScopes(c.Scope, c.Scp)
	if err != nil {
		return nil, err
	}
	return &Caller{Owner: c.Subject, Scopes: scopes}, nil
}

// claimsError turns a go-jose claims validation error into our own.
func claimsError(err error) error {
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return invalid("token expired (exp)")
	case errors.Is(err, jwt.ErrNotValidYet):
		return invalid("token not valid yet (nbf)")
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return invalid("token issued in the future (iat)")
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return invalid("wrong issuer (iss)")
	case errors.Is(err, jwt.ErrInvalidAudience):
		return invalid("wrong audience (aud)")
	default:
		return invalid("claims: %v", err)
	}
}

// parseScopes returns the known scopes granted by the "scope" claim or, when
// it is absent, the "scp" claim; with neither, ScopeRead and ScopeWrite.
func parseScopes(scope *string, scp any) ([]string, error) {
	var given []string
	if scope != nil {
		given = scopeFields(*scope)
	} else {
		switch s := scp.(type) {
		case nil:
			return []string{ScopeRead, ScopeWrite}, nil
		case string:
			given = scopeFields(s)
		case []any:
			for _, e := range s {
				str, ok := e.(string)
				if !ok {
					return nil, invalid("scp claim is not an array of strings")
				}
				given = append(given, str)
			}
		default:
			return nil, invalid("scp claim is not an array of strings")
		}
	}
	var out []string
	for _, known := range []string{ScopeRead, ScopeWrite, ScopeAdmin} {
		if slices.Contains(given, known) {
			out = append(out, known)
		}
	}
	return out, nil
}

// scopeFields splits a scope string at ASCII white space (RFC 6749 3.3
// separates scopes with spaces; tabs and line ends are taken too). Other
// white space (U+00A0, U+3000, ...) stays inside a scope, which is then
// unknown: "profile\u00a0admin" grants nothing.
func scopeFields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
	})
}
