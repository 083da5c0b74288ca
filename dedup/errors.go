package dedup

import "errors"

// Errors returned by the Catalog. The root package translates them into
// filestore's sentinel errors.
var (
	// ErrNotFound: no such file for that owner.
	ErrNotFound = errors.New("dedup: not found")
	// ErrConflict: a live file already has that (owner, folder, name).
	ErrConflict = errors.New("dedup: path taken")
	// ErrBadCursor: a list cursor that this catalogue did not make, or made
	// for another listing.
	ErrBadCursor = errors.New("dedup: malformed cursor")
	// ErrBadLimit: a list page size below 1.
	ErrBadLimit = errors.New("dedup: page size below 1")
	// ErrNoAnswer: a PostgreSQL catalogue's operation got no answer within
	// Options.TryTimeout; the database is taken for unavailable. A write
	// that times out at its COMMIT may have been applied.
	ErrNoAnswer = errors.New("dedup: no answer from the database")
	// ErrInvalidURL: OpenDB cannot use the database URL (an unsupported
	// scheme, or parameters it or the driver refuses).
	ErrInvalidURL = errors.New("dedup: invalid database URL")
)
