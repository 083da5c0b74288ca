package auth

import (
	"fmt"
	"strings"
)

// BearerToken extracts the token from the value of an Authorization header of
// the form "Bearer <token>" (the scheme is case-insensitive; spaces around
// the token are ignored).
//
// An empty (or all-space) header gives ErrNoToken, and so do the
// credentials of another authentication scheme ("Basic …", "Digest …": a
// name of letters, digits and "-", a space, then anything), which carry no
// bearer token (RFC 6750 3.1: the challenge then names no error); the
// wrapping error names the scheme. A missing or empty token, a token with
// inner spaces or characters outside the RFC 6750 token alphabet (letters,
// digits, "-._~+/" and trailing "="), a value that is not of the form
// "scheme credentials" (a bare token, say), or a token longer than 8 KiB
// gives an error wrapping ErrInvalidToken.
func BearerToken(header string) (string, error) {
	h := strings.TrimSpace(header)
	if h == "" {
		return "", ErrNoToken
	}
	scheme, rest, spaced := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		if spaced && schemeName(scheme) {
			return "", fmt.Errorf("%w: authorization scheme %q is not Bearer", ErrNoToken, clip(scheme))
		}
		return "", invalid("authorization scheme %q is not Bearer", clip(scheme))
	}
	token := strings.TrimSpace(rest)
	switch {
	case token == "":
		return "", invalid("empty bearer token")
	case len(token) > maxTokenLen:
		return "", invalid("token is longer than %d bytes", maxTokenLen)
	case !isB64Token(token):
		return "", invalid("bearer token has characters outside the token alphabet")
	}
	return token, nil
}

// schemeName reports whether s looks like the name of an HTTP
// authentication scheme: letters, digits and "-" (Basic, Digest,
// Negotiate, AWS4-HMAC-SHA256). A JWT (with its dots) is not one.
func schemeName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return s != ""
}

// isB64Token reports whether s matches RFC 6750's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}
