// Package storage keeps filestore's immutable objects in a gocloud.dev/blob
// bucket: a local directory (file://, made durable with fsync), memory
// (mem://, for tests) or S3 and S3-compatible servers (s3://).
//
// Objects live in one key space ("o/…") whose keys come from Bucket.NewKey;
// user-visible names never become keys. Beside it, at the root, a bucket
// holds one marker (MarkerKey) naming the catalogue it belongs to. A
// Writer makes an object visible only when Close succeeds, and for file://
// buckets only once its bytes and directory entry are on stable storage. Reads, deletes and listings are
// retried on transient errors with bounded, jittered backoff. Backend errors
// are translated here, in one place: a missing object is ErrNotFound.
package storage

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"gocloud.dev/blob"

	"github.com/filestore-go/filestore/internal/retry"
)

// Options configures a Bucket. A nil *Options is the zero value.
type Options struct {
	// Retry bounds the retries of reads, deletes and listing pages
	// after transient errors. The zero value is retry's default (5 attempts,
	// 50 ms doubling up to 2 s, with jitter).
	Retry retry.Policy
	// Logger receives a warning for each transient error that is retried.
	// Nil discards.
	Logger *slog.Logger
	// NoSync skips every fsync of a file:// bucket: Close still makes the
	// object visible atomically, but a power loss may lose it. It trades
	// durability for speed (tests, scratch data); other backends ignore it.
	NoSync bool
	// ResponseTimeout bounds how long an S3 request, once sent, waits for
	// the server's response headers; 0 means 2 minutes. A timeout is
	// transient. It is what bounds the requests whose answer a server may
	// take long to prepare, once it has received them: completing a
	// multipart upload (the server assembles the parts) and server-side
	// copies. Every other request waits no longer than StallTimeout either.
	// Other backends ignore it.
	ResponseTimeout time.Duration
	// StallTimeout bounds how long a connection to an S3 server may make
	// no progress: connecting, a write of the request that sends nothing,
	// waiting for the response's headers (except for the slow answers of
	// ResponseTimeout) and a read of its body that receives nothing. The
	// request then fails with an error wrapping ErrStalled, which is
	// transient. A transfer that keeps moving is never cut off, however
	// slow: the bound is on silence, not on the whole request. Only a
	// network so slow that the bytes a request leaves in the socket's
	// send buffer (a few MiB at most) take longer than StallTimeout to
	// leave is, in effect, taken for a stall: raise it for such links.
	//
	// It also bounds retries: an S3 operation whose tries have gone
	// unanswered twice (stalled, or without response headers within
	// ResponseTimeout) is retried no more, whatever Retry.Attempts allows;
	// tries that got an answer (a 5xx, SlowDown) keep Retry.Attempts. A
	// server that stops answering without closing its connections (a
	// frozen process, a black-holed network) thus fails each operation
	// with ErrStalled within about two StallTimeouts (60 s by default)
	// plus the backoff between tries, or, for the slow answers, two
	// ResponseTimeouts; a Writer's Close may take one StallTimeout more to
	// abort what it started. A done ctx ends any of them at once, with an
	// error wrapping ctx.Err(). 0 means 30 seconds. Other backends ignore
	// it.
	StallTimeout time.Duration
	// MaxObjectSize is the largest object a Writer must be able to store.
	// S3 takes at most 10000 parts per upload: the part size of an S3
	// writer is 5 MiB (S3's minimum) up to a MaxObjectSize of 50000 MiB
	// (48.8 GiB), and above it the smallest whole MiB that fits; each
	// writer holds up to six parts in memory (see WriteMemory). 0 means 5
	// MiB parts. Other backends ignore it.
	MaxObjectSize int64
	// WriteMemory bounds the memory that the bucket's S3 writers hold
	// together for the parts they upload. Each Writer reserves about six
	// parts (30 MiB with 5 MiB parts, see MaxObjectSize) from NewWriter to
	// Close, whatever the size of its object; the Writers of one tenant
	// (see WithTenant) hold at most half of the budget, and at least
	// one Writer (Writers without a tenant, only the budget). A NewWriter
	// that finds its tenant's half, or the budget, spent waits, first
	// come first served. It fails with an error wrapping ErrBusy once what
	// it waits for has not moved for WriteMemoryWait: for the tenant's
	// half, no Writer of the tenant closed or got the budget (nor, while
	// some of the tenant's wait for it, did the budget move); for the
	// budget, no Writer closed. It fails with an error wrapping ctx.Err()
	// if ctx ends first. Its caller, which has no Writer yet, reads
	// nothing meanwhile. A writer's reservation larger than WriteMemory
	// is cut to WriteMemory: one Writer can always proceed. 0 means 256 MiB (8
	// Writers of 5 MiB parts at once, 4 per tenant); negative means no
	// limit. Other backends ignore it: a local Writer holds no part in
	// memory.
	//
	// It bounds the part buffers of the writers that are open and of
	// those that closed since the last garbage collection: a closed
	// Writer's buffers stay on the heap, as garbage, until the collector
	// frees them, so its share goes back to the budget only after a
	// collection. When a NewWriter finds the budget spent by closed
	// Writers, it, or the Close it waits for, first runs one
	// (runtime.GC, which blocks the caller for one collection; at most one
	// per Writer that closes while the budget is spent). With 16 uploads
	// of 64 MiB at once and a budget of 64 MiB, the heap peaked 59-61 MiB
	// above the baseline, 1.56-1.78 times the budget when shares went back
	// at Close (BenchmarkS3UploadMemoryFreed); with 32 uploads of 8 MiB,
	// 208-219 MiB with the default, 112-117 MiB with 120 MiB, and 809-863
	// MiB with no limit (BenchmarkS3ConcurrentUploadMemory, writers without a
	// tenant). It does not bound the rest of the process's heap (the
	// callers' buffers, the SDK's requests, and, like all garbage, the
	// collector's headroom over it: GOGC, GOMEMLIMIT), nor the memory
	// that the runtime keeps from the operating system after it freed it.
	WriteMemory int64
	// WriteMemoryWait is how long a NewWriter waiting for its share of
	// WriteMemory (see there) goes on waiting after it starts, or after
	// the last close of a Writer it waits for, before it gives up. 0
	// means a minute; negative means until ctx ends.
	WriteMemoryWait time.Duration
}

// defaultResponseTimeout is Options.ResponseTimeout's default: long enough
// for a server that completes a large multipart upload before it answers.
const defaultResponseTimeout = 2 * time.Minute

// Bucket is an object store for filestore's immutable objects. It is safe for
// concurrent use. Create it with Open or New and release it with Close.
type Bucket struct {
	b        *blob.Bucket
	policy   retry.Policy
	log      *slog.Logger
	local    *localDir // non-nil for file:// buckets
	s3       *s3Bucket // non-nil for s3:// buckets
	pageSize int       // listing page size for remote buckets

	// Searches for the multipart uploads of failed S3 writers (see reap).
	reapMu     sync.Mutex
	reapStop   chan struct{} // closed by Close; nil once closed
	reaping    sync.WaitGroup
	reapCtx    context.Context // the searches' context; reapCancel ends it
	reapCancel context.CancelFunc
}

// defaultPageSize is the listing page size of remote buckets (S3's maximum).
const defaultPageSize = 1000

// New wraps an existing bucket; the Bucket takes ownership of b and closes it
// in Close. Durability is b's own: New adds no fsyncs, even when b is a
// fileblob bucket (use Open with a file:// URL for that). A nil opts is the
// zero value; NoSync is ignored.
func New(b *blob.Bucket, opts *Options) *Bucket {
	return newBucket(b, opts)
}

func newBucket(b *blob.Bucket, opts *Options) *Bucket {
	if opts == nil {
		opts = &Options{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reapCtx, reapCancel := context.WithCancel(context.Background())
	return &Bucket{b: b, policy: opts.Retry, log: log, pageSize: defaultPageSize,
		reapStop: make(chan struct{}), reapCtx: reapCtx, reapCancel: reapCancel}
}

// Ping checks cheaply that the bucket answers: for a local directory that it
// still exists, for a remote bucket that a one-key listing succeeds. It
// returns an error wrapping ErrNoBucket if the bucket does not exist, and the
// context's error if ctx is done first. Ping is not retried.
func (b *Bucket) Ping(ctx context.Context) error {
	// Not every driver asks ctx (memblob answers at once).
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storage: ping: %w", err)
	}
	if b.local != nil {
		fi, err := os.Stat(b.local.root)
		switch {
		case os.IsNotExist(err):
			return fmt.Errorf("storage: ping %s: %w", b.local.root, ErrNoBucket)
		case err != nil:
			return fmt.Errorf("storage: ping: %w", err)
		case !fi.IsDir():
			return fmt.Errorf("storage: ping %s: not a directory: %w", b.local.root, ErrNoBucket)
		}
		return ctx.Err()
	}
	ok, err := b.b.IsAccessible(ctx)
	if err != nil {
		return fmt.Errorf("storage: ping: %w", err)
	}
	if !ok {
		return fmt.Errorf("storage: ping: %w", ErrNoBucket)
	}
	return nil
}

// Close releases the bucket. Writers and readers still open must not be used
// afterwards; later calls on b fail (a second Close too), except a local
// bucket's Ping, which only checks its directory. On S3 it first makes its last search
// for the multipart uploads that failed Writers may have left (see
// Writer.Close), for about 2 s at most.
func (b *Bucket) Close() error {
	b.stopReaping()
	if err := b.b.Close(); err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}
