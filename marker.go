package filestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/filestore-go/filestore/storage"
)

// claimBucket binds the bucket (its prefix) to the Store's catalogue: it
// reads the bucket's marker and, if there is none, writes one naming the
// catalogue and reads it back, so that of two catalogues racing on an
// empty bucket one wins. A marker naming another catalogue is
// ErrBucketInUse: that catalogue's committed objects have staging keys,
// which this Store's Collect would delete as abandoned uploads. So is a
// bucket without a marker that holds objects while the catalogue holds
// none (a bucket of a build before markers, opened with the wrong
// database). Once it has succeeded, it does nothing.
//
// Until then each call gives up after claimTimeout, waiting for another
// call's check included: a bucket that accepts connections and never
// answers would otherwise hold Open (a server's start) and every upload
// for two stall timeouts of the bucket each, one after the other.
func (s *Service) claimBucket(ctx context.Context) error {
	if s.claimed.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	select {
	case s.claimLock <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("filestore: bucket marker: %w", ctx.Err())
	}
	defer func() { <-s.claimLock }()
	if s.claimed.Load() {
		return nil
	}
	id := s.cat.ID()
	m, err := s.bucket.ReadMarker(ctx)
	if errors.Is(err, storage.ErrNotFound) {
		if err := s.unmarkedBucketIsOurs(ctx); err != nil {
			return err
		}
		err = s.bucket.CreateMarker(ctx, &storage.Marker{Catalog: id})
		if err == nil || errors.Is(err, storage.ErrExists) {
			m, err = s.bucket.ReadMarker(ctx)
		}
	}
	if err != nil {
		return fmt.Errorf("filestore: bucket marker: %w", err)
	}
	if m.Catalog != id {
		return fmt.Errorf("%w: its marker %q names catalogue %s, this database's is catalogue %s",
			ErrBucketInUse, storage.MarkerKey, m.Catalog, id)
	}
	s.claimed.Store(true)
	return nil
}

// claimTimeout bounds one check of the bucket's marker (see claimBucket):
// a few requests, which a bucket that answers at all answers well within it.
const claimTimeout = 5 * time.Second

// unmarkedBucketIsOurs refuses a bucket without a marker whose object key
// space holds keys (other than a killed writer's temporary files) while
// the catalogue has no object: written by a build
// before markers for another catalogue, whose objects this Store's Collect
// would delete. A catalogue with objects adopts its bucket (an upgrade).
func (s *Service) unmarkedBucketIsOurs(ctx context.Context) error {
	has, err := s.cat.HasObjects(ctx)
	if err != nil || has {
		return err
	}
	var first string
	errFound := errors.New("found")
	err = s.bucket.List(ctx, func(key string, _ time.Time, _ int64) error {
		if storage.IsTemporary(key) {
			return nil
		}
		first = key
		return errFound
	})
	switch {
	case errors.Is(err, errFound):
		return fmt.Errorf("%w: it has no marker %q but holds objects (%s among them), and this database's catalogue %s has none: it is another catalogue's bucket, or this is the wrong database; use another prefix=, or the right database",
			ErrBucketInUse, storage.MarkerKey, first, s.cat.ID())
	case err != nil:
		return fmt.Errorf("filestore: bucket marker: %w", err)
	}
	return nil
}

// bucketClaimed is claimBucket for operation op, which needs the bucket
// bound: a refusal comes as it is, a failure to ask the bucket wraps
// ErrUnavailable.
func (s *Service) bucketClaimed(ctx context.Context, op string) error {
	err := s.claimBucket(ctx)
	if err == nil || isBindingRefusal(err) {
		return err
	}
	return fmt.Errorf("filestore: %s: %w: %w", op, ErrUnavailable, err)
}

// isBindingRefusal reports whether err from claimBucket says the bucket
// is not this catalogue's (rather than that it could not be asked).
func isBindingRefusal(err error) bool {
	return errors.Is(err, ErrBucketInUse) || errors.Is(err, storage.ErrBadMarker)
}
