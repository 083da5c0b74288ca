package auth

import (
	"context"
	"slices"
)

// The scopes a token can grant.
const (
	// ScopeRead allows reading and listing the caller's own files.
	ScopeRead = "files:read"
	// ScopeWrite allows uploading, renaming, moving, deleting and restoring
	// the caller's own files.
	ScopeWrite = "files:write"
	// ScopeAdmin allows the administration routes. It is never implied.
	ScopeAdmin = "admin"
)

// Caller is the verified identity behind a token.
type Caller struct {
	// Owner is the token's "sub": the owner id of the caller's files.
	Owner string
	// Scopes holds the granted scopes among ScopeRead, ScopeWrite and
	// ScopeAdmin, in that order, without duplicates.
	Scopes []string
}

// Has reports whether the caller was granted scope. A nil Caller has no
// scope.
func (c *Caller) Has(scope string) bool {
	return c != nil && slices.Contains(c.Scopes, scope)
}

// callerKey is the context key of the Caller.
type callerKey struct{}

// NewContext returns a copy of ctx that carries c; FromContext gives it back.
func NewContext(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// FromContext returns the Caller stored in ctx by NewContext. It reports
// false when ctx carries none (or a nil Caller).
func FromContext(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	return c, ok && c != nil
}
