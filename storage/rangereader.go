package storage

import (
	"context"
	"errors"
	"fmt"
	"io"

	"gocloud.dev/blob"

	"github.com/filestore-go/filestore/internal/seek"
)

// OpenRange opens the object key, of size bytes, for reading in the way
// that suits reads of parts of it: http.ServeContent serving ranges, or a
// caller that seeks and reads a few bytes. Seeking is free. On a file://
// bucket made by Open it is Open's *os.File, opened at once (size is not
// used). On other buckets (mem://, s3://, buckets wrapped with New) it
// makes no request until the first Read, and each Read that does not
// continue the previous request opens exactly the bytes it asks for with
// one range request (retried on transient errors; a 4 KiB range GET is one
// request of 4 KiB, read to its end so that its connection is kept),
// while a Read that continues where the previous request ended opens the
// rest of the object (a whole download is two requests), or only up to
// the end that the reader's LimitReads(end int64) method set. There, size
// bounds the reads: a Read at or past size returns io.EOF without a
// request, and an object that ends before size gives an error wrapping
// ErrShortObject; a missing object is reported by the first Read,
// with an error wrapping ErrNotFound; and reads are made under ctx, so
// they fail once ctx is done.
//
// The error of OpenRange itself wraps ErrInvalidKey for a key outside the
// key space, ErrInvalidRange for a negative size, ErrNotFound for a
// missing local object, and ctx.Err() if ctx is done. The reader must be
// closed (closing twice is not an error); it is not safe for concurrent
// use.
func (b *Bucket) OpenRange(ctx context.Context, key string, size int64) (io.ReadSeekCloser, error) {
	if b.local != nil {
		return b.Open(ctx, key)
	}
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("storage: read: %w", err)
	}
	if size < 0 {
		return nil, fmt.Errorf("storage: read %q: %w: size %d", key, ErrInvalidRange, size)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("storage: read %q: %w", key, err)
	}
	return &rangeReader{b: b, ctx: ctx, key: key, size: size, end: -1}, nil
}

// errReaderClosed is a Read or Seek of a closed rangeReader.
var errReaderClosed = errors.New("storage: read of a closed reader")

// rangeReader is OpenRange's reader of a remote object.
type rangeReader struct {
	b    *Bucket
	ctx  context.Context
	key  string
	size int64
	pos  int64 // the position of the next Read

	r    *blob.Reader // the open request, or nil; it stands at end-left
	left int64        // bytes r has left to give
	end  int64        // where the last request ended, -1 before the first

	limit int64 // LimitReads's end, or 0

	closed bool
}

// Seek implements io.Seeker; it makes no request.
func (r *rangeReader) Seek(offset int64, whence int) (int64, error) {
	if r.closed {
		return 0, errReaderClosed
	}
	abs, err := seek.Position(r.pos, r.size, offset, whence)
	if err != nil {
		return 0, fmt.Errorf("storage: seek of %q: %w: %w", r.key, ErrInvalidRange, err)
	}
	r.pos = abs
	return abs, nil
}

// Read implements io.Reader.
func (r *rangeReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errReaderClosed
	}
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > r.size-r.pos {
		p = p[:r.size-r.pos]
	}
	if r.r != nil && (r.end-r.left != r.pos || r.left == 0) {
		r.drop()
	}
	if r.r == nil {
		n := int64(len(p))
		if r.pos == r.end {
			// This Read continues the previous request: the rest, or
			// up to the limit.
			n = r.size - r.pos
			if r.limit > r.pos && r.limit < r.size {
				n = r.limit - r.pos
			}
		}
		if err := r.open(n); err != nil {
			return 0, err
		}
	}
	n, err := r.r.Read(p[:min(int64(len(p)), r.left)])
	r.pos += int64(n)
	r.left -= int64(n)
	if err == nil && r.left == 0 {
		// Read on to the answer's end, which lets the HTTP client keep
		// the connection: a body whose last bytes came without io.EOF
		// gives it to the next Read. More bytes than were asked for
		// are a server's error.
		var more [1]byte
		switch m, merr := r.r.Read(more[:]); {
		case m > 0:
			err = errors.New("the answer to a range request is longer than the range")
		case merr != io.EOF:
			err = merr
		default:
			err = io.EOF
		}
	}
	switch {
	case err == io.EOF && r.left > 0:
		r.drop()
		return n, fmt.Errorf("storage: read %q: the object ends at byte %d of %d: %w", r.key, r.pos, r.size, ErrShortObject)
	case err == io.EOF:
		r.drop()
		if r.pos >= r.size {
			return n, io.EOF
		}
		return n, nil
	case err != nil:
		r.drop()
		return n, opError("read", r.key, err)
	}
	return n, nil
}

// LimitReads has Reads that go on from the current request ask for the
// bytes up to end (exclusive) instead of the rest of the object; a Read
// past end is still served, with a new request. An end at or before the
// position of that Read, or past the object's size, changes nothing.
func (r *rangeReader) LimitReads(end int64) { r.limit = end }

// open starts a request for the n bytes at r.pos.
func (r *rangeReader) open(n int64) error {
	var opts *blob.ReaderOptions
	if r.b.s3 != nil {
		opts = &blob.ReaderOptions{BeforeRead: oneAttemptHook}
	}
	var rd *blob.Reader
	err := r.b.retry(r.ctx, "read", r.key, func(ctx context.Context) error {
		var err error
		rd, err = r.b.b.NewRangeReader(ctx, r.key, r.pos, n, opts)
		return err
	})
	switch {
	case isRangeNotSatisfiable(err):
		// S3 answers 416 for a range that starts at or past the end.
		return fmt.Errorf("storage: read %q: the object ends before byte %d of %d: %w", r.key, r.pos, r.size, ErrShortObject)
	case err != nil:
		return opError("read", r.key, err)
	}
	r.r, r.left, r.end = rd, n, r.pos+n
	return nil
}

// drop closes the open request.
func (r *rangeReader) drop() {
	if r.r != nil {
		_ = r.r.Close() // a reader's Close has nothing to report
		r.r = nil
	}
}

// Close implements io.Closer. Closing twice is not an error.
func (r *rangeReader) Close() error {
	r.drop()
	r.closed = true
	return nil
}
