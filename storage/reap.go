package storage

import (
	"context"
	"errors"
	"time"
)

// When a failed S3 writer's key is searched for multipart uploads left
// behind: at once, then reapLate and reapLast after it (counted from the
// first), each search bounded by reapTimeout; the search that Close makes
// at once instead of waiting is bounded by reapCloseTimeout, so that an S3
// server that no longer answers holds Close that long at most.
const (
	reapLate         = time.Second
	reapLast         = 4 * time.Second
	reapTimeout      = 10 * time.Second
	reapCloseTimeout = 2 * time.Second
)

// reap aborts, in the background, the S3 multipart uploads of key, which
// a Writer that failed (cancelled, or its upload refused) may have left in
// progress although the transfer manager aborted its own: one whose
// CreateMultipartUpload the server carried out but whose reply never
// arrived (the context was cancelled, or the connection broke) has no
// upload id to abort; and parts still landing when the abort came may
// keep, or bring back, an upload (S3's documentation says an abort may
// have to be repeated). Left alone, they would hold their parts until
// garbage collection takes them for a crash's leftovers, after the key's
// staging TTL. Keys are never reused, so every upload of key is the failed
// writer's. The search runs at once and twice more over the next seconds;
// Close stops the waits after one last search. Failures are logged, not
// returned: garbage collection remains the backstop.
func (b *Bucket) reap(key string) {
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
		last := func() { b.abortUploadsOf(key, reapCloseTimeout) } // Close's, instead of the rest
		for _, at := range []time.Duration{0, reapLate, reapLast} {
			select {
			case <-stop:
				last()
				return
			default:
			}
			t := time.NewTimer(time.Until(start.Add(at)))
			select {
			case <-t.C:
			case <-stop:
				t.Stop()
				last()
				return
			}
			b.abortUploadsOf(key, reapTimeout)
		}
	}()
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

// stopReaping ends reap's waits (each reaper makes its last search at
// once) and waits for the reapers, cutting short after reapCloseTimeout
// the searches still running then; reap does nothing afterwards.
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
