package filestore

import (
	"context"
	"fmt"
	"time"

	"github.com/filestore-go/filestore/dedup"
)

// Update implements Store.Update.
func (s *Service) Update(ctx context.Context, owner, id string, u Update) (*File, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if !findable(owner, id) {
		return nil, notFound(ctx, "update", id)
	}
	if u.Name == nil && u.Folder == nil {
		return nil, fmt.Errorf("filestore: update %s: %w: nothing to change", id, ErrInvalidArgument)
	}
	var name, folder *string
	if u.Name != nil {
		n, err := CleanName(*u.Name)
		if err != nil {
			return nil, fmt.Errorf("filestore: update %s: %w", id, err)
		}
		name = &n
	}
	if u.Folder != nil {
		f, err := CleanFolder(*u.Folder)
		if err != nil {
			return nil, fmt.Errorf("filestore: update %s: %w", id, err)
		}
		folder = &f
	}
	row, err := s.cat.Move(ctx, owner, id, folder, name)
	if err != nil {
		return nil, s.translate("update "+id, err)
	}
	return toFile(row)
}

// Delete implements Store.Delete.
func (s *Service) Delete(ctx context.Context, owner, id string) error {
	if err := s.check(); err != nil {
		return err
	}
	if !findable(owner, id) {
		return notFound(ctx, "delete", id)
	}
	return s.translate("delete "+id, s.cat.Trash(ctx, owner, id))
}

// Restore implements Store.Restore.
func (s *Service) Restore(ctx context.Context, owner, id string) (*File, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if !findable(owner, id) {
		return nil, notFound(ctx, "restore", id)
	}
	row, err := s.cat.Restore(ctx, owner, id)
	if err != nil {
		return nil, s.translate("restore "+id, err)
	}
	return toFile(row)
}

// Purge implements Store.Purge. When the file held the content's last
// reference, the bytes are deleted before Purge returns; if that fails (or
// the process dies), the object stays marked and Collect finishes it. An
// object pinned by an upload in progress (see pin) stays until that
// upload's unpin, which deletes it if the upload did not reference it.
func (s *Service) Purge(ctx context.Context, owner, id string) error {
	if err := s.check(); err != nil {
		return err
	}
	if !findable(owner, id) {
		return notFound(ctx, "purge", id)
	}
	doomed, err := s.cat.Purge(ctx, owner, id)
	if err != nil {
		return s.translate("purge "+id, err)
	}
	if doomed != nil {
		// The reference is gone for good whatever happens to ctx now.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, err := s.dispose(dctx, *doomed); err != nil {
			s.log.WarnContext(ctx, "filestore: could not remove object; Collect will", "sha256", doomed.SHA256, "error", err)
		}
	}
	return nil
}

// dispose deletes a doomed object's bytes, then its row (with which an
// inline object's bytes go), and reports whether it deleted the row: false
// when another disposer of the same object (a concurrent Collect or Purge)
// did, or a commit took the row over.
func (s *Service) dispose(ctx context.Context, d dedup.Doomed) (bool, error) {
	if !d.Inline {
		if err := s.bucket.Delete(ctx, d.Key); err != nil {
			return false, err
		}
	}
	return s.cat.RemoveObject(ctx, d)
}
