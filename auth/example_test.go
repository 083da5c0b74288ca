package auth_test

import (
	"context"
	"fmt"
	"time"

	"github.com/filestore-go/filestore/auth"
)

func Example() {
	secret := []byte("0123456789abcdef0123456789abcdef") // at least 32 bytes
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	v, err := auth.New(auth.Config{Secret: secret, Now: func() time.Time { return now }})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()

	tok, err := auth.Mint(secret, "alice", []string{auth.ScopeRead}, time.Hour, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	raw, err := auth.BearerToken("Bearer " + tok)
	if err != nil {
		fmt.Println(err)
		return
	}
	caller, err := v.Verify(context.Background(), raw)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := auth.NewContext(context.Background(), caller)
	c, _ := auth.FromContext(ctx)
	fmt.Println(c.Owner, c.Scopes, c.Has(auth.ScopeWrite))

	_, err = v.Verify(context.Background(), "not-a-jwt")
	fmt.Println(err)
	// Output:
	// alice [files:read] false
	// auth: invalid token: malformed token: want 3 dot-separated parts
}
