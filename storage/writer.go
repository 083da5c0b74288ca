package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gocloud.dev/blob"
)

// contentType is stored with every object: objects are opaque bytes here;
// what they are is the catalogue's business.
const contentType = "application/octet-stream"

// Writer streams one object into the bucket. It is not safe for concurrent
// use. The object becomes visible only when Close returns nil.
type Writer struct {
	w       *blob.Writer
	ctx     context.Context    // the caller's context
	cancel  context.CancelFunc // cancels the context the blob.Writer runs under
	key     string
	closed  bool
	failed  error // the first failed Write; Close then aborts
	written int64 // bytes written (for a local writer, to f)

	// s3:// buckets only: the bucket that searches for what a failed
	// writer left (see Bucket.reap), and the function that gives back the
	// writer's share of Options.WriteMemory (called once, by Close).
	reaper  *Bucket
	release func()

	// file:// buckets only.
	local  *localDir
	f      *os.File // the temporary file, from BeforeWrite
	queued int64    // writeback started for [0, queued)
	waited int64    // writeback finished for [0, waited)
	noWB   bool     // writeback failed once; don't try again
}

// NewWriter starts writing the object key, which must come from NewKey
// (otherwise the error wraps ErrInvalidKey). An existing object at key would
// be replaced; filestore never reuses a key.
//
// The object becomes visible only at Close. When Close returns nil the object
// is stored; for a file:// bucket (without Options.NoSync) its bytes and its
// directory entry are then on stable storage. To abort, cancel ctx and then
// call Close: nothing becomes visible, and Close returns an error wrapping
// ctx.Err(). The caller must call Close in every case. A Writer is not
// retried: the bytes it was given cannot be replayed.
//
// On S3, NewWriter first reserves the writer's share of
// Options.WriteMemory, waiting for it if other writers hold the budget; if
// ctx ends first, the error wraps ctx.Err() and nothing is held. Close gives
// the share back, for the next writers once a garbage collection has freed
// this one's parts (see Options.WriteMemory).
func (b *Bucket) NewWriter(ctx context.Context, key string) (*Writer, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("storage: write: %w", err)
	}
	w := &Writer{key: key, local: b.local, release: func() {}}
	opts := &blob.WriterOptions{ContentType: contentType}
	switch {
	case b.local != nil:
		opts.BeforeWrite = w.captureFile
	case b.s3 != nil:
		release, err := b.s3.memory.reserve(ctx)
		if err != nil {
			return nil, fmt.Errorf("storage: write %q: waiting for upload memory: %w", key, err)
		}
		w.release = release
		opts.BufferSize = b.s3.partSize
		opts.MaxConcurrency = b.s3.concurrency
		opts.BeforeWrite = b.s3.configure
		w.reaper = b
	}
	wctx, cancel := context.WithCancel(ctx)
	w.ctx, w.cancel = ctx, cancel
	bw, err := b.b.NewWriter(wctx, key, opts)
	if err != nil {
		cancel()
		w.release()
		return nil, opError("write", key, err)
	}
	w.w = bw
	if b.local != nil && w.f == nil {
		// fileblob always hands over its *os.File; without it nothing could be synced.
		w.cancel()
		_ = bw.Close()
		return nil, fmt.Errorf("storage: write %q: local writer has no file to sync", key)
	}
	return w, nil
}

// captureFile is the BeforeWrite hook of local writers: it keeps the
// temporary file so that Close can sync it.
func (w *Writer) captureFile(as func(any) bool) error {
	var f *os.File
	if !as(&f) {
		return nil
	}
	w.f = f
	return f.Chmod(localFileMode)
}

// Write writes p to the object. It fails fast with an error wrapping
// ctx.Err() once the writer's context is done, with ErrClosed after Close,
// and with the first failure's error after a Write failed (Close then
// stores nothing). A nil error does not mean the bytes are stored: only
// Close says so.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, fmt.Errorf("storage: write %q: %w", w.key, ErrClosed)
	}
	if err := w.ctx.Err(); err != nil {
		return 0, fmt.Errorf("storage: write %q: %w", w.key, err)
	}
	if w.failed != nil {
		return 0, w.failed
	}
	n, err := w.w.Write(p)
	w.written += int64(n)
	if w.f != nil {
		w.startWriteback()
	}
	if err != nil {
		w.failed = opError("write", w.key, err)
		return n, w.failed
	}
	return n, nil
}

// startWriteback starts the writeback of what was written since the last
// call once it reaches a chunk, and waits for the writeback of what lies more
// than the lag behind (file:// only; advisory: an error disables it, and the
// final fdatasync still makes the bytes durable).
func (w *Writer) startWriteback() {
	l := w.local
	if l.noSync || w.noWB || w.written-w.queued < l.chunk {
		return
	}
	if err := l.startWB(w.f, w.queued, w.written-w.queued); err != nil {
		w.noWB = true
		return
	}
	w.queued = w.written
	if behind := w.queued - l.lag; behind > w.waited {
		if err := l.waitWB(w.f, w.waited, behind-w.waited); err != nil {
			w.noWB = true
			return
		}
		w.waited = behind
	}
}

// Close completes the object, or aborts it if the writer's context is done
// or a Write failed (the object would lack bytes; the error wraps the
// Write's). If what was written was removed meanwhile (a local temporary
// file or an S3 multipart upload that garbage collection took for a
// crash's leftover), the error of Close, or of the Write that found out,
// wraps ErrUploadGone.
// It returns nil only when the object is stored (see NewWriter for what
// durable means per backend). On error nothing may be assumed stored: a local
// object whose final directory fsync failed may be visible, and the caller
// should delete it (or let garbage collection remove the unreferenced key).
//
// On S3, a failed Close also cleans up in the background, at once and
// twice over the next seconds (1 s and 4 s later); Bucket.Close makes the
// last round at once and waits for it (2 s at most):
//   - a writer given a whole part or more searches for multipart uploads
//     of the key left in progress despite the abort (a create whose reply
//     was lost, parts still landing) and aborts them;
//   - a Close that had sent the request storing the object (PutObject, or
//     CompleteMultipartUpload) and failed without the server refusing it
//     (cancelled while waiting for the answer, an answer lost or 5xx)
//     deletes the key: the server may store the object after Close
//     returned, when it had the whole request before the client gave up.
//     A delete made at once by the caller can come before that; these
//     deletes remove it unless the server stores it more than 4 s after
//     Close returned (or after Bucket.Close), which garbage collection
//     then cleans up.
//
// Closing twice returns an error wrapping ErrClosed.
func (w *Writer) Close() (err error) {
	if w.closed {
		return fmt.Errorf("storage: close %q: %w", w.key, ErrClosed)
	}
	w.closed = true
	defer w.cancel()
	// Deferred before the reap below, so run after it: the blob writer's
	// Close has returned by then, and with it the transfer manager and its
	// parts.
	defer w.release()
	// On S3, a failure leaves reap work: below one part the transfer
	// manager has started no multipart upload (it decides once the first
	// part is full); the object may land after all once the final request
	// was sent (sent, set below).
	sent := false
	if w.reaper != nil {
		defer func() {
			multipart := w.written >= int64(w.reaper.s3.partSize)
			if err != nil && (multipart || sent) {
				w.reaper.reap(w.key, multipart, sent)
			}
		}()
	}
	if err := w.ctx.Err(); err != nil {
		return w.abort(fmt.Errorf("aborted: %w", err))
	}
	if w.failed != nil {
		return w.abort(fmt.Errorf("aborted after a failed write: %w", w.failed))
	}
	syncing := w.local != nil && !w.local.noSync
	if syncing {
		if err := w.local.syncFile(w.f); err != nil {
			return w.abort(fmt.Errorf("fdatasync: %w", err))
		}
	}
	if err := w.w.Close(); err != nil {
		sent = !refused(err)
		if w.local != nil && isNotFound(err) && w.local.rootExists() {
			// The rename found no temporary file, in a bucket that is
			// there: it was removed, not the bucket.
			return fmt.Errorf("storage: close %q: %w: %w", w.key, ErrUploadGone, err)
		}
		return opError("close", w.key, err)
	}
	if syncing {
		if err := w.local.commitDir(filepath.Dir(w.f.Name())); err != nil {
			return fmt.Errorf("storage: close %q: sync directory: %w", w.key, err)
		}
	}
	return nil
}

// abort cancels the underlying write so that nothing becomes visible, and
// returns cause.
func (w *Writer) abort(cause error) error {
	w.cancel()
	if err := w.w.Close(); err != nil && !errors.Is(err, context.Canceled) {
		cause = fmt.Errorf("%w (and closing: %v)", cause, err)
	}
	return fmt.Errorf("storage: close %q: %w", w.key, cause)
}
