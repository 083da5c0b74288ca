package filestore

import (
	"fmt"
	"log/slog"
	"time"
)

// Options configures Open and New. The zero value is useful: every field has
// a default, filled in once when the Store is made.
type Options struct {
	// Database is the catalogue's URL: sqlite://PATH (sqlite://:memory: for
	// a private in-memory database) or postgres://user:pass@host:port/db
	// (a pool of 32 connections; ?pool_max_conns=N sets another size).
	// Default: sqlite://./data/filestore.db. Ignored by New.
	Database string
	// Bucket is the object storage URL: file://DIR (durable local
	// directory), mem:// (memory, for tests), or
	// s3://BUCKET?endpoint=URL&region=R&use_path_style=true for S3 and
	// S3-compatible servers (credentials from the AWS environment). Default:
	// file://./data/blobs. Ignored by New.
	Bucket string

	// Scanner, when set, scans every upload in the upload pass.
	Scanner Scanner
	// ScanPolicy decides what happens when the scanner cannot give a
	// verdict. Default: FailClosed; a value other than FailClosed and
	// FailOpen gives ErrInvalidArgument.
	ScanPolicy ScanPolicy
	// ScanOversize decides what happens to content larger than the scanner
	// can scan. Default: the scan policy's, OversizeReject under FailClosed
	// and OversizeUnscanned under FailOpen. A value other than
	// OversizeReject and OversizeUnscanned gives ErrInvalidArgument.
	ScanOversize OversizeRule

	// Extractor, when set, decides the content type and finds image
	// metadata; without it the content type comes from
	// http.DetectContentType over the first bytes.
	Extractor MetaExtractor

	// MaxSize is the largest content Put accepts, in bytes. Default 5 GiB.
	// On an s3:// bucket opened by Open, above 48.8 GiB (S3's 10000 parts
	// of 5 MiB) each upload's parts, and its memory, grow with it: up to
	// six parts of MaxSize/10000 bytes (see S3UploadMemory).
	MaxSize int64
	// InlineMax: content of 1 to InlineMax bytes is stored in its object's
	// catalogue row instead of the bucket, so that a small upload becomes
	// durable with the commit of its rows (one database sync shared by the
	// concurrent commits of a batch) rather than as a file or object of its
	// own. Dedup, reference counts, the lifecycle and Collect are the
	// same for both kinds of object. Default and most: 64 KiB
	// (MaxInlineMax), larger values are lowered to it; negative stores
	// every content in the bucket.
	InlineMax int64
	// TrashRetention is how long trashed files stay before Collect purges
	// them. Default 720h.
	TrashRetention time.Duration
	// StagingTTL is how old a staging object with no catalogue row must be
	// before Collect removes it. An upload whose staging finished more than
	// half of it ago is refused at commit, so Collect never removes bytes a
	// commit is about to reference. Stores sharing a catalogue and bucket
	// may differ in it: each staged object's key carries its uploader's
	// TTL, and Collect waits for the longer of that and its own. An upload
	// must finish within it: Collect also removes the staged bytes of an
	// upload still being written once they are older (on a local bucket
	// by their last write, so only an upload that pauses that long; on S3
	// by the start of the multipart upload), and that Put fails with
	// ErrStagingExpired. Default 24h.
	StagingTTL time.Duration
	// S3StallTimeout bounds, on an s3:// bucket opened by Open, how long
	// a connection to the S3 server may make no progress: connecting,
	// sending a request, waiting for its answer (an upload's completion,
	// which a server may take long to prepare, waits up to 2 minutes)
	// and receiving it. A server that stops answering without closing its
	// connections (a frozen process, a black-holed network) then fails
	// each bucket operation with ErrUnavailable within about two
	// S3StallTimeouts plus backoff (two silent tries are not retried,
	// whatever RetryAttempts allows), instead of holding it until ctx
	// ends. A transfer that keeps moving, however slowly, is not cut off,
	// with one exception: once an upload's last bytes are in the socket's
	// send buffer (a few MiB at most), a server that takes longer than
	// S3StallTimeout to read them and answer cuts the try, which is
	// retried; raise it for such links. See storage.Options.StallTimeout.
	// Default 30s; ignored by New and by other buckets.
	S3StallTimeout time.Duration
	// DBTryTimeout bounds, on a PostgreSQL catalogue, each try of a
	// catalogue operation (a statement, or a transaction with all its
	// statements): one without an answer within it fails with
	// ErrUnavailable and is not retried, instead of waiting as long as
	// ctx lives on a server that keeps its connections and answers
	// nothing. Raise it if some listing or Collect legitimately takes
	// longer on a large, slow catalogue. See dedup.Options.TryTimeout.
	// Default 30s; negative turns it off; ignored by SQLite.
	DBTryTimeout time.Duration
	// S3UploadMemory bounds, on an s3:// bucket opened by Open, the
	// memory that uploads to S3 hold together for their parts. Each
	// upload that writes to the bucket (not inline content, not one
	// matched to stored content) reserves about six parts, 30 MiB with
	// the 5 MiB parts of a MaxSize up to 48.8 GiB, until it ends; one
	// owner's uploads hold at most half of the budget (at least one
	// upload). An upload that finds the budget, or its owner's half,
	// spent waits, first come first served, having read no more than its
	// first chunk (128 KiB), or, when it is compared with a stored object
	// of its declared size, up to where it differs from it. While what it
	// waits for moves (while the owner's half is spent: its owner's
	// uploads ending or starting, or, while some of them wait for the
	// budget, any upload ending; while the budget is spent: any upload
	// ending) it waits on; once that has not moved for a minute, Put fails
	// with ErrUnavailable; and it fails with
	// an error wrapping ctx.Err() if ctx ends first. Nothing is stored by
	// a Put that failed so. An upload's share goes back to the budget
	// once its parts, garbage when it ends, have been collected: an
	// upload that finds the budget spent by ended ones first runs a
	// garbage collection, so that the parts on the heap, live or not yet
	// collected, stay within the budget. The rest of the heap is not
	// counted (the Go runtime's GOGC and GOMEMLIMIT govern it). See
	// storage.Options.WriteMemory.
	// Default 256 MiB (8 uploads at once, 4 per owner); negative means
	// no limit; ignored by New and by other buckets.
	S3UploadMemory int64
	// RetryAttempts bounds how often a transient database or bucket error is
	// tried in all. Default 5; 1 turns retries off.
	RetryAttempts int
	// RetryBaseDelay is the first backoff delay; it doubles, with jitter, up
	// to RetryMaxDelay. Defaults 50ms and 2s.
	RetryBaseDelay, RetryMaxDelay time.Duration

	// Logger receives warnings (infected uploads, fail-open scans, metadata
	// parser failures, failed cleanups). Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// NewID makes file ids, which must never repeat (across processes
	// and restarts, for every Store on the catalogue): a repeated id fails
	// the upload with ErrIDTaken. An id is 1 to 128 characters of A-Z,
	// a-z, 0-9 and "-._~" (it appears in URLs as it is); another fails the
	// upload with an error that wraps no sentinel (the Store's
	// configuration is wrong, not the request; httpapi answers 500).
	// Default: UUIDv7 strings.
	NewID func() string
}

// ScanPolicy says what Put does when the scanner cannot give a verdict: it
// is unreachable, failing or timed out. A scan that a client's slow upload
// left without a verdict (ErrScanIncomplete) is not such a case: Put scans
// the complete content again after the upload pass, and only if that scan
// too gives no verdict does the policy apply. Nor is a busy scanner
// (ErrScannerBusy: up, but without time for this content): Put refuses
// that upload with ErrScannerUnavailable under either policy. Under
// FailOpen, Put checks that a scanner which gave no verdict is down before
// it stores unscanned: a Pinger that answers Ping within 5 seconds is
// busy, not down.
type ScanPolicy string

// Scan policies.
const (
	// FailClosed refuses the upload with ErrScannerUnavailable.
	FailClosed ScanPolicy = "fail-closed"
	// FailOpen stores the file with scan status "unscanned" and logs a
	// warning, when the scanner is down: it does not answer Ping, or is
	// not a Pinger.
	FailOpen ScanPolicy = "fail-open"
)

// OversizeRule says what Put does with content larger than the scanner can
// scan.
type OversizeRule string

// Oversize rules.
const (
	// OversizeReject refuses the upload with ErrTooLarge (wrapping
	// ErrScanLimit): content that cannot be scanned is not let in behind
	// the operator's back. This is the default under FailClosed, because
	// a scanner that is configured is meant to see everything.
	OversizeReject OversizeRule = "reject"
	// OversizeUnscanned stores it with scan status "unscanned" and logs a
	// warning. This is the default under FailOpen.
	OversizeUnscanned OversizeRule = "unscanned"
)

// validate refuses the options that withDefaults leaves unusable: a
// ScanPolicy or ScanOversize other than the constants (a misspelt
// "fail_open" would be taken for fail-closed by Put).
func (o Options) validate() error {
	if o.ScanPolicy != FailClosed && o.ScanPolicy != FailOpen {
		return fmt.Errorf("%w: Options.ScanPolicy %q is neither %q nor %q", ErrInvalidArgument, o.ScanPolicy, FailClosed, FailOpen)
	}
	if o.ScanOversize != OversizeReject && o.ScanOversize != OversizeUnscanned {
		return fmt.Errorf("%w: Options.ScanOversize %q is neither %q nor %q", ErrInvalidArgument, o.ScanOversize, OversizeReject, OversizeUnscanned)
	}
	return nil
}

// PutOptions adjusts one Put. A nil *PutOptions is the zero value.
type PutOptions struct {
	// Overwrite replaces a live file at the same path; the old one goes to
	// the trash. Of concurrent uploads to one path, with Overwrite each
	// succeeds and the last to commit is the live file, the others in the
	// trash; without it, all but the first fail with ErrConflict.
	Overwrite bool
	// ContentType is what the client claims the content is; empty (or
	// application/octet-stream) claims nothing.
	ContentType string
	// SHA256 is the expected digest in lowercase or uppercase hex; Put
	// fails with ErrDigestMismatch when the content's differs. When the
	// owner already has a file (live or in the trash) of content with that
	// digest, Put only hashes (and scans) the upload to verify it and
	// writes nothing; in the rare case that the stored content is purged
	// and collected during the upload, Put fails with ErrUnavailable and
	// the upload can be retried. Content that only other owners have is
	// staged like new content and shared at the commit, so that an
	// upload's course and timing never tell an owner what others stored.
	SHA256 string
	// MaxSize lowers the Store's MaxSize for this upload when positive.
	MaxSize int64
	// Size is the content's length when the caller knows it in advance
	// (an HTTP request's Content-Length), or 0. It is a hint, never
	// trusted: without SHA256, a Size of at least CompareMin makes Put
	// compare the upload, as it arrives, with the owner's stored content
	// of that size, and if it is that content, write nothing (as with
	// SHA256). A Size that turns out wrong only costs that comparison.
	Size int64
}

// ListOptions selects what List returns. A nil *ListOptions is the zero
// value.
type ListOptions struct {
	// Folder is the folder to list; "" is the root.
	Folder string
	// Recursive lists the whole subtree under Folder.
	Recursive bool
	// Query keeps files whose name contains it, ignoring case (Unicode
	// simple case folding) and canonically equivalent spellings (it is
	// compared in NFC, as names are stored); % and _ are literal.
	Query string
	// Trash lists only trashed files instead of only live ones.
	Trash bool
	// Limit is the page size, 1-1000; 0 means 100.
	Limit int
	// Cursor continues from a previous Page.NextCursor, of a listing with
	// the same Folder, Recursive, Query and Trash (Limit may differ); a
	// cursor of another listing gives ErrInvalidArgument. A cursor is a
	// position (a folder, name and id), not bound to an owner: one of
	// another owner's listing is taken as a position among the listed
	// owner's files, and shows nothing of the other owner's.
	Cursor string
}

// CollectOptions adjusts one Collect. A nil *CollectOptions is the zero value.
type CollectOptions struct {
	// TrashRetention overrides the Store's when positive.
	TrashRetention time.Duration
	// StagingTTL overrides the Store's when positive, and then also the
	// TTL each staged object's key carries (see Options.StagingTTL): staged
	// objects older than it are removed even if their uploads could still
	// commit them, which then fail, or, below half of the uploaders' TTL,
	// commit files whose content is gone. Use one only when no upload can
	// be in flight, as after a crash or in tests.
	StagingTTL time.Duration
}

// MaxInlineMax is the default and the largest Options.InlineMax: half a
// read of the upload pass, whose first read then sees the end of any
// content that fits.
const MaxInlineMax = chunkSize / 2

const (
	defaultDatabase       = "sqlite://./data/filestore.db"
	defaultBucket         = "file://./data/blobs"
	defaultMaxSize        = 5 << 30
	defaultTrashRetention = 720 * time.Hour
	defaultStagingTTL     = 24 * time.Hour
)
