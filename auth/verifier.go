package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Limits on untrusted tokens, checked before any parsing.
const (
	maxTokenLen  = 8 << 10 // bytes of a whole compact token
	maxHeaderLen = 2 << 10 // bytes of its base64url-encoded JOSE header
)

// Verifier verifies bearer tokens against the configured keys. It is safe for
// concurrent use.
type Verifier struct {
	secretKeys []verificationKey // zero or one key, from Config.Secret
	path       string
	issuer     string
	audience   string
	leeway     time.Duration
	now        func() time.Time
	log        *slog.Logger
	interval   time.Duration // < 0: never reload
	cache      *tokenCache   // nil: no caching

	keys      atomic.Pointer[keySet]
	nextCheck atomic.Int64 // Config.Now UnixNano at which the key file is due for a check
	closed    atomic.Bool

	mu       sync.Mutex  // serialises key file checks; guards the fields below
	fileInfo os.FileInfo // the key file as last read, successfully or not
	readErr  string      // last stat/read error logged, to log it once
}

// New returns a Verifier for cfg. It fails when neither Secret nor KeyFile is
// set, when Secret is shorter than 32 bytes, when Leeway is negative, or when
// KeyFile cannot be read or holds no usable key. The caller must Close the
// Verifier when done with it.
func New(cfg Config) (*Verifier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	v := &Verifier{
		path:     cfg.KeyFile,
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		leeway:   cfg.Leeway,
		now:      cfg.Now,
		log:      cfg.Logger,
		interval: cfg.ReloadInterval,
		cache:    newTokenCache(cfg.CacheSize),
	}
	if len(cfg.Secret) > 0 {
		k, err := secretKey(cfg.Secret)
		if err != nil {
			return nil, err
		}
		v.secretKeys = []verificationKey{k}
	}
	var fileKeys []verificationKey
	if v.path != "" {
		fi, data, err := readKeyFile(v.path)
		if err != nil {
			return nil, fmt.Errorf("auth: key file: %w", err)
		}
		if fileKeys, err = parseKeyFile(data, v.log, v.path); err != nil {
			return nil, fmt.Errorf("auth: key file %s: %w", v.path, err)
		}
		v.fileInfo = fi
	}
	v.keys.Store(newKeySet(v.secretKeys, fileKeys))
	v.nextCheck.Store(v.now().Add(v.interval).UnixNano())
	return v, nil
}

// Close stops the reloading of the key file. Verify keeps working with the
// keys loaded last. Close is safe to call more than once and always returns
// nil.
func (v *Verifier) Close() error {
	v.closed.Store(true)
	return nil
}

// Verify checks token (a JWS in compact serialization, without the "Bearer "
// prefix) and returns its caller.
//
// An empty token gives ErrNoToken. Anything wrong with a token that was sent
// gives an error wrapping ErrInvalidToken whose message says why. A ctx that
// is already done gives its error (wrapped), not ErrInvalidToken. Verify may
// re-read the key file first (see Config.ReloadInterval).
//
// A token that verified successfully is remembered (see Config.CacheSize):
// sent again, it is answered without parsing or signature checks while every
// time check above still passes at Config.Now, for at most a minute, and
// until the keys are reloaded. Failures are never remembered. Each call
// returns a new Caller that the caller may modify.
func (v *Verifier) Verify(ctx context.Context, token string) (*Caller, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("auth: verify: %w", err)
	}
	if token == "" {
		return nil, ErrNoToken
	}
	if len(token) > maxTokenLen {
		return nil, invalid("token is longer than %d bytes", maxTokenLen)
	}
	v.maybeReload()
	ks := v.keys.Load()
	now := v.now()
	var key [sha256.Size]byte
	if v.cache != nil {
		key = cacheKey(token)
		if c, ok := v.cache.get(key, ks, now, v.leeway); ok {
			return c, nil
		}
	}

	hdr, err := parseHeader(token)
	if err != nil {
		return nil, err
	}
	alg := jose.SignatureAlgorithm(hdr.Alg)
	if !ks.accepts(alg) {
		return nil, invalid("algorithm %q is not accepted", clip(hdr.Alg))
	}
	cands := ks.candidates(alg, hdr.Kid)
	if len(cands) == 0 {
		return nil, invalid("no configured key for algorithm %s and kid %q", alg, clip(hdr.Kid))
	}
	// Only the algorithm chosen above is allowed: go-jose must read the same
	// "alg" as parseHeader did, or refuse the token.
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{alg})
	if err != nil {
		return nil, invalid("malformed token: %v", err)
	}
	if err := verifySignature(tok, cands); err != nil {
		return nil, err
	}
	var c tokenClaims
	// The signature over exactly this payload was verified just above.
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return nil, invalid("malformed claims: %v", err)
	}
	caller, err := v.caller(&c, now)
	if err != nil {
		return nil, err
	}
	v.cache.put(key, ks, now, &c.Claims, caller)
	return caller, nil
}

// header holds the JOSE header fields used to choose a key.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// parseHeader checks the token's shape and decodes its JOSE header.
func parseHeader(token string) (header, error) {
	var h header
	if strings.Count(token, ".") != 2 {
		return h, invalid("malformed token: want 3 dot-separated parts")
	}
	enc, _, _ := strings.Cut(token, ".")
	if len(enc) > maxHeaderLen {
		return h, invalid("header is longer than %d bytes", maxHeaderLen)
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return h, invalid("malformed header: not base64url")
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, invalid("malformed header: not a JSON object with string alg and kid")
	}
	return h, nil
}

// verifySignature verifies tok with each candidate key in turn until one
// succeeds.
func verifySignature(tok *jwt.JSONWebToken, cands []verificationKey) error {
	var err error
	for _, k := range cands {
		// Claims with no destination verifies the signature only.
		if err = tok.Claims(k.key); err == nil {
			return nil
		}
	}
	if errors.Is(err, jose.ErrCryptoFailure) {
		return invalid("bad signature")
	}
	return invalid("signature not verified: %v", err)
}
