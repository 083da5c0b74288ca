package scan

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/filestore-go/filestore"
)

// Options configures New. A nil *Options, and every zero field, takes the
// default given with the field.
type Options struct {
	// DialTimeout bounds connecting to clamd. Default 5s.
	DialTimeout time.Duration
	// ReadTimeout bounds every single wait on clamd: one reply (PONG, the
	// version, or a scan verdict after the whole stream was sent) and one
	// write of a chunk of the stream. A verdict for a large archive can take
	// clamd a while, so keep it generous. Default 60s.
	ReadTimeout time.Duration
	// ScanTimeout bounds a Scan from the moment it has its tenant's share
	// of connections (see MaxPerTenant; at once without a tenant), through
	// the wait for a free connection slot, to the verdict, including the
	// time spent waiting for the content reader. The wait for the share
	// itself is bounded by ctx only. A Scan that runs out of it before the
	// content has ended gives up with an error wrapping
	// filestore.ErrScanIncomplete (the content came too slowly). One that
	// runs out of it while waiting for a slot or for the verdict checks
	// clamd with a PING (within ProbeTimeout, which the Scan can take
	// beyond ScanTimeout): it gives up with an error wrapping
	// filestore.ErrScannerBusy when clamd answers (Put then refuses the
	// upload even under fail-open), with one wrapping
	// filestore.ErrScannerUnavailable when it does not. ReadTimeout's end
	// is checked the same way. Default 10m.
	ScanTimeout time.Duration
	// StallTimeout bounds how long a Scan waits for its reader to deliver
	// one chunk (ChunkSize bytes, or the end of the content). A reader that
	// is slower makes the Scan give up at once with an error wrapping
	// filestore.ErrScanIncomplete: its connection is closed and its slot
	// freed for other scans, so that stalled or trickling uploads cannot
	// hold every slot, and clamd always gets data before its own
	// ReadTimeout (120s by default) drops the stream. Keep it well under
	// clamd's ReadTimeout. Default 20s.
	StallTimeout time.Duration
	// ProbeAfter is how long a Scan waits on clamd (for a free slot, for
	// clamd to take a chunk of the stream, or for the verdict) before it
	// checks that clamd is alive with a PING on a new connection, and then
	// again every ProbeAfter of the wait. clamd answers PING from its main
	// thread, which only receives streams, so a clamd whose scanning
	// threads are all busy answers at once and its Scans go on waiting,
	// within ReadTimeout and ScanTimeout. A clamd that answers no PING
	// within ProbeTimeout is frozen (stopped, hung, or so overloaded that
	// its main thread waits for a free place in its queue): every Scan
	// under way, or queued for a slot, fails at once with an error
	// wrapping filestore.ErrScannerUnavailable, and new Scans check clamd
	// with a PING before they start (at most one PING per ProbeAfter, whose
	// failure they share) until one answers again. A ProbeAfter of
	// ReadTimeout or more checks only the wait for a slot. At least 10ms;
	// default 5s.
	ProbeAfter time.Duration
	// ProbeTimeout bounds that PING: connecting and the PONG. It also
	// bounds the wait for the VERSION that a Scan asks for once a minute,
	// which clamd answers from its main thread too (when ProbeTimeout is
	// shorter than ReadTimeout). At least 10ms; default 5s.
	ProbeTimeout time.Duration
	// ChunkSize is the size of the INSTREAM chunks sent to clamd, and of the
	// one buffer a Scan holds. 1 byte to 16 MiB; default 64 KiB.
	ChunkSize int
	// StreamMaxLength is clamd's StreamMaxLength, in bytes, when known. A
	// Scan whose content grows beyond it stops at once with an error
	// wrapping filestore.ErrScanLimit, instead of sending clamd bytes that it
	// would refuse. Zero means unknown: clamd's "INSTREAM size limit
	// exceeded" reply decides (it is mapped to ErrScanLimit too).
	StreamMaxLength int64
	// MaxConcurrent bounds how many scans talk to clamd at the same time;
	// further Scans wait for a slot (within ScanTimeout and their context).
	// A Scan frees its slot when its connection to clamd closes: after the
	// verdict, or at once when StallTimeout, ScanTimeout or its context
	// ends it, even while a Read of its content is still pending. Match it
	// to clamd's MaxThreads. Default 8.
	MaxConcurrent int
	// MaxPerTenant bounds how many of those connections the scans of one
	// tenant hold at once (storage.WithTenant; filestore's Put scans under
	// its owner's), so that one owner's slow uploads cannot hold every
	// connection while other owners' scans wait. A further scan of the
	// tenant waits for one of the tenant's own to end, within its context
	// only (those end within their ScanTimeout, so the wait can last about
	// ScanTimeout times the tenant's scans ahead of it over MaxPerTenant,
	// while its upload is not read), and its ScanTimeout starts once it has
	// the tenant's slot; the scans of other tenants, and scans
	// without a tenant, do not wait for it. Default half of MaxConcurrent,
	// at least 1; MaxConcurrent turns the limit off.
	MaxPerTenant int
	// Logger receives a debug record per scan. Default: slog.Default().
	Logger *slog.Logger
}

const (
	defaultDialTimeout   = 5 * time.Second
	defaultReadTimeout   = 60 * time.Second
	defaultScanTimeout   = 10 * time.Minute
	defaultStallTimeout  = 20 * time.Second
	defaultProbeAfter    = 5 * time.Second
	defaultProbeTimeout  = 5 * time.Second
	minProbe             = 10 * time.Millisecond // of ProbeAfter and ProbeTimeout
	defaultChunkSize     = 64 << 10
	maxChunkSize         = 16 << 20
	defaultMaxConcurrent = 8
)

// withDefaults returns a copy of o (nil is the zero Options) with every zero
// field set to its default, or an error wrapping
// filestore.ErrInvalidArgument for a negative or out-of-range value.
func (o *Options) withDefaults() (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"DialTimeout", &r.DialTimeout, defaultDialTimeout},
		{"ReadTimeout", &r.ReadTimeout, defaultReadTimeout},
		{"ScanTimeout", &r.ScanTimeout, defaultScanTimeout},
		{"StallTimeout", &r.StallTimeout, defaultStallTimeout},
		{"ProbeAfter", &r.ProbeAfter, defaultProbeAfter},
		{"ProbeTimeout", &r.ProbeTimeout, defaultProbeTimeout},
	} {
		if *d.v < 0 {
			return Options{}, fmt.Errorf("scan: %s %v is negative: %w", d.name, *d.v, filestore.ErrInvalidArgument)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ProbeAfter", r.ProbeAfter}, {"ProbeTimeout", r.ProbeTimeout}} {
		// A write deadline, or a PING, shorter than this would fail a
		// clamd that is doing well.
		if d.v < minProbe {
			return Options{}, fmt.Errorf("scan: %s %v is under %v: %w", d.name, d.v, minProbe, filestore.ErrInvalidArgument)
		}
	}
	switch {
	case r.ChunkSize == 0:
		r.ChunkSize = defaultChunkSize
	case r.ChunkSize < 0 || r.ChunkSize > maxChunkSize:
		return Options{}, fmt.Errorf("scan: ChunkSize %d is outside 1-%d: %w", r.ChunkSize, maxChunkSize, filestore.ErrInvalidArgument)
	}
	if r.StreamMaxLength < 0 {
		return Options{}, fmt.Errorf("scan: StreamMaxLength %d is negative: %w", r.StreamMaxLength, filestore.ErrInvalidArgument)
	}
	switch {
	case r.MaxConcurrent == 0:
		r.MaxConcurrent = defaultMaxConcurrent
	case r.MaxConcurrent < 0:
		return Options{}, fmt.Errorf("scan: MaxConcurrent %d is negative: %w", r.MaxConcurrent, filestore.ErrInvalidArgument)
	}
	switch {
	case r.MaxPerTenant == 0:
		r.MaxPerTenant = max(1, r.MaxConcurrent/2)
	case r.MaxPerTenant < 0 || r.MaxPerTenant > r.MaxConcurrent:
		return Options{}, fmt.Errorf("scan: MaxPerTenant %d is outside 1-%d (MaxConcurrent): %w", r.MaxPerTenant, r.MaxConcurrent, filestore.ErrInvalidArgument)
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	return r, nil
}
