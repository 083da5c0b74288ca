package dedup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/uptrace/bun"
)

// PurgeTrash purges up to limit files trashed before the time before (Unix
// microseconds), each as Purge does, and returns how many it listed to
// purge (the oldest limit such files), how many of those it purged, and
// the objects that lost their last reference (marked "deleting"; the
// caller deletes their bytes and calls RemoveObject). A listed file that
// another collector purged, or someone restored, first is skipped, so
// fewer purged than limit does not mean the trash is done; fewer listed
// does.
func (c *Catalog) PurgeTrash(ctx context.Context, before int64, limit int) (purged, listed int, doomed []Doomed, err error) {
	var ids []string
	err = c.do(ctx, func(ctx context.Context) error {
		ids = nil
		return c.db.NewSelect().Model((*File)(nil)).Column("id").
			Where("deleted_at IS NOT NULL").Where("deleted_at < ?", before).
			OrderExpr("deleted_at ASC").Limit(int64(limit)).Scan(ctx, &ids)
	})
	if err != nil {
		return 0, 0, nil, fmt.Errorf("dedup: purge trash: %w", err)
	}
	for _, id := range ids {
		var d *Doomed
		var done bool
		err := c.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			d, done = nil, false
			var f File
			// Re-check under the lock: the file may have been restored or
			// purged since it was listed.
			err := c.forUpdate(tx.NewSelect().Model(&f).Where("id = ?", id).
				Where("deleted_at IS NOT NULL").Where("deleted_at < ?", before)).Scan(ctx)
			if err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return nil
				}
				return err
			}
			d, err = c.purgeTx(ctx, tx, &f)
			done = err == nil
			return err
		})
		if err != nil {
			return purged, len(ids), doomed, fmt.Errorf("dedup: purge trash: %w", err)
		}
		if done {
			purged++
		}
		if d != nil {
			doomed = append(doomed, *d)
		}
	}
	return purged, len(ids), doomed, nil
}

// MarkUnreferenced marks up to limit objects with no reference "deleting"
// (skipping rows that a commit holds locked, and objects pinned by an
// upload in progress: see Pin) and returns them together with
// every object already marked (by a purge, or by a collector that crashed).
// The caller deletes their bytes, then calls RemoveObject for each.
func (c *Catalog) MarkUnreferenced(ctx context.Context, limit int) ([]Doomed, error) {
	var doomed []Doomed
	err := c.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		doomed = nil
		now := Micros(c.now())
		pick := tx.NewSelect().Model((*object)(nil)).Column("sha256").
			Where("ref_count = 0").Where("state = ?", stateLive).Where(unpinnedWhere, now).Limit(int64(limit))
		if c.pg {
			pick = pick.For("UPDATE SKIP LOCKED")
		}
		// The conditions again, checked on the row as it is once locked
		// (PostgreSQL rechecks an UPDATE's own conditions on a row a
		// concurrent transaction changed).
		if _, err := tx.NewUpdate().Model((*object)(nil)).Set("state = ?", stateDeleting).
			Where("sha256 IN (?)", pick).
			Where("ref_count = 0").Where("state = ?", stateLive).Where(unpinnedWhere, now).Exec(ctx); err != nil {
			return err
		}
		var rows []object
		if err := tx.NewSelect().Model(&rows).Column("sha256", "key").ColumnExpr(inlineColumn).
			Where("state = ?", stateDeleting).Where("ref_count = 0").Limit(int64(limit)).Scan(ctx); err != nil {
			return err
		}
		for _, r := range rows {
			doomed = append(doomed, Doomed{SHA256: r.SHA256, Key: r.Key, Inline: r.Inline})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dedup: mark unreferenced: %w", err)
	}
	return doomed, nil
}

// RemoveObject deletes the row of a doomed object after its bytes are gone,
// and reports whether this call deleted it. A row that a commit has taken
// over meanwhile (another key, or live again), or that another disposer of
// the same object (a concurrent Collect or Purge) has deleted already, is
// left alone and reported false. (A retry after a deletion whose reply was
// lost also reports false: the count can fall short, never exceed.)
func (c *Catalog) RemoveObject(ctx context.Context, d Doomed) (bool, error) {
	var removed bool
	err := c.do(ctx, func(ctx context.Context) error {
		res, err := c.db.NewDelete().Model((*object)(nil)).
			Where("sha256 = ?", d.SHA256).Where("key = ?", d.Key).
			Where("state = ?", stateDeleting).Where("ref_count = 0").Exec(ctx)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		removed = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("dedup: remove object: %w", err)
	}
	return removed, nil
}

// KnownKeys returns which of keys are the key of an object row.
func (c *Catalog) KnownKeys(ctx context.Context, keys []string) (map[string]bool, error) {
	known := make(map[string]bool, len(keys))
	if len(keys) == 0 {
		return known, nil
	}
	err := c.do(ctx, func(ctx context.Context) error {
		var found []string
		if err := c.db.NewSelect().Model((*object)(nil)).Column("key").
			Where("key IN (?)", bun.List(keys)).Scan(ctx, &found); err != nil {
			return err
		}
		for _, k := range found {
			known[k] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dedup: known keys: %w", err)
	}
	return known, nil
}

// Stats are totals over the whole catalogue.
type Stats struct {
	Files, Owners, LogicalBytes, StoredBytes, Objects int64
}

// Stats counts files (live and trashed), distinct owners, the sum of file
// sizes, and the number and total size of live objects.
func (c *Catalog) Stats(ctx context.Context) (*Stats, error) {
	var s Stats
	err := c.do(ctx, func(ctx context.Context) error {
		if err := c.db.NewSelect().Model((*File)(nil)).
			ColumnExpr("COUNT(*)").ColumnExpr("COUNT(DISTINCT owner)").ColumnExpr("COALESCE(SUM(size), 0)").
			Scan(ctx, &s.Files, &s.Owners, &s.LogicalBytes); err != nil {
			return err
		}
		return c.db.NewSelect().Model((*object)(nil)).
			ColumnExpr("COUNT(*)").ColumnExpr("COALESCE(SUM(size), 0)").
			Where("state = ?", stateLive).Where("ref_count > 0").
			Scan(ctx, &s.Objects, &s.StoredBytes)
	})
	if err != nil {
		return nil, fmt.Errorf("dedup: stats: %w", err)
	}
	return &s, nil
}
