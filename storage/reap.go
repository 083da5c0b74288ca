package storage

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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
// reap), within timeout.
func (b *Bucket) abortUploadsOf(key string, timeout time.Duration) {
	s := b.s3
	ctx, cancel := context.WithTimeout(b.reapCtx, timeout)
	defer cancel()
	full := s.prefix + key
	out, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{
		Bucket: aws.String(s.name), Prefix: aws.String(full),
	}, oneAttempt)
	if err != nil {
		if b.reapCtx.Err() != nil {
			return // cut short by Close
		}
		if c, ok := httpStatus(err); !ok || c != http.StatusNotImplemented {
			b.log.WarnContext(ctx, "storage: could not look for the multipart uploads of a failed write; garbage collection aborts them after the staging TTL",
				"key", key, "err", err)
		}
		return
	}
	for _, u := range out.Uploads {
		if aws.ToString(u.Key) != full {
			continue
		}
		_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.name), Key: u.Key, UploadId: u.UploadId,
		}, oneAttempt)
		switch {
		case err == nil:
			b.log.InfoContext(ctx, "storage: aborted a multipart upload that a failed write left", "key", key)
		case !isAPIError(err, "NoSuchUpload"):
			b.log.WarnContext(ctx, "storage: could not abort the multipart upload of a failed write; garbage collection aborts it after the staging TTL",
				"key", key, "err", err)
		}
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
