package dedup

import (
	"time"

	"github.com/uptrace/bun"
)

// File is one row of the files table. Times are Unix microseconds (UTC),
// which both dialects compare and index the same way.
type File struct {
	bun.BaseModel `bun:"table:files,alias:f"`

	ID          string `bun:"id,pk"`
	Owner       string `bun:"owner"`
	Folder      string `bun:"folder"`
	Name        string `bun:"name"`
	NameFold    string `bun:"name_fold"`
	SHA256      string `bun:"sha256"`
	Size        int64  `bun:"size"`
	ContentType string `bun:"content_type"`
	// Meta is the file's metadata as a JSON object.
	Meta        string `bun:"meta"`
	ScanStatus  string `bun:"scan_status"`
	ScanEngine  string `bun:"scan_engine"`
	ScanVersion string `bun:"scan_version"`
	ScannedAt   *int64 `bun:"scanned_at"`
	CreatedAt   int64  `bun:"created_at"`
	UpdatedAt   int64  `bun:"updated_at"`
	DeletedAt   *int64 `bun:"deleted_at"`

	// Key is the storage key of the file's object (read with a join; not a
	// column of files).
	Key string `bun:"key,scanonly"`
	// Data is the content of an inline object (see CommitRequest.Data),
	// read by Get only; nil when the content is in the bucket under Key.
	Data []byte `bun:"data,scanonly"`
}

// object is one row of the objects table.
type object struct {
	bun.BaseModel `bun:"table:objects,alias:o"`

	SHA256    string `bun:"sha256,pk"`
	Size      int64  `bun:"size"`
	Key       string `bun:"key"`
	RefCount  int64  `bun:"ref_count"`
	State     string `bun:"state"`
	CreatedAt int64  `bun:"created_at"`
	// Data holds the content of an inline object; NULL when the content
	// is in the bucket under Key.
	Data []byte `bun:"data,nullzero"`
	// Pins counts the uploads that may reference the object without
	// having staged its bytes (see Catalog.Pin); they hold it until
	// PinnedUntil (Unix microseconds) at the latest.
	Pins        int64  `bun:"pins"`
	PinnedUntil *int64 `bun:"pinned_until"`
	// Inline is read instead of Data where only the kind matters (select
	// inlineColumn): the content may be 64 KiB.
	Inline bool `bun:"inline,scanonly"`
}

// inlineColumn selects object.Inline.
const inlineColumn = "data IS NOT NULL AS inline"

// Object states.
const (
	stateLive     = "live"
	stateDeleting = "deleting"
)

// Doomed is an object whose bytes are to be deleted: its row is marked
// "deleting" and stays until RemoveObject.
type Doomed struct {
	SHA256 string
	Key    string
	// Inline: the bytes are in the row (nothing in the bucket under Key),
	// and go with it.
	Inline bool
}

// Micros converts a time to the catalogue's representation.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// Time converts the catalogue's representation to a UTC time.
func Time(us int64) time.Time { return time.UnixMicro(us).UTC() }
