package filestore

import (
	"context"
	"fmt"
	"time"

	"github.com/filestore-go/filestore/dedup"
)

// collectBatch is how many rows or keys Collect handles per database round.
const collectBatch = 500

// Collect implements Store.Collect. Its three steps each keep invariants on
// their own, so a crash or a concurrent Collect at any point is harmless:
// purging old trash drops references in transactions; objects with no
// reference are marked, their bytes deleted, then their rows; staged keys
// without a row are deleted only when older than the staging TTL, which no
// commit can still reference (Put refuses to commit after half of it), and
// so are S3 multipart uploads that a crash left unfinished (an upload still
// being written when it is older than that fails with ErrStagingExpired;
// see Options.StagingTTL). Without an
// override in opts, the TTL is the longer of the Store's and the one the
// key carries, its uploader's (a staging key records it), so that Stores configured
// with different TTLs never remove each other's uploads in flight.
func (s *Service) Collect(ctx context.Context, opts *CollectOptions) (*CollectResult, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &CollectOptions{}
	}
	// Never sweep a bucket not known to be this catalogue's.
	if err := s.bucketClaimed(ctx, "collect"); err != nil {
		return nil, err
	}
	retention, ttl, keep := s.opts.TrashRetention, s.opts.StagingTTL, true
	if opts.TrashRetention > 0 {
		retention = opts.TrashRetention
	}
	if opts.StagingTTL > 0 {
		ttl, keep = opts.StagingTTL, false
	}
	res := &CollectResult{}
	now := s.opts.Now()

	before := dedup.Micros(now.Add(-retention))
	for {
		n, listed, doomed, err := s.cat.PurgeTrash(ctx, before, collectBatch)
		res.PurgedFiles += n
		if err := s.disposeAll(ctx, doomed, res); err != nil {
			return res, err
		}
		if err != nil {
			return res, s.translate("collect", err)
		}
		// Concurrent collectors list the same oldest files and each
		// purges the ones it wins: only a short list says the trash is done.
		if listed < collectBatch {
			break
		}
	}

	for {
		doomed, err := s.cat.MarkUnreferenced(ctx, collectBatch)
		if err != nil {
			return res, s.translate("collect", err)
		}
		if err := s.disposeAll(ctx, doomed, res); err != nil {
			return res, err
		}
		if len(doomed) < collectBatch {
			break
		}
	}

	stale := func(key string, at time.Time) bool { return at.Before(now.Add(-stagingAge(key, ttl, keep))) }
	n, err := s.sweepStaging(ctx, stale)
	res.RemovedStaging = n
	if err != nil {
		return res, s.translate("collect", err)
	}
	// Multipart uploads a crash left on S3 are invisible to the sweep.
	n, err = s.bucket.AbortStaleUploads(ctx, stale)
	res.RemovedStaging += n
	if err != nil {
		return res, s.translate("collect", err)
	}
	return res, nil
}

// disposeAll deletes the bytes and rows of doomed objects, counting in res
// those whose row it deleted (MarkUnreferenced also returns the objects
// that a concurrent Collect or Purge is disposing: they count there); it
// stops at the first failure.
func (s *Service) disposeAll(ctx context.Context, doomed []dedup.Doomed, res *CollectResult) error {
	for _, d := range doomed {
		removed, err := s.dispose(ctx, d)
		if err != nil {
			return s.translate("collect", err)
		}
		if removed {
			res.RemovedObjects++
		}
	}
	return nil
}

// sweepStaging deletes keys that stale reports (given each key's
// modification time) and no object row names: what a crash left between
// staging and commit.
func (s *Service) sweepStaging(ctx context.Context, stale func(key string, mod time.Time) bool) (int, error) {
	removed := 0
	var batch []string
	flush := func() error {
		known, err := s.cat.KnownKeys(ctx, batch)
		if err != nil {
			return err
		}
		for _, k := range batch {
			if known[k] {
				continue
			}
			if err := s.bucket.Delete(ctx, k); err != nil {
				return fmt.Errorf("delete staged %q: %w", k, err)
			}
			removed++
		}
		batch = batch[:0]
		return nil
	}
	err := s.bucket.List(ctx, func(key string, mod time.Time, _ int64) error {
		if !stale(key, mod) {
			return nil
		}
		batch = append(batch, key)
		if len(batch) == collectBatch {
			return flush()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	return removed, err
}
