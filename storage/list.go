package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"gocloud.dev/blob"
)

// Delete removes the object key. It is idempotent: a missing object is not
// an error. It is retried on transient errors; the error wraps ErrInvalidKey
// for a key outside the key space and ctx.Err() if ctx is done.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	return b.delete(ctx, key, b.retry)
}

// TryDelete is Delete with a single try, for a cleanup that something else
// backs up (garbage collection deletes what it leaves): after an upload
// failed because the bucket is unreachable, retrying the deletion of what
// it may have left would only double the wait and the warnings. Like
// Delete, a missing object is not an error and a done ctx gives an error
// wrapping ctx.Err().
func (b *Bucket) TryDelete(ctx context.Context, key string) error {
	return b.delete(ctx, key, once)
}

// once runs fn a single time: the run of operations that are not retried
// (see Bucket.retry).
func once(ctx context.Context, _, _ string, fn func(ctx context.Context) error) error { return fn(ctx) }

// delete implements Delete and TryDelete: run is b.retry, or a single try.
func (b *Bucket) delete(ctx context.Context, key string, run func(ctx context.Context, op, key string, fn func(ctx context.Context) error) error) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("storage: delete: %w", err)
	}
	err := run(ctx, "delete", key, func(ctx context.Context) error {
		if b.s3 != nil {
			return b.s3.delete(ctx, key)
		}
		err := b.b.Delete(ctx, key)
		if isNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return opError("delete", key, err)
	}
	return nil
}

// IsTemporary reports whether key, as List reports it, is a temporary file
// that a local writer killed mid-write left in a file:// bucket (its name
// ends in ".tmp"): never a committed object, of any catalogue.
func IsTemporary(key string) bool { return strings.HasSuffix(key, ".tmp") }

// List calls fn for every key in the object key space, with its modification
// time and size: committed objects, staged objects not yet committed, and, in
// a file:// bucket, the temporary files that a writer killed mid-write left
// behind (keys ending in ".tmp"), so that garbage collection can find and
// Delete them all. (An S3 multipart upload killed mid-way is not an object;
// a bucket lifecycle rule that aborts incomplete uploads removes those.)
//
// Keys come in lexical order. If fn returns an error, List stops and returns
// it unchanged. Remote buckets are listed page by page, each page retried on
// transient errors; a local directory is walked once. If ctx is done, List
// stops with an error wrapping ctx.Err(). Objects written or deleted during
// the walk may or may not be reported.
func (b *Bucket) List(ctx context.Context, fn func(key string, modTime time.Time, size int64) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storage: list: %w", err)
	}
	if b.local != nil {
		return b.listLocal(ctx, fn)
	}
	opts := &blob.ListOptions{Prefix: keyPrefix}
	if b.s3 != nil {
		opts.BeforeList = oneAttemptHook
	}
	token := blob.FirstPageToken
	for {
		var objs []*blob.ListObject
		var next []byte
		err := b.retry(ctx, "list", "", func(ctx context.Context) error {
			var err error
			objs, next, err = b.b.ListPage(ctx, token, b.pageSize, opts)
			return err
		})
		if err != nil {
			return fmt.Errorf("storage: list: %w", err)
		}
		for _, o := range objs {
			if o.IsDir {
				continue
			}
			if err := fn(o.Key, o.ModTime, o.Size); err != nil {
				return err
			}
		}
		if len(next) == 0 {
			return nil
		}
		token = next
	}
}

// errStop carries fn's error out of filepath.WalkDir unchanged.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }

// listLocal walks the key space of a file:// bucket in one pass. (fileblob's
// own listing walks the whole tree again for every page.)
func (b *Bucket) listLocal(ctx context.Context, fn func(key string, modTime time.Time, size int64) error) error {
	top := filepath.Join(b.local.root, filepath.FromSlash(keyPrefix))
	err := filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == top && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipAll // nothing written yet
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed meanwhile (a writer's rename, a delete)
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(b.local.root, path)
		if err != nil {
			return err
		}
		if err := fn(filepath.ToSlash(rel), fi.ModTime(), fi.Size()); err != nil {
			return errStop{err}
		}
		return nil
	})
	var stop errStop
	if errors.As(err, &stop) {
		return stop.err
	}
	if err != nil {
		return fmt.Errorf("storage: list: %w", err)
	}
	return nil
}
