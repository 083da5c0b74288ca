package auth

import (
	"errors"
	"log/slog"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	defaultLeeway         = 60 * time.Second
	defaultReloadInterval = 10 * time.Second
)

// Config configures a Verifier. At least one of Secret and KeyFile must be
// set; both may be (HMAC tokens are then verified with the secret, the other
// algorithms with the key file).
type Config struct {
	// Secret is the HMAC key: its bytes, as given, are the key. At least 32
	// bytes (HS256); HS384 needs 48 and HS512 64. New copies it.
	Secret []byte
	// KeyFile is the path of a PEM public key file or a JWK Set (told apart
	// by content). It is re-read when it changes (see ReloadInterval).
	KeyFile string
	// Issuer, when not empty, must equal the token's "iss".
	Issuer string
	// Audience, when not empty, must be one of the token's "aud".
	Audience string
	// Leeway is the clock skew allowed for "exp", "nbf" and "iat". Zero means
	// 60 s; negative is an error.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives key file warnings and reload notices; nil discards them.
	Logger *slog.Logger
	// ReloadInterval is the least time between two checks of KeyFile for a
	// change, made on Verify. Zero means 10 s; negative never reloads.
	ReloadInterval time.Duration
	// CacheSize is the number of successfully verified tokens whose result
	// Verify remembers (keyed by the token's SHA-256), so that a token sent
	// again skips parsing and signature checks; see the package doc. Zero
	// means 4096 (a few MiB at most); negative disables the cache.
	CacheSize int
}

// withDefaults validates cfg and fills in its zero fields.
func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.Secret) == 0 && cfg.KeyFile == "" {
		return cfg, errors.New("auth: no key configured: set Secret or KeyFile")
	}
	if cfg.Leeway < 0 {
		return cfg, errors.New("auth: negative Leeway")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = defaultLeeway
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = defaultReloadInterval
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = defaultCacheSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}
