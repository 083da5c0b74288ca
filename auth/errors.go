package auth

import (
	"errors"
	"fmt"
)

// Sentinel errors of Verify and BearerToken; test them with errors.Is.
var (
	// ErrNoToken means no token was sent: the Authorization header is absent
	// or empty, or holds another scheme's credentials (BearerToken), or
	// Verify was given an empty string.
	ErrNoToken = errors.New("auth: no token")
	// ErrInvalidToken means a token was sent but cannot be accepted: it is
	// malformed, uses an algorithm or key that is not configured, has a bad
	// signature, or its claims are expired, not yet valid or wrong. The
	// message of the wrapping error gives the reason.
	ErrInvalidToken = errors.New("auth: invalid token")
)

// invalid returns an error wrapping ErrInvalidToken whose message is
// "auth: invalid token: " followed by the formatted reason.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
}

// clip shortens attacker-controlled text quoted in an error message.
func clip(s string) string {
	const maxQuoted = 40
	if len(s) <= maxQuoted {
		return s
	}
	return s[:maxQuoted] + "..."
}
