package filestore

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by a Store. Every error a Store returns for one of
// these conditions wraps the matching sentinel, so callers test them with
// errors.Is; the message around it adds context (the operation, the id or
// name) and is not part of the contract.
var (
	// ErrNotFound: no file with that id for that owner, or (for content) the
	// file is in the trash. Another owner's file is indistinguishable from one
	// that does not exist.
	ErrNotFound = errors.New("filestore: not found")
	// ErrConflict: the (owner, folder, name) path is already taken by a live
	// file.
	ErrConflict = errors.New("filestore: path already taken")
	// ErrInvalidName: a name, folder or owner breaks the naming rules.
	ErrInvalidName = errors.New("filestore: invalid name")
	// ErrInvalidArgument: a malformed option such as a bad cursor, limit or
	// digest, or an update with nothing to change; from Open and New,
	// Options (or URLs) they cannot use.
	ErrInvalidArgument = errors.New("filestore: invalid argument")
	// ErrTooLarge: the content is larger than the configured maximum size.
	ErrTooLarge = errors.New("filestore: content too large")
	// ErrDigestMismatch: the content's SHA-256 differs from the expected one.
	ErrDigestMismatch = errors.New("filestore: digest mismatch")
	// ErrInfected: the scanner found malware; errors.As with *InfectedError
	// gives the signature.
	ErrInfected = errors.New("filestore: content infected")
	// ErrScannerUnavailable: the scanner gave no verdict and the upload is
	// refused: under fail-closed, or because the scanner is busy (see
	// ErrScannerBusy).
	ErrScannerUnavailable = errors.New("filestore: scanner unavailable")
	// ErrScannerBusy: the scanner is up (it answers) but gave no verdict
	// within its time limits: all of its capacity was taken, or the content
	// took it that long. Scanners may return it. Put refuses the upload
	// with an error wrapping both ErrScannerUnavailable and ErrScannerBusy
	// under either policy, and under fail-open also when a scanner that
	// gave no verdict for another reason still answers Ping (a Pinger):
	// fail-open is for a scanner that is down, while a busy one can be kept
	// busy on purpose, and storing what it had no time for as "unscanned"
	// would let content past it.
	ErrScannerBusy = errors.New("filestore: scanner busy")
	// ErrScannerDown: the scanner was checked and does not answer (for
	// clamd: no PONG to a PING). Scanners wrap it, with
	// ErrScannerUnavailable, when their own check failed; Put under
	// fail-open then stores unscanned at once, without a Ping of its own
	// (see ErrScannerBusy).
	ErrScannerDown = errors.New("filestore: scanner down")
	// ErrScanLimit: the content exceeds what the scanner can scan. Scanners
	// return it; Put turns it into the configured oversize rule.
	ErrScanLimit = errors.New("filestore: content exceeds the scanner's limit")
	// ErrScanIncomplete: the scanner gave no verdict on content streamed to
	// it because of the stream's pace, not because the scanner is down: the
	// content stalled, came too slowly or did not end within the scan's
	// time limit. Scanners return it; Put then scans the complete content
	// again after the upload pass, from the staged copy, and that verdict
	// decides (a second ErrScanIncomplete counts as the scanner giving no
	// verdict: refused under fail-closed, and under fail-open unless the
	// scanner is down; see ErrScannerBusy).
	ErrScanIncomplete = errors.New("filestore: scan incomplete: the content came too slowly")
	// ErrTypeNotAllowed: the sniffed content type is not in the allow list.
	ErrTypeNotAllowed = errors.New("filestore: content type not allowed")
	// ErrTypeMismatch: the bytes contradict the name's extension or the
	// declared content type.
	ErrTypeMismatch = errors.New("filestore: content type mismatch")
	// ErrUnavailable: a dependency (database or bucket) is down and retries
	// were exhausted.
	ErrUnavailable = errors.New("filestore: dependency unavailable")
	// ErrStagingExpired: an upload took longer than Options.StagingTTL
	// allows (sent slowly, or paused): Collect removed its staged bytes
	// while they were being written, or may remove them before its commit.
	// Nothing is stored, and the upload can be sent again. An error that
	// wraps it also wraps ErrUnavailable.
	ErrStagingExpired = errors.New("filestore: upload took longer than the staging TTL")
	// ErrClosed: the Store has been closed.
	ErrClosed = errors.New("filestore: store closed")
	// ErrBucketInUse: Open or New found the bucket (its prefix) bound to
	// another catalogue: its marker object names another database's
	// catalogue, whose objects this Store's garbage collection would
	// delete. Use another prefix (or bucket), or the database the bucket
	// belongs to; to move a bucket to a new catalogue deliberately, delete
	// the marker (see docs/durability.md).
	ErrBucketInUse = errors.New("filestore: bucket bound to another catalogue")
	// ErrIDTaken: Options.NewID returned an id that another file already
	// has. Nothing is stored; ids must never repeat, across processes and
	// restarts.
	ErrIDTaken = errors.New("filestore: file id already taken")
)

// InfectedError is the error Put returns when the scanner finds malware. It
// matches ErrInfected with errors.Is.
type InfectedError struct {
	// Signature is the scanner's name for what it found.
	Signature string
}

// Error implements error.
func (e *InfectedError) Error() string {
	return fmt.Sprintf("filestore: content infected: %s", e.Signature)
}

// Is reports whether target is ErrInfected.
func (e *InfectedError) Is(target error) bool { return target == ErrInfected }
