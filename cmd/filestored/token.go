package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/filestore-go/filestore/auth"
)

// tokenOnly returns the flags of `filestored token` alone; they have no
// FILESTORE_* variable (an environment set for the server must not choose
// whose tokens are minted).
func tokenOnly() []string { return []string{"sub", "scope", "ttl"} }

// runToken is `filestored token`: it prints a token for --sub signed with
// the secret the server uses (--jwt-secret, or <data-dir>/jwt.secret, which
// the server creates on its first start; without it token refuses).
func runToken(args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("filestored token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	registerConfig(fs, &c)
	sub := fs.String("sub", "", "the owner id (the token's sub); required")
	scope := fs.String("scope", auth.ScopeRead+" "+auth.ScopeWrite, "space-separated scopes: files:read, files:write, admin")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	fs.Usage = func() { usage(fs, stderr, usageHead, tokenOnly()...) }
	if err := parseFlags(fs, args, env, tokenOnly()...); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *sub == "" {
		return fmt.Errorf("%w: token needs --sub", errUsage)
	}
	if *ttl <= 0 {
		return fmt.Errorf("%w: --ttl must be positive, not %s", errUsage, *ttl)
	}
	scopes := strings.Fields(*scope)
	if len(scopes) == 0 {
		// A token without scopes is refused by every route that needs one.
		return fmt.Errorf("%w: token needs at least one --scope (files:read, files:write or admin)", errUsage)
	}
	for _, s := range scopes {
		if !slices.Contains([]string{auth.ScopeRead, auth.ScopeWrite, auth.ScopeAdmin}, s) {
			return fmt.Errorf("%w: unknown scope %q (want files:read, files:write or admin)", errUsage, s)
		}
	}
	if err := c.resolve(); err != nil {
		return err
	}
	if c.jwtSecret == "" && c.jwtKeys == "" {
		// The server makes the secret on its first start; made here, in
		// a data directory that is not the server's (a typo), it would
		// sign tokens the server refuses.
		path := filepath.Join(c.dataDir, auth.SecretFile)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: no secret at %s: start the server once with this --data-dir (it creates the secret), or give --jwt-secret", errUsage, path)
		}
	}
	secret, err := c.secret()
	if err != nil {
		return err
	}
	if secret == nil {
		return fmt.Errorf("%w: the server verifies tokens with --jwt-keys only; `filestored token` needs the HMAC secret (--jwt-secret)", errUsage)
	}
	// The token carries the iss and aud the server checks, if any.
	tok, err := auth.MintWith(secret, *sub, scopes, *ttl, time.Time{}, &auth.MintOptions{Issuer: c.jwtIssuer, Audience: c.jwtAudience})
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// secret is the HMAC secret of the configuration: --jwt-secret, else the
// generated one in the data directory unless --jwt-keys is given (then
// nil: public keys only).
func (c *config) secret() ([]byte, error) {
	switch {
	case c.jwtSecret != "":
		if strings.TrimSpace(c.jwtSecret) != c.jwtSecret {
			// A secret read from a file (a Kubernetes secret among them)
			// often ends with a newline that its issuer may or may not
			// sign with: say so rather than refuse every token.
			return nil, fmt.Errorf("%w: --jwt-secret begins or ends with white space (a newline from a file?); remove it", errUsage)
		}
		return []byte(c.jwtSecret), nil
	case c.jwtKeys != "":
		return nil, nil
	}
	s, err := auth.LoadOrCreateSecret(c.dataDir)
	if err != nil {
		return nil, fmt.Errorf("jwt secret: %w", err)
	}
	return s, nil
}

// warnSecretMode logs a warning when the generated secret's file (used
// when neither --jwt-secret nor --jwt-keys is given) can be read by anyone
// but its owner: whoever reads it can mint tokens for every owner.
func (c *config) warnSecretMode(logger *slog.Logger) {
	if c.jwtSecret != "" || c.jwtKeys != "" {
		return
	}
	path := filepath.Join(c.dataDir, auth.SecretFile)
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("the JWT secret file can be read by others than its owner, who could then mint any token; chmod 600 it",
			"path", path, "mode", fi.Mode().Perm().String())
	}
}
