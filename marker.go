package filestore

import (
	"context"
	"errors"
	"fmt"

	"github.com/filestore-go/filestore/storage"
)

// claimBucket binds the bucket (its prefix) to the Store's catalogue: it
// reads the bucket's marker and, if there is none, writes one naming the
// catalogue and reads it back, so that of two catalogues racing on an
// empty bucket one wins. A marker naming another catalogue is
// ErrBucketInUse: that catalogue's committed objects have staging keys,
// which this Store's Collect would delete as abandoned uploads.
func (s *Service) claimBucket(ctx context.Context) error {
	id := s.cat.ID()
	m, err := s.bucket.ReadMarker(ctx)
	if errors.Is(err, storage.ErrNotFound) {
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
	return nil
}
