package filestore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/internal/redact"
	"github.com/filestore-go/filestore/internal/retry"
	"github.com/filestore-go/filestore/storage"
	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"gocloud.dev/blob"
)

// Service is the Store implementation: a SQL catalogue (package dedup) over
// an object storage bucket (package storage). Make one with Open or New.
type Service struct {
	cat    *dedup.Catalog
	bucket *storage.Bucket
	opts   Options
	log    *slog.Logger

	ownDB     *bun.DB // closed by Close when Open opened it
	ownBucket bool

	chunks    sync.Pool // *chunk buffers of the upload pass
	closed    atomic.Bool
	dedupHits atomic.Uint64
	// closing is cancelled by Close, and with it the uploads in flight
	// (see whileOpen).
	closing  context.Context
	stopPuts context.CancelFunc

	// claimed is set once the bucket's marker names the catalogue (see
	// claimBucket); until then Put, Collect and Ping try again, one at a
	// time (claimLock, a semaphore of one that a wait can give up on).
	claimed   atomic.Bool
	claimLock chan struct{}
}

var _ Store = (*Service)(nil)

// Open opens the database and bucket named by opts.Database and
// opts.Bucket (defaults: sqlite://./data/filestore.db and
// file://./data/blobs), brings the catalogue's schema up to date, binds
// the bucket to the catalogue and returns the Store. Close releases both.
// Cancelling ctx aborts the opening.
//
// A bucket (a bucket URL's prefix) belongs to one catalogue: the first
// Store to open it writes a marker object naming its catalogue at the
// prefix's root, and a Store of another catalogue (another database) is
// refused with an error wrapping ErrBucketInUse that names the bucket and
// both catalogues. Any number of Stores of one catalogue share a bucket.
// A bucket that cannot be reached does not fail Open, nor holds it for
// more than about 5 s (one bounded check of the marker): Put, Ping and
// Collect check its marker, each for at most as long, until that
// succeeds, and fail with ErrUnavailable meanwhile; nothing is written to
// a bucket whose marker has not been checked. A database that cannot be reached is tried again as the
// retry options allow, for a server that is still starting (RetryAttempts
// and RetryBaseDelay: about 0.75 s by default; filestored's 8 attempts
// ride out about 5 s); then the error wraps ErrUnavailable.
//
// Options Open cannot use give an error wrapping ErrInvalidArgument that
// names them: a ScanPolicy or ScanOversize other than the constants, a
// database URL of another scheme than sqlite:// or postgres:// or with
// parameters that are refused, and a bucket URL that storage.Open refuses
// (the error wraps storage.ErrInvalidURL too). Such options are refused
// before Open makes anything: no SQLite file, no bucket directory.
func Open(ctx context.Context, opts Options) (*Service, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	// Both URLs are refused before either is opened: opening makes things
	// (a SQLite file, a local bucket's directory) that a refusal of the
	// other would leave behind.
	if err := dedup.CheckURL(ctx, opts.Database); err != nil {
		return nil, fmt.Errorf("filestore: open database: %w: %w", ErrInvalidArgument, err)
	}
	b, err := storage.Open(ctx, opts.Bucket, &storage.Options{Retry: opts.retry(), Logger: opts.Logger, MaxObjectSize: opts.MaxSize, StallTimeout: opts.S3StallTimeout, WriteMemory: opts.S3UploadMemory})
	if err != nil {
		if errors.Is(err, storage.ErrInvalidURL) {
			return nil, fmt.Errorf("filestore: open bucket: %w: %w", ErrInvalidArgument, err)
		}
		return nil, fmt.Errorf("filestore: open bucket: %w", err)
	}
	db, err := openDB(ctx, opts)
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	s, err := newService(ctx, db, b, opts)
	if errors.Is(err, ErrBucketInUse) {
		err = fmt.Errorf("filestore: bucket %s: %w", redact.URL(opts.Bucket), err)
	}
	if err != nil {
		_ = b.Close()
		_ = db.Close()
		return nil, err
	}
	s.ownDB, s.ownBucket = db, true
	return s, nil
}

// openDB opens opts.Database. While the database cannot be reached (a
// server still starting, or restarting), it tries again as the retry
// policy allows, with a warning for each failed try; the error then wraps
// ErrUnavailable.
func openDB(ctx context.Context, opts Options) (*bun.DB, error) {
	var db *bun.DB
	tries := 0
	err := retry.Do(ctx, opts.retry(), dedup.IsTransient, func(ctx context.Context) error {
		tries++
		var err error
		db, err = dedup.OpenDB(ctx, opts.Database)
		if err != nil && dedup.IsTransient(err) {
			opts.Logger.WarnContext(ctx, "filestore: database not reachable", "try", tries, "error", err)
		}
		return err
	})
	switch {
	case err == nil:
		return db, nil
	case dedup.IsTransient(err):
		return nil, fmt.Errorf("filestore: open database: %w: %w", ErrUnavailable, err)
	case errors.Is(err, dedup.ErrInvalidURL):
		return nil, fmt.Errorf("filestore: open database: %w: %w", ErrInvalidArgument, err)
	default:
		return nil, fmt.Errorf("filestore: open database: %w", err)
	}
}

// New returns a Store over an existing database and bucket, which the caller
// keeps ownership of (Close does not close them). opts.Database and
// opts.Bucket are ignored. The bucket's durability is its own: use Open
// with a file:// URL for filestore's durable local directory. The bucket
// is bound to the catalogue as Open binds it (ErrBucketInUse when it
// belongs to another); two catalogues racing on an empty bucket are told
// apart only as far as the bucket's driver honours
// blob.WriterOptions.IfNotExist (S3 and memblob do; fileblob within one
// process). A nil db or bucket, and options Open refuses, give an error
// wrapping ErrInvalidArgument before either is used. Cancelling ctx aborts
// the schema check and the bucket's claim, as in Open.
func New(ctx context.Context, db *bun.DB, bucket *blob.Bucket, opts Options) (*Service, error) {
	if db == nil || bucket == nil {
		return nil, fmt.Errorf("%w: New needs a database and a bucket", ErrInvalidArgument)
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return newService(ctx, db, storage.New(bucket, &storage.Options{Retry: opts.retry(), Logger: opts.Logger}), opts)
}

func newService(ctx context.Context, db *bun.DB, b *storage.Bucket, opts Options) (*Service, error) {
	cat, err := dedup.New(ctx, db, &dedup.Options{Retry: opts.retry(), Now: opts.Now, Logger: opts.Logger, TryTimeout: opts.DBTryTimeout})
	if err != nil {
		return nil, fmt.Errorf("filestore: catalogue: %w", err)
	}
	s := &Service{cat: cat, bucket: b, opts: opts, log: opts.Logger, claimLock: make(chan struct{}, 1)}
	s.closing, s.stopPuts = context.WithCancel(context.Background())
	if err := s.claimBucket(ctx); err != nil {
		if isBindingRefusal(err) || ctx.Err() != nil {
			_ = cat.Close()
			return nil, err
		}
		// A bucket that cannot be asked now (down, or no access yet)
		// does not stop the Store: Ping reports it, and Collect, the
		// one operation that could harm another catalogue's bucket,
		// claims it before it sweeps anything.
		s.log.WarnContext(ctx, "filestore: bucket marker not checked yet; Put, Collect and Ping will check it", "error", err)
	}
	s.chunks.New = func() any { return &chunk{buf: make([]byte, chunkSize)} }
	return s, nil
}

// withDefaults fills the zero fields of o.
func (o Options) withDefaults() Options {
	if o.Database == "" {
		o.Database = defaultDatabase
	}
	if o.Bucket == "" {
		o.Bucket = defaultBucket
	}
	if o.ScanPolicy == "" {
		o.ScanPolicy = FailClosed
	}
	if o.ScanOversize == "" {
		o.ScanOversize = OversizeReject
		if o.ScanPolicy == FailOpen {
			o.ScanOversize = OversizeUnscanned
		}
	}
	if o.MaxSize <= 0 {
		o.MaxSize = defaultMaxSize
	}
	if o.InlineMax == 0 || o.InlineMax > MaxInlineMax {
		o.InlineMax = MaxInlineMax
	}
	if o.TrashRetention <= 0 {
		o.TrashRetention = defaultTrashRetention
	}
	if o.StagingTTL <= 0 {
		o.StagingTTL = defaultStagingTTL
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewID == nil {
		o.NewID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
	return o
}

func (o Options) retry() retry.Policy {
	return retry.Policy{Attempts: o.RetryAttempts, Base: o.RetryBaseDelay, Max: o.RetryMaxDelay}
}

// Close releases what Open opened. Operations after Close return ErrClosed;
// closing twice is harmless.
func (s *Service) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stopPuts()
	errs := []error{s.cat.Close()}
	if s.ownBucket {
		errs = append(errs, s.bucket.Close())
	}
	if s.ownDB != nil {
		errs = append(errs, s.ownDB.Close())
	}
	return errors.Join(errs...)
}

// Ping checks that the database and the bucket answer, and, when a scanner
// that implements Pinger is configured with the fail-closed policy, that it
// answers too.
func (s *Service) Ping(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := s.cat.Ping(ctx); err != nil {
		return fmt.Errorf("filestore: database: %w: %w", ErrUnavailable, err)
	}
	if err := s.bucket.Ping(ctx); err != nil {
		return fmt.Errorf("filestore: bucket: %w: %w", ErrUnavailable, err)
	}
	if err := s.bucketClaimed(ctx, "bucket"); err != nil {
		return err
	}
	if p, ok := s.opts.Scanner.(Pinger); ok && s.opts.ScanPolicy != FailOpen {
		if err := p.Ping(ctx); err != nil {
			return fmt.Errorf("filestore: scanner: %w: %w", ErrScannerUnavailable, err)
		}
	}
	return nil
}

// Stats returns totals over the whole store: files (live and trashed),
// distinct owners, the sum of file sizes, and the number and size of stored
// objects.
func (s *Service) Stats(ctx context.Context) (*Stats, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	st, err := s.cat.Stats(ctx)
	if err != nil {
		return nil, s.translate("stats", err)
	}
	return &Stats{Files: st.Files, Owners: st.Owners, LogicalBytes: st.LogicalBytes, StoredBytes: st.StoredBytes, Objects: st.Objects}, nil
}

// DedupHits returns how many uploads through this Service found their
// content among their owner's own files, and so stored no new bytes (since
// it was made; per process, not across the Services sharing a catalogue).
// Uploads of content that only other owners have are not counted, though
// they too store no new bytes: the count is served without a token
// (GET /metrics), and must not tell anyone what others have stored.
func (s *Service) DedupHits() uint64 { return s.dedupHits.Load() }

// UploadMemory reports, on an s3:// bucket, the bytes of
// Options.S3UploadMemory that uploads hold now and how many uploads wait
// for their share; 0 and 0 on other buckets and with no limit. It serves
// /metrics (httpapi.UploadMemoryReporter).
func (s *Service) UploadMemory() (held int64, waiting int) { return s.bucket.UploadMemory() }

// whileOpen returns ctx, also cancelled when Close is called: an upload in
// flight then stops reading and staging its content.
func (s *Service) whileOpen(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.closing, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

func (s *Service) check() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// translate maps catalogue and storage errors to filestore's sentinels. An
// operation that Close overtook (its catalogue or database closed under
// it) fails with ErrClosed, as one that starts after Close does.
func (s *Service) translate(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, dedup.ErrClosed), s.closed.Load():
		return fmt.Errorf("filestore: %s: %w: %w", op, ErrClosed, err)
	case errors.Is(err, dedup.ErrNotFound), errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("filestore: %s: %w", op, ErrNotFound)
	case errors.Is(err, dedup.ErrConflict):
		return fmt.Errorf("filestore: %s: %w", op, ErrConflict)
	case errors.Is(err, dedup.ErrIDTaken):
		return fmt.Errorf("filestore: %s: %w: %w", op, ErrIDTaken, err)
	case errors.Is(err, dedup.ErrBadCursor):
		return fmt.Errorf("filestore: %s: %w: malformed cursor", op, ErrInvalidArgument)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("filestore: %s: %w", op, err)
	case errors.Is(err, dedup.ErrStagingExpired), errors.Is(err, storage.ErrUploadGone):
		return fmt.Errorf("filestore: %s: %w: %w: %w", op, ErrStagingExpired, ErrUnavailable, err)
	case dedup.IsTransient(err), storage.IsTransient(err), errors.Is(err, dedup.ErrNoAnswer),
		errors.Is(err, dedup.ErrOutcomeUnknown), errors.Is(err, dedup.ErrObjectGone):
		return fmt.Errorf("filestore: %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("filestore: %s: %w", op, err)
}
