// Package filestore stores files securely: uploads stream in one pass through
// hashing, an optional virus scanner, content sniffing and a size limit into
// object storage (gocloud.dev/blob), and identical content is stored once,
// reference counted in a SQL catalogue (SQLite or PostgreSQL through bun).
//
// Open a Store from URLs:
//
//	st, err := filestore.Open(ctx, filestore.Options{
//		Database: "sqlite://./data/filestore.db",
//		Bucket:   "file://./data/blobs",
//	})
//
// Every method takes the owner explicitly; a Store never shows one owner's
// files to another, and answers ErrNotFound for another owner's file id
// exactly as for an id that does not exist.
package filestore

import (
	"context"
	"io"
	"time"
)

// Store is the file storage service. Implementations are safe for concurrent
// use by multiple goroutines, and several Stores (in one or more processes)
// may share one database and bucket.
//
// An owner id is 1 to MaxOwnerBytes bytes of UTF-8 without control
// characters. Put refuses any other with ErrInvalidName; since no file
// can have such an owner, the methods that look files up answer it
// ErrNotFound, and List an empty page.
//
// Every method honours ctx: when it is cancelled the method returns an error
// wrapping ctx.Err() and changes nothing that it had not already committed.
// One exception: once Put's commit is being written, it waits for its
// outcome (cutting it off would leave that outcome unknown). On SQLite that
// is once its batch holds the write lock, so a lock that another
// connection holds does not keep Put past ctx; on PostgreSQL it is once the
// commit's statement is sent, and a row or table lock that another
// transaction holds can keep it waiting past ctx's deadline, up to two
// minutes per attempt, before it succeeds or fails with ErrUnavailable.
// Nor can Put interrupt a Read of its content in progress: cancelled (or
// overtaken by Close) while r.Read blocks, it returns once that Read does.
// A reader that can block for ever, such as an io.Pipe, must be unblocked
// by its owner (closed with an error when ctx is done).
//
// A server that stops answering without closing its connections fails
// each operation with ErrUnavailable within bounds: an S3 server each
// bucket operation within about two Options.S3StallTimeout (60 s by
// default) plus backoff; a PostgreSQL server each try of a catalogue operation after
// 30 s on an open connection (Options.DBTryTimeout), or 10 s to open a
// new one, and Put's commit after its two minutes. Give ctx a deadline
// where an answer matters sooner.
type Store interface {
	// Put stores the content read from r (until io.EOF) as the file name in
	// folder for owner, and returns the stored File. It reads r exactly once.
	// It returns only when the bytes and the catalogue row are durable. On any
	// error nothing is stored: no file row, no reference, and the staged
	// bytes are deleted before Put returns, except in these cases, where
	// Collect removes them once they are older than StagingTTL: a crash; a
	// bucket that does not answer the delete; a commit whose outcome stays
	// unknown (ErrUnavailable; a row may reference the bytes); and, on S3,
	// an object that the server stores after Put's delete of it, later than
	// the Store deletes it again. That is an upload cancelled (ctx done) or
	// failed, without the server refusing it, while its final request (the
	// PutObject of an object of up to 5 MiB, or the CompleteMultipartUpload
	// of a larger one) was in flight: a server that had the whole request
	// may store the object after Put returned. On an s3:// bucket that Open
	// opened, the Store deletes the key again in the background 1 s and 4 s
	// after Put returned (at once if Close comes first); over a bucket given
	// to New, it does not. A nil opts is the zero PutOptions. A live file at the same path gives ErrConflict unless
	// opts.Overwrite is set, in which case the old file goes to the trash.
	// A nil r gives ErrInvalidArgument; an error from r.Read (other than
	// io.EOF) ends the upload with an error wrapping it.
	Put(ctx context.Context, owner, folder, name string, r io.Reader, opts *PutOptions) (*File, error)

	// Get returns a live file and a reader of its content. Seeking reads no
	// content, so http.ServeContent can serve ranges without reading the
	// object: a local object is an *os.File; a small content stored inline
	// (see Options.InlineMax) came with the file's row; a remote object
	// (S3, mem://) is read with no request until the first Read, and each
	// Read after a seek asks for exactly the bytes it wants, while reads
	// that go on ask for the rest of the object, or up to the end set with
	// ReadLimiter (a 4 KiB range is one request of 4 KiB, a whole file two
	// requests). The caller must Close the reader. A remote object is read under ctx: its reads fail once
	// ctx is done, so keep ctx alive until the reader is closed (a local
	// object or an inline one is read whatever becomes of ctx). A trashed
	// file, an unknown id and another owner's id give ErrNotFound. A remote
	// object that has gone since the row was read (a concurrent Purge) is
	// reported by the reader's first Read, with an error wrapping
	// ErrNotFound; a bucket that does not answer gives ErrUnavailable
	// there, and an object shorter than the file (damaged) an error
	// naming the byte where it ends.
	Get(ctx context.Context, owner, id string) (*File, io.ReadSeekCloser, error)

	// Stat returns a file, live or trashed. An unknown id and another
	// owner's id give ErrNotFound.
	Stat(ctx context.Context, owner, id string) (*File, error)

	// List returns one page of owner's files, ordered by folder then name
	// (bytewise, then by id), with keyset pagination. A nil opts lists the
	// first 100 live files of the root folder. A malformed cursor or a
	// Limit below 0 or above 1000 gives ErrInvalidArgument (0 means 100). Across the pages of one
	// listing, files added or removed meanwhile never make another file
	// appear twice or be skipped; a file renamed or moved meanwhile is
	// listed where its new path falls: twice if that is past the cursor and
	// it was already listed, not at all if it moved behind the cursor before
	// it was reached.
	List(ctx context.Context, owner string, opts *ListOptions) (*Page, error)

	// Update renames and/or moves a live file. Only the catalogue changes.
	// ErrConflict if the new path is taken; ErrNotFound for an unknown,
	// trashed or foreign id; ErrInvalidArgument if u has neither Name nor
	// Folder. An update to the path the file already has returns it
	// unchanged. The File returned is as this update left it, even if
	// another operation has changed the file since.
	Update(ctx context.Context, owner, id string, u Update) (*File, error)

	// Delete moves a live file to the trash (soft delete); the reference to
	// its content is kept. Deleting a trashed file succeeds and changes
	// nothing. ErrNotFound for an unknown or foreign id.
	Delete(ctx context.Context, owner, id string) error

	// Restore brings a trashed file back. ErrConflict if its path has been
	// taken meanwhile; restoring a live file returns it unchanged. The File
	// returned is as this restore left it (live), even if another
	// operation has changed the file since. ErrNotFound for an unknown or
	// foreign id.
	Restore(ctx context.Context, owner, id string) (*File, error)

	// Purge removes a file (live or trashed) for good and drops its
	// reference; the content's bytes are removed when the last reference
	// goes, or, while an upload that may turn out to be that content is
	// in progress, when it ends without referencing them. ErrNotFound for
	// an unknown or foreign id.
	Purge(ctx context.Context, owner, id string) error

	// Collect is the garbage collector: it purges trash older than the
	// retention, removes objects with no reference and staging objects older
	// than the staging TTL (what a crash leaves). A nil opts uses the Store's
	// configured retention and TTL. It is safe to run concurrently with any
	// other operation, in any number of processes, unless opts overrides
	// the staging TTL (see CollectOptions.StagingTTL).
	Collect(ctx context.Context, opts *CollectOptions) (*CollectResult, error)

	// Stats returns totals over the whole store (all owners).
	Stats(ctx context.Context) (*Stats, error)

	// Ping checks that the database, the bucket and, when the scan policy is
	// fail-closed, the scanner answer.
	Ping(ctx context.Context) error

	// Close releases the Store's resources. Operations after Close return
	// ErrClosed, and so do those it overtakes (in flight when it is called;
	// Close does not wait for them): an upload that Close overtakes before
	// its commit stores nothing, and one still reading its content stops
	// reading it (its Read in progress returns first) and removes what it
	// staged. On an s3:// bucket that Open opened, Close first makes at
	// once the background deletes (and aborts of multipart uploads) that
	// failed uploads left pending (see Put), waiting for them about 2 s at
	// most; what they do not reach is left for Collect.
	Close() error
}

// Scanner checks content for malware during Put, in the same pass that
// hashes and stores it.
//
// Scan reads r until io.EOF, or until it stops early with an error; Put keeps
// storing the rest of the content either way (the reader never blocks once
// Scan has returned). It returns a result whose Signature is non-empty when
// malware was found and nil error, or an error when it could not give a
// verdict: one wrapping ErrScanLimit when the content exceeds what the
// scanner can scan, one wrapping ErrScanIncomplete when the content came too
// slowly (it stalled, or did not end within the scanner's time limit), any
// other for an unreachable, failing or timed-out scanner (Put then applies
// the scan policy). A nil result with a nil error, and a panic in Scan
// (which Put recovers and logs at error level with its stack), count as
// the latter. Cancelling ctx must end Scan promptly.
//
// Put may call Scan twice for one upload: when the scan of the stream ends
// with ErrScanIncomplete, Put scans the complete content again after the
// pass, from the staged copy at the speed of the bucket, and that second
// verdict decides (ErrScanIncomplete again counts as unavailable). A
// scanner that gives up on a slow stream should return ErrScanIncomplete
// rather than a plain error, so that a client's pace cannot make Put apply
// the fail-open policy to a scanner that is up.
type Scanner interface {
	Scan(ctx context.Context, r io.Reader) (*ScanResult, error)
}

// ScanResult is a scanner's verdict on one content.
type ScanResult struct {
	// Engine names the scanner, for example "clamav".
	Engine string
	// Version is the engine's and signature database's version, when known.
	Version string
	// Signature is the name of the malware found; empty when clean.
	Signature string
}

// ReadLimiter is an optional interface of the reader that Store.Get
// returns; the reader of a remote object (S3, mem://) implements it.
// LimitReads tells the reader that the caller reads no further than byte
// end (exclusive): Reads that go on from its current request then ask the
// bucket for the bytes up to end instead of the rest of the object, so
// that serving a large range of a large object asks for no byte it does
// not send. A Read past end is still served, with a new request. An end
// at or before the current position, or past the content's end, changes
// nothing.
type ReadLimiter interface {
	LimitReads(end int64)
}

// Pinger is an optional interface of a Scanner: Store.Ping calls it when the
// scan policy is fail-closed, so that a readiness probe fails while the
// scanner is down.
type Pinger interface {
	Ping(ctx context.Context) error
}

// MetaExtractor finds what the content is: its type from the bytes, and
// image dimensions and EXIF. Put calls it after the upload pass and before
// commit. It returns an error wrapping ErrTypeNotAllowed or ErrTypeMismatch
// to reject the content; any other error rejects the upload too, so an
// extractor should turn unparseable content into partial metadata instead.
// A nil *Metadata with a nil error rejects the upload with an error that
// says so, as a scanner's missing verdict does under fail-closed; an
// extractor that finds nothing returns application/octet-stream and empty
// Meta.
type MetaExtractor interface {
	Extract(ctx context.Context, in *MetaInput) (*Metadata, error)
}

// TypeChecker is implemented by a MetaExtractor that can apply its type
// policy (an allow list, rules against mismatched types) from the first
// bytes of the content alone, as meta.Extractor does. Put calls CheckType
// as soon as it has read HeadSize bytes of the content (or all of it, if
// less), with Size and Content unset; an error stops the upload there,
// before the rest is read, scanned or staged, and Put returns it wrapped.
// Extract is still called after the upload and may refuse it too.
type TypeChecker interface {
	CheckType(ctx context.Context, in *MetaInput) error
}

// MetaInput is what a MetaExtractor sees of one upload.
type MetaInput struct {
	// Name is the file's (sanitized) name, for its extension.
	Name string
	// DeclaredType is the content type the client claimed; empty when it
	// claimed nothing.
	DeclaredType string
	// Head holds the first bytes of the content, at most HeadSize of them
	// (all of it when the content is smaller).
	Head []byte
	// Size is the content's size in bytes.
	Size int64
	// Content reads the staged content at any offset with range reads, for
	// formats whose metadata lies beyond Head. It is valid only during
	// Extract.
	Content io.ReaderAt
}

// HeadSize is how many leading bytes of an upload Put keeps for the
// MetaExtractor.
const HeadSize = 1 << 20

// Metadata is what a MetaExtractor found.
type Metadata struct {
	// ContentType is the content's media type from its bytes;
	// "application/octet-stream" when unknown.
	ContentType string
	// Meta holds dimensions and EXIF, only what was found.
	Meta Meta
}

// File is one stored file as its owner sees it.
type File struct {
	ID          string     `json:"id"`
	Owner       string     `json:"-"`
	Name        string     `json:"name"`
	Folder      string     `json:"folder"`
	Size        int64      `json:"size"`
	SHA256      string     `json:"sha256"`
	ContentType string     `json:"content_type"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	DeletedAt   *time.Time `json:"deleted_at"`
	Scan        ScanInfo   `json:"scan"`
	Meta        Meta       `json:"meta"`
}

// ScanStatus says whether a file's content was scanned.
type ScanStatus string

// Scan statuses.
const (
	// ScanClean: a scanner read the whole content and found nothing.
	ScanClean ScanStatus = "clean"
	// ScanUnscanned: no scanner was configured, or the policy let the file
	// in without a verdict.
	ScanUnscanned ScanStatus = "unscanned"
)

// ScanInfo records the scan of a file's content.
type ScanInfo struct {
	Status    ScanStatus `json:"status"`
	Engine    string     `json:"engine,omitempty"`
	Version   string     `json:"version,omitempty"`
	ScannedAt *time.Time `json:"scanned_at,omitempty"`
}

// Meta holds what was found in a file's content. Absent fields were not
// found; a found field keeps its value even when it is zero.
type Meta struct {
	// Width and Height are as displayed (EXIF orientations 5-8 swap them;
	// for HEIF, the rotation of its irot box).
	Width  *int `json:"width,omitempty"`
	Height *int `json:"height,omitempty"`
	// StoredWidth and StoredHeight are the encoded size, set only when it
	// differs from the displayed one.
	StoredWidth  *int  `json:"stored_width,omitempty"`
	StoredHeight *int  `json:"stored_height,omitempty"`
	EXIF         *EXIF `json:"exif,omitempty"`
}

// EXIF holds the EXIF fields filestore extracts.
type EXIF struct {
	Make     string `json:"make,omitempty"`
	Model    string `json:"model,omitempty"`
	Lens     string `json:"lens,omitempty"`
	Software string `json:"software,omitempty"`
	// TakenAt is DateTimeOriginal as YYYY-MM-DDTHH:MM:SS, followed by
	// OffsetTimeOriginal when present; never converted.
	TakenAt      string   `json:"taken_at,omitempty"`
	Orientation  *int     `json:"orientation,omitempty"`
	GPS          *GPS     `json:"gps,omitempty"`
	ExposureTime string   `json:"exposure_time,omitempty"`
	FNumber      *float64 `json:"f_number,omitempty"`
	ISO          *int     `json:"iso,omitempty"`
	FocalLength  *float64 `json:"focal_length,omitempty"`
}

// GPS is a position in decimal degrees and metres above sea level.
type GPS struct {
	Lat *float64 `json:"lat,omitempty"`
	Lon *float64 `json:"lon,omitempty"`
	Alt *float64 `json:"alt,omitempty"`
}

// Update says what to change in Store.Update; nil fields stay as they are.
type Update struct {
	Name   *string
	Folder *string
}

// Page is one page of a listing.
type Page struct {
	Files []*File
	// NextCursor continues the listing; empty on the last page.
	NextCursor string
}

// CollectResult counts what Collect removed. Each file or object counts in
// the one Collect that removed it, so that the counts of concurrent Collects
// add up to what they removed together; an object removed by the Purge
// that dropped its last reference counts in no Collect.
type CollectResult struct {
	PurgedFiles    int `json:"purged_files"`
	RemovedObjects int `json:"removed_objects"`
	RemovedStaging int `json:"removed_staging"`
}

// Stats are totals over the whole store.
type Stats struct {
	Files        int64 `json:"files"`
	Owners       int64 `json:"owners"`
	LogicalBytes int64 `json:"logical_bytes"`
	StoredBytes  int64 `json:"stored_bytes"`
	Objects      int64 `json:"objects"`
}
