package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/aws/smithy-go"
	"github.com/filestore-go/filestore/internal/retry"
	"gocloud.dev/gcerrors"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrNotFound means the object does not exist.
	ErrNotFound = errors.New("storage: object not found")
	// ErrNoBucket means the bucket (or local directory) does not exist.
	ErrNoBucket = errors.New("storage: bucket does not exist")
	// ErrInvalidKey means a key is outside the object key space (see NewKey).
	ErrInvalidKey = errors.New("storage: invalid object key")
	// ErrInvalidURL means Open could not use the bucket URL.
	ErrInvalidURL = errors.New("storage: invalid bucket URL")
	// ErrInvalidRange means a negative offset was given to ReadAt or Seek,
	// or a negative size to OpenRange.
	ErrInvalidRange = errors.New("storage: invalid range")
	// ErrShortObject means an object ended before the size its reader was
	// given (see Bucket.OpenRange): a damaged or replaced object, which
	// reading again does not mend.
	ErrShortObject = errors.New("storage: object shorter than its size")
	// ErrClosed means a Writer was used after Close.
	ErrClosed = errors.New("storage: writer closed")
	// ErrExists means CreateMarker found a marker already there.
	ErrExists = errors.New("storage: marker already exists")
	// ErrBadMarker means the bucket's marker is not one (see ReadMarker).
	ErrBadMarker = errors.New("storage: malformed marker")
	// ErrUploadGone means that what a Writer had written was removed
	// before Close could store it: a local writer's temporary file, or an
	// S3 multipart upload (NoSuchUpload), that garbage collection took for
	// what a crash left (see AbortStaleUploads). Nothing is stored.
	ErrUploadGone = errors.New("storage: upload removed before it was stored")
	// ErrStalled means that a connection to an S3 server made no progress
	// for Options.StallTimeout: the server (or the network to it) stopped
	// answering without closing the connection. IsTransient reports it
	// transient; an operation that still fails after its retries returns
	// an error wrapping it.
	ErrStalled = errors.New("storage: S3 connection stalled")
	// ErrBusy means that NewWriter gave up waiting for its share of
	// Options.WriteMemory: what it waited for (its tenant's half, or the
	// budget) did not move for Options.WriteMemoryWait (see
	// Options.WriteMemory). Nothing was started. IsTransient reports it
	// transient.
	ErrBusy = errors.New("storage: upload memory all in use")
)

// IsTransient reports whether err is worth retrying: the backend was
// overloaded, failed internally or timed out (gcerrors ResourceExhausted,
// Internal, DeadlineExceeded; gcerrors has no "unavailable" code), answered an
// HTTP 5xx or 429, or the network failed (connection refused or reset, a
// timeout, a truncated response), or ErrBusy. A done context (context.Canceled or
// context.DeadlineExceeded itself anywhere in the chain), a missing object,
// denied access, an invalid argument, a failed precondition and nil are not
// transient. A network timeout (a dial's, net/http's waiting for headers or
// its Client.Timeout) is transient, though errors.Is reports it as
// context.DeadlineExceeded: no context of the caller's is done.
func IsTransient(err error) bool {
	if err == nil || holds(err, context.Canceled, context.DeadlineExceeded) {
		return false
	}
	if isAPIError(err, codeDirectoryRace) || errors.Is(err, ErrBusy) {
		return true
	}
	switch gcerrors.Code(err) {
	case gcerrors.ResourceExhausted, gcerrors.Internal, gcerrors.DeadlineExceeded:
		return true
	case gcerrors.Unknown:
		return isTransientUnknown(err)
	default:
		return false
	}
}

// holds reports whether err or an error it wraps is one of targets itself,
// compared with ==, not errors.Is: net and net/http timeouts say they are
// context.DeadlineExceeded through their Is methods.
func holds(err error, targets ...error) bool {
	for err != nil {
		for _, t := range targets {
			if err == t {
				return true
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if holds(e, targets...) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// httpStatus returns the HTTP status an error carries (the S3 SDK's
// response errors have one).
func httpStatus(err error) (int, bool) {
	var status interface{ HTTPStatusCode() int }
	if !errors.As(err, &status) {
		return 0, false
	}
	return status.HTTPStatusCode(), true
}

// isTransientUnknown classifies errors that carry no gcerrors code: HTTP
// statuses from the S3 SDK, and network failures.
func isTransientUnknown(err error) bool {
	if c, ok := httpStatus(err); ok {
		switch {
		case c == http.StatusNotImplemented, c == http.StatusHTTPVersionNotSupported:
			// What the server does not do, it will not do on a retry.
			return false
		case c >= 500 || c == http.StatusTooManyRequests || c == http.StatusRequestTimeout:
			return true
		}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTimeout || dnsErr.IsTemporary
	}
	return retry.Network(err) || errors.Is(err, io.ErrUnexpectedEOF)
}

// refused reports whether err is a server's 4xx answer: the server
// refused the request and carried nothing of it out.
func refused(err error) bool {
	c, ok := httpStatus(err)
	return ok && c >= 400 && c < 500
}

// isNotFound reports whether err says the object is missing.
func isNotFound(err error) bool {
	return gcerrors.Code(err) == gcerrors.NotFound
}

// isNoSuchKey reports whether err is an S3 answer that the key does not
// exist: the error code NoSuchKey, or an HTTP 404 whose code does not name
// the bucket (NoSuchBucket) instead; a HEAD's 404 has no body, hence no
// code.
func isNoSuchKey(err error) bool {
	if isAPIError(err, "NoSuchKey") {
		return true
	}
	c, ok := httpStatus(err)
	return ok && c == http.StatusNotFound && !isAPIError(err, "NoSuchBucket")
}

// codeDirectoryRace is the S3 error code that S3-compatible servers over a
// file system (versitygw's posix backend, before its fix of versity/versitygw
// #1988) answer a PutObject with when a DeleteObject of another key removed
// the emptied parent directory under it: a race of the server's own, which
// a retry gets past. AWS S3 has no such code.
const codeDirectoryRace = "ExistingObjectIsDirectory"

// isAPIError reports whether err carries the S3 error code code.
func isAPIError(err error, code string) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == code
}

// opError wraps err from operation op on key, adding ErrNotFound when the
// backend said that the object is missing, ErrUploadGone when S3 said that
// the multipart upload a Writer was adding to is (NoSuchUpload: aborted),
// or ErrNoBucket when it said that the bucket is: S3's NoSuchBucket, which
// gocloud also reports as not found, and any other not found of a write
// (op "write" or "close"), which cannot be about the object it creates
// (the transfer manager's errors do not always let the S3 error be found;
// Writer.Close tells a local writer's removed temporary file apart).
func opError(op, key string, err error) error {
	switch {
	case isAPIError(err, "NoSuchUpload"):
		return fmt.Errorf("storage: %s %q: %w: %w", op, key, ErrUploadGone, err)
	case isAPIError(err, "NoSuchBucket"), isNotFound(err) && (op == "write" || op == "close"):
		return fmt.Errorf("storage: %s %q: %w: %w", op, key, ErrNoBucket, err)
	case isNotFound(err):
		return fmt.Errorf("storage: %s %q: %w: %w", op, key, ErrNotFound, err)
	}
	return fmt.Errorf("storage: %s %q: %w", op, key, err)
}
