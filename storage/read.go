package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"

	"gocloud.dev/blob"

	"github.com/filestore-go/filestore/internal/retry"
)

// retry runs fn under the bucket's retry policy, retrying transient errors
// (and logging each of them), but not once silentTries tries went
// unanswered on an S3 bucket (see silent).
func (b *Bucket) retry(ctx context.Context, op, key string, fn func(ctx context.Context) error) error {
	quiet, spent := 0, false
	transient := func(err error) bool {
		if !IsTransient(err) {
			return false
		}
		if b.s3 != nil && silent(ctx, err) {
			if quiet++; quiet >= silentTries {
				spent = true
				return false
			}
		}
		b.log.WarnContext(ctx, "storage: transient error", "op", op, "key", key, "err", err)
		return true
	}
	err := retry.Do(ctx, b.policy, transient, fn)
	if spent {
		return fmt.Errorf("no retry after %d tries without an answer: %w", silentTries, err)
	}
	return err
}

// NewReader opens the object key for reading from its start. The error wraps
// ErrNotFound if the object does not exist, ErrInvalidKey for a key outside
// the key space, and ctx.Err() if ctx is done. Opening is retried on
// transient errors. The Reader reads under ctx, implements
// io.ReadSeekCloser with a lazy Seek (seeking alone costs no request; the
// next Read reopens at the new offset), and must be closed.
func (b *Bucket) NewReader(ctx context.Context, key string) (*blob.Reader, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("storage: read: %w", err)
	}
	var opts *blob.ReaderOptions
	size := int64(-1)
	if b.s3 != nil {
		opts = &blob.ReaderOptions{BeforeRead: readerHook(&size)}
	}
	var r *blob.Reader
	err := b.retry(ctx, "read", key, func(ctx context.Context) error {
		var err error
		r, err = b.b.NewReader(ctx, key, opts)
		return err
	})
	if err != nil {
		return nil, opError("read", key, err)
	}
	size = r.Size()
	return r, nil
}

// Open opens the object key for reading from its start, like NewReader, and
// returns the cheapest reader the bucket has. For a file:// bucket made by
// the package's Open function it is the object's *os.File, at the bucket
// directory joined with key: seeking costs no reopen, and a copy to a
// network connection can use sendfile. For other buckets (mem://, s3://, and buckets wrapped with
// New) it is NewReader's *blob.Reader, with its lazy Seek.
//
// The error wraps ErrInvalidKey for a key outside the key space, ErrNotFound
// if the object does not exist, and ctx.Err() if ctx is done before the
// object is opened. Opening a local file is not retried (it has no transient
// errors); other buckets retry as NewReader does. An *os.File does not
// observe ctx once opened: reads of a local file do not wait on a peer, and
// the caller ends them by closing it (an HTTP handler's deferred Close, when
// its request ends). The reader must be closed.
func (b *Bucket) Open(ctx context.Context, key string) (io.ReadSeekCloser, error) {
	if b.local == nil || strings.HasSuffix(key, fileblobAttrsExt) {
		// fileblob reserves the .attrs suffix; NewReader reports it as it does.
		r, err := b.NewReader(ctx, key)
		if err != nil {
			return nil, err // not a non-nil interface holding a nil *blob.Reader
		}
		return r, nil
	}
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("storage: read: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("storage: read %q: %w", key, err)
	}
	f, err := b.local.open(key)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("storage: read %q: %w: %w", key, ErrNotFound, err)
		}
		return nil, fmt.Errorf("storage: read %q: %w", key, err)
	}
	return f, nil
}

// ReaderAt returns an io.ReaderAt over the object key: each ReadAt is one
// range request (retried on transient errors) under ctx. ReadAt follows
// io.ReaderAt: fewer than len(p) bytes come with io.EOF at the object's end;
// a missing object gives an error wrapping ErrNotFound, a negative offset one
// wrapping ErrInvalidRange. It is safe for concurrent use.
func (b *Bucket) ReaderAt(ctx context.Context, key string) io.ReaderAt {
	return &readerAt{b: b, ctx: ctx, key: key}
}

type readerAt struct {
	b   *Bucket
	ctx context.Context
	key string
}

func (r *readerAt) ReadAt(p []byte, off int64) (int, error) {
	if err := checkKey(r.key); err != nil {
		return 0, fmt.Errorf("storage: read: %w", err)
	}
	if off < 0 {
		return 0, fmt.Errorf("storage: read %q at %d: %w", r.key, off, ErrInvalidRange)
	}
	if len(p) == 0 {
		return 0, nil
	}
	var opts *blob.ReaderOptions
	if r.b.s3 != nil {
		opts = &blob.ReaderOptions{BeforeRead: oneAttemptHook}
	}
	var n int
	var eof bool
	err := r.b.retry(r.ctx, "read", r.key, func(ctx context.Context) error {
		n, eof = 0, false
		rr, err := r.b.b.NewRangeReader(ctx, r.key, off, int64(len(p)), opts)
		if isRangeNotSatisfiable(err) {
			// S3 answers 416 for a range that starts at or past the end.
			eof = true
			return nil
		}
		if err != nil {
			return err
		}
		defer rr.Close()
		want := int64(len(p))
		if rest := rr.Size() - off; rest < want {
			want = max(rest, 0)
			eof = true
		}
		n, err = io.ReadFull(rr, p[:want])
		return err
	})
	if err != nil {
		return n, opError("read", r.key, err)
	}
	if eof {
		return n, io.EOF
	}
	return n, nil
}

// isRangeNotSatisfiable reports whether err is an HTTP 416 answer.
func isRangeNotSatisfiable(err error) bool {
	c, ok := httpStatus(err)
	return ok && c == http.StatusRequestedRangeNotSatisfiable
}
