package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"reflect"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/filestore-go/filestore"
)

// Config configures New. Every field but Auth has a useful zero value.
type Config struct {
	// Auth tells who is calling a /v1 route. Required: New fails without
	// it. JWT(verifier) authenticates bearer tokens; any other
	// Authenticator (API keys, sessions, mTLS) works too.
	Auth Authenticator

	// MaxSize is the largest upload accepted, in bytes. The request body
	// is cut off as soon as it crosses the limit (413), and the limit is
	// passed to Store.Put as PutOptions.MaxSize. Default 5 GiB.
	MaxSize int64

	// RateIP is the number of requests per second allowed per client IP
	// address (IPv6 addresses are grouped by /64), with a burst of twice
	// that. RateUser is the same per owner, counted after authentication.
	// Zero turns the limit off. cmd/filestored defaults them to 50 and 20.
	RateIP, RateUser float64
	// RateMaxKeys caps how many clients each limiter tracks; past it the
	// least recently seen one is forgotten. Default 100000.
	RateMaxKeys int

	// MaxUploadsPerOwner is how many uploads one owner may have in
	// progress at once; one more is answered 429 (rate_limited, with
	// Retry-After) before its body is read. Each upload in progress holds
	// about a megabyte of buffers and possibly a scan slot, so without a
	// cap one owner could hold them without bound (a slow upload is never
	// cut while it keeps sending). Default 64 (DefaultMaxUploadsPerOwner):
	// about 50 MB of an owner's stalled uploads, and room for a load of 64
	// clients of one owner. Negative turns the cap off. cmd/filestored's
	// --uploads-per-user.
	MaxUploadsPerOwner int
	// MaxUploads is how many uploads the Handler has in progress at once,
	// over all owners; one more is answered 503 (unavailable, with
	// Retry-After) before its body is read, so that many owners together
	// cannot hold the server's memory without bound either. Default 256
	// (DefaultMaxUploads): about 200 MB of stalled uploads. Negative
	// turns the cap off. cmd/filestored's --max-uploads.
	MaxUploads int

	// MaxDownloadsPerOwner is how many GETs of content one owner may have
	// in progress at once, counted from before the object is opened until
	// the handler returns (the body fully written, or the client gone);
	// one more is answered 429 (rate_limited, with Retry-After: 1) without
	// opening the object. HEAD is not counted: it holds nothing for long.
	// Each download in progress holds a connection, an open object (a
	// file descriptor of a local bucket) and goroutines, and one that is
	// read slowly enough to beat BodyTimeout is never cut: without a cap,
	// one owner's slow readers could spend the process's file descriptors
	// for everyone. Default 64 (DefaultMaxDownloadsPerOwner); negative
	// turns the cap off. cmd/filestored's --downloads-per-user.
	MaxDownloadsPerOwner int
	// MaxDownloads is how many GETs of content the Handler has in
	// progress at once, over all owners; one more is answered 503
	// (unavailable, with Retry-After) without opening the object, so that
	// many owners together cannot spend the file descriptors either.
	// Default 1024 (DefaultMaxDownloads); negative turns the cap off.
	// cmd/filestored's --max-downloads.
	MaxDownloads int

	// TrustedProxies are the networks of reverse proxies whose
	// X-Forwarded-For is believed. The client IP is then the right-most
	// X-Forwarded-For entry that is not itself a trusted proxy. Empty: the
	// client IP is the connection's peer and X-Forwarded-For is ignored.
	TrustedProxies []netip.Prefix

	// MaxRanges is the largest number of ranges one Range header may ask
	// for; a request for more is answered with the whole content (200), as
	// RFC 9110 allows. Default 100.
	MaxRanges int

	// BodyTimeout is how long a read of the request body, or a write of
	// the response, may wait for the peer. The deadline moves forward at
	// every read and write, so a slow upload that keeps sending is never
	// cut, and a stalled one is. Default 60s; negative turns it off. It
	// replaces http.Server's ReadTimeout and WriteTimeout, which cut long
	// transfers: leave those zero (ReadHeaderTimeout is still wanted).
	BodyTimeout time.Duration

	// Collect is passed to Store.Collect by POST /v1/admin/gc; nil uses the
	// Store's configured retention and staging TTL.
	Collect *filestore.CollectOptions

	// Logger receives one line per request (and panics). Default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock of the rate limiters and the request log. Default
	// time.Now.
	Now func() time.Time
	// Registry receives the Handler's metrics and is served on /metrics.
	// Default: a new private registry with the Go and process collectors
	// (NewRegistry).
	Registry *prometheus.Registry
	// NewRequestID makes request ids for requests without a usable
	// X-Request-Id. Default: 32 random hex digits.
	NewRequestID func() string
}

// Defaults used for zero Config fields.
const (
	// DefaultMaxSize is Config.MaxSize's default: 5 GiB.
	DefaultMaxSize = 5 << 30
	// DefaultRateMaxKeys is Config.RateMaxKeys's default.
	DefaultRateMaxKeys = 100_000
	// DefaultMaxRanges is Config.MaxRanges's default.
	DefaultMaxRanges = 100
	// DefaultBodyTimeout is Config.BodyTimeout's default.
	DefaultBodyTimeout = 60 * time.Second
	// DefaultMaxUploadsPerOwner is Config.MaxUploadsPerOwner's default.
	DefaultMaxUploadsPerOwner = 64
	// DefaultMaxUploads is Config.MaxUploads's default.
	DefaultMaxUploads = 256
	// DefaultMaxDownloadsPerOwner is Config.MaxDownloadsPerOwner's default.
	DefaultMaxDownloadsPerOwner = 64
	// DefaultMaxDownloads is Config.MaxDownloads's default.
	DefaultMaxDownloads = 1024
)

// ErrInvalidConfig is wrapped by the errors New returns for a nil Store or
// an invalid Config.
var ErrInvalidConfig = errors.New("httpapi: invalid configuration")

// nilAuth reports whether a authenticates nothing: nil, a nil
// AuthenticatorFunc, or JWT of a nil TokenVerifier (a nil interface or a
// nil pointer), each of which would panic at the first request.
func nilAuth(a Authenticator) bool {
	switch a := a.(type) {
	case nil:
		return true
	case AuthenticatorFunc:
		return a == nil
	case jwtAuthenticator:
		if a.v == nil {
			return true
		}
		v := reflect.ValueOf(a.v)
		return v.Kind() == reflect.Pointer && v.IsNil()
	}
	return false
}

// withDefaults checks c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if nilAuth(c.Auth) {
		return c, fmt.Errorf("%w: Auth is required (a nil AuthenticatorFunc, or JWT of a nil verifier, is none)", ErrInvalidConfig)
	}
	switch {
	case c.MaxSize < 0:
		return c, fmt.Errorf("%w: negative MaxSize %d", ErrInvalidConfig, c.MaxSize)
	case c.MaxSize == 0:
		c.MaxSize = DefaultMaxSize
	}
	if c.MaxUploadsPerOwner == 0 {
		c.MaxUploadsPerOwner = DefaultMaxUploadsPerOwner
	}
	if c.MaxUploads == 0 {
		c.MaxUploads = DefaultMaxUploads
	}
	if c.MaxDownloadsPerOwner == 0 {
		c.MaxDownloadsPerOwner = DefaultMaxDownloadsPerOwner
	}
	if c.MaxDownloads == 0 {
		c.MaxDownloads = DefaultMaxDownloads
	}
	for _, r := range []float64{c.RateIP, c.RateUser} {
		// NaN passes "< 0"; it and the infinities would turn limiting off.
		if r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
			return c, fmt.Errorf("%w: rate limits must be finite and not negative (RateIP %v, RateUser %v)", ErrInvalidConfig, c.RateIP, c.RateUser)
		}
	}
	if c.RateMaxKeys <= 0 {
		c.RateMaxKeys = DefaultRateMaxKeys
	}
	if c.MaxRanges <= 0 {
		c.MaxRanges = DefaultMaxRanges
	}
	if c.BodyTimeout == 0 {
		c.BodyTimeout = DefaultBodyTimeout
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return c, fmt.Errorf("%w: invalid trusted proxy prefix %v", ErrInvalidConfig, p)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NewRequestID == nil {
		c.NewRequestID = randomHex16
	}
	return c, nil
}
