package dedup

import (
	"context"
	"errors"
	"fmt"

	"github.com/uptrace/bun"
)

// Move renames and/or moves owner's live file id: a nil folder or name
// keeps the current one. Moving a file to where it already is returns it
// unchanged. It returns the file as its own transaction left it, with its
// object's key and without inline content, whatever commits after it.
// ErrNotFound for an unknown, foreign or trashed id; ErrConflict when the
// path is taken.
func (c *Catalog) Move(ctx context.Context, owner, id string, newFolder, newName *string) (*File, error) {
	var moved *File
	err := c.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		f, err := c.lockFile(ctx, tx, owner, id)
		if err != nil {
			return err
		}
		if f.DeletedAt != nil {
			return ErrNotFound
		}
		folder, name := f.Folder, f.Name
		if newFolder != nil {
			folder = *newFolder
		}
		if newName != nil {
			name = *newName
		}
		if f.Folder == folder && f.Name == name {
			moved, err = readTx(ctx, tx, owner, id)
			return err
		}
		other, err := c.liveAt(ctx, tx, owner, folder, name)
		if err != nil {
			return err
		}
		if other != "" {
			return ErrConflict
		}
		_, err = tx.NewUpdate().Model((*File)(nil)).
			Set("folder = ?", folder).Set("name = ?", name).Set("name_fold = ?", Fold(name)).
			Set("updated_at = ?", Micros(c.now())).
			Where("id = ?", id).Exec(ctx)
		if isUniqueViolation(err) {
			return ErrConflict
		}
		if err != nil {
			return err
		}
		moved, err = readTx(ctx, tx, owner, id)
		return err
	})
	if err != nil {
		return nil, wrap("move", err)
	}
	return moved, nil
}

// Trash soft-deletes owner's file id; its reference is kept. Trashing a
// trashed file changes nothing. ErrNotFound for an unknown or foreign id.
func (c *Catalog) Trash(ctx context.Context, owner, id string) error {
	err := c.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		f, err := c.lockFile(ctx, tx, owner, id)
		if err != nil || f.DeletedAt != nil {
			return err
		}
		now := Micros(c.now())
		_, err = tx.NewUpdate().Model((*File)(nil)).
			Set("deleted_at = ?", now).Set("updated_at = ?", now).
			Where("id = ?", id).Exec(ctx)
		return err
	})
	return wrap("trash", err)
}

// Restore brings owner's trashed file id back. Restoring a live file
// changes nothing. It returns the file as its own transaction left it, with
// its object's key and without inline content, whatever commits after it.
// ErrConflict when its path is taken; ErrNotFound for an unknown or foreign
// id.
func (c *Catalog) Restore(ctx context.Context, owner, id string) (*File, error) {
	var restored *File
	err := c.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		f, err := c.lockFile(ctx, tx, owner, id)
		if err != nil {
			return err
		}
		if f.DeletedAt == nil {
			restored, err = readTx(ctx, tx, owner, id)
			return err
		}
		other, err := c.liveAt(ctx, tx, owner, f.Folder, f.Name)
		if err != nil {
			return err
		}
		if other != "" {
			return ErrConflict
		}
		_, err = tx.NewUpdate().Model((*File)(nil)).
			Set("deleted_at = NULL").Set("updated_at = ?", Micros(c.now())).
			Where("id = ?", id).Exec(ctx)
		if isUniqueViolation(err) {
			return ErrConflict
		}
		if err != nil {
			return err
		}
		restored, err = readTx(ctx, tx, owner, id)
		return err
	})
	if err != nil {
		return nil, wrap("restore", err)
	}
	return restored, nil
}

// readTx reads owner's file id, with its object's key, inside tx, which
// holds the row's lock: what tx made of it, whatever commits after tx.
func readTx(ctx context.Context, tx bun.Tx, owner, id string) (*File, error) {
	var f File
	if err := fileQuery(tx, &f).Where("f.id = ?", id).Where("f.owner = ?", owner).Scan(ctx); err != nil {
		return nil, err
	}
	return &f, nil
}

// Purge deletes owner's file id (live or trashed) and drops its reference.
// When that was the object's last reference, the object is marked
// "deleting" in the same transaction and returned: the caller deletes its
// bytes and then calls RemoveObject (the collector finishes it after a
// crash). ErrNotFound for an unknown or foreign id. When a retried
// attempt no longer finds a file an earlier attempt had found (whose commit
// may have been applied, its reply lost), Purge returns nil, nil: the file
// is gone and Collect deletes bytes it left unreferenced.
func (c *Catalog) Purge(ctx context.Context, owner, id string) (*Doomed, error) {
	var doomed *Doomed
	seen := false
	err := c.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		doomed = nil
		f, err := c.lockFile(ctx, tx, owner, id)
		if errors.Is(err, ErrNotFound) && seen {
			// An earlier attempt found the file, and may have purged it
			// before its reply was lost: either way the file is gone, as
			// asked. An object it left unreferenced is marked "deleting",
			// and Collect removes its bytes.
			return nil
		}
		if err != nil {
			return err
		}
		seen = true
		doomed, err = c.purgeTx(ctx, tx, f)
		return err
	})
	if err != nil {
		return nil, wrap("purge", err)
	}
	return doomed, nil
}

// purgeTx deletes the locked row f and drops its reference inside tx.
func (c *Catalog) purgeTx(ctx context.Context, tx bun.Tx, f *File) (*Doomed, error) {
	if _, err := tx.NewDelete().Model((*File)(nil)).Where("id = ?", f.ID).Exec(ctx); err != nil {
		return nil, err
	}
	var obj object
	if err := c.forUpdate(tx.NewSelect().Model(&obj).Column("sha256", "key", "ref_count", "pins", "pinned_until").ColumnExpr(inlineColumn).
		Where("sha256 = ?", f.SHA256)).Scan(ctx); err != nil {
		return nil, err
	}
	if obj.RefCount > 1 || obj.pinned(Micros(c.now())) {
		// Another file references the object, or an upload in progress
		// may (see Pin): it stays live, and the last Unpin, or Collect
		// once the pins expire, deletes it if nothing references it.
		_, err := tx.NewUpdate().Model((*object)(nil)).Set("ref_count = ref_count - 1").
			Where("sha256 = ?", f.SHA256).Exec(ctx)
		return nil, err
	}
	_, err := tx.NewUpdate().Model((*object)(nil)).Set("ref_count = 0").Set("state = ?", stateDeleting).
		Where("sha256 = ?", f.SHA256).Exec(ctx)
	if err != nil {
		return nil, err
	}
	return &Doomed{SHA256: obj.SHA256, Key: obj.Key, Inline: obj.Inline}, nil
}

// wrap adds the operation to a database error, leaving the catalogue's
// sentinels recognisable with errors.Is.
func wrap(op string, err error) error {
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		return err
	}
	return fmt.Errorf("dedup: %s: %w", op, err)
}
