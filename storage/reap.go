package storage

import (
	"context"
	"errors"
	"time"
)

// When a failed S3 writer's key is cleaned up after (see reap): at once,
// then reapLate and reapLast after it (counted from the first), each round
// bounded by reapTimeout; the round that Close makes at once instead of
// waiting is bounded by reapCloseTimeout, so that an S3 server that no
// longer answers holds Close that long at most.
const (
	reapLate         = time.Second
	reapLast         = 4 * time.Second
	reapTimeout      = 10 * time.Second
	reapCloseTimeout = 2 * time.Second
)

// reap cleans up, in the background, after a Writer of key that failed
// (cancelled, or its upload refused). Keys are never reused, so whatever
// is stored or in progress at key is the failed writer's, and nothing
// references it. Two things may be left despite the transfer manager's
// own abort, each left alone until garbage collection takes it for a
// crash's leftover, after the key's staging TTL:
//
//   - with uploads, multipart uploads in progress: one whose
//     CreateMultipartUpload the server carried out but whose reply never
//     arrived (the context was cancelled, or the connection broke) has no
//     upload id to abort; and parts still landing when the abort came may
//     keep, or bring back, an upload (S3's documentation says an abort may
//     have to be repeated). reap aborts every upload of key.
//   - with object, the object itself: the PutObject (or the
//     CompleteMultipartUpload) that Close sent may be carried out by the
//     server after Close returned, when the server had the whole request
//     before the client gave up on it; a delete sent when Close returns
//     can come before it. reap deletes key.
//
// It does so at once, and again reapLate and reapLast later; Close stops
// the waits after one last round. Failures are logged, not returned:
// garbage collection remains the backstop.
func (b *Bucket) reap(key string, uploads, object bool) {
	b.reapMu.Lock()
	defer b.reapMu.Unlock()
	if b.reapStop == nil {
		return // closed
	}
	stop := b.reapStop
	b.reaping.Add(1)
	go func() {
		defer b.reaping.Done()
		start := time.Now()
		round := func(timeout time.Duration) {
			if uploads {
				b.abortUploadsOf(key, timeout)
			}
			if object {
				b.deleteLeftover(key, timeout)
			}
		}
		for _, at := range []time.Duration{0, reapLate, reapLast} {
			select {
			case <-stop:
				round(reapCloseTimeout) // Close's, instead of the rest
				return
			default:
			}
			t := time.NewTimer(time.Until(start.Add(at)))
			select {
			case <-t.C:
			case <-stop:
				t.Stop()
				round(reapCloseTimeout)
				return
			}
			round(reapTimeout)
		}
	}()
}

// deleteLeftover deletes key, which a failed write may have stored after
// all (see reap), within timeout, with one try.
func (b *Bucket) deleteLeftover(key string, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(b.reapCtx, timeout)
	defer cancel()
	if err := b.TryDelete(ctx, key); err != nil && b.reapCtx.Err() == nil {
		b.log.DebugContext(ctx, "storage: could not delete what a failed write may have stored; garbage collection deletes it after the staging TTL",
			"key", key, "err", err)
	}
}

// abortUploadsOf aborts every multipart upload in progress of key (see
// reap), within timeout, one try per request.
func (b *Bucket) abortUploadsOf(key string, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(b.reapCtx, timeout)
	defer cancel()
	n, err := b.abortUploads(ctx, key, func(k string, _ time.Time) bool { return k == key }, once)
	if n > 0 {
		b.log.InfoContext(ctx, "storage: aborted a multipart upload that a failed write left", "key", key, "uploads", n)
	}
	if err != nil && b.reapCtx.Err() == nil && !errors.Is(err, errNoUploadListing) {
		b.log.WarnContext(ctx, "storage: could not abort the multipart uploads of a failed write; garbage collection aborts them after the staging TTL",
			"key", key, "err", err)
	}
}

// stopReaping ends reap's waits (each reaper makes its last round at
// once) and waits for the reapers, cutting short after reapCloseTimeout
// the rounds still running then; reap does nothing afterwards.
func (b *Bucket) stopReaping() {
	b.reapMu.Lock()
	if b.reapStop != nil {
		close(b.reapStop)
		b.reapStop = nil
	}
	b.reapMu.Unlock()
	done := make(chan struct{})
	go func() {
		b.reaping.Wait()
		close(done)
	}()
	t := time.NewTimer(reapCloseTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		b.reapCancel()
		<-done
	}
	b.reapCancel()
}
