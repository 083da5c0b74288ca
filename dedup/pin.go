package dedup

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

// unpinnedWhere is the condition of an object row that no pin holds: no
// pin was taken, or every one has expired (a process that pinned it died
// before Unpin). Its one argument is the time now (Unix microseconds).
const unpinnedWhere = "(pins = 0 OR pinned_until IS NULL OR pinned_until <= ?)"

// Pin keeps the live objects among sha256s (hex) from being deleted until
// Unpin releases them, or until until (Unix microseconds) at the latest,
// whatever happens to their references meanwhile: a purge of an object's
// last reference leaves a pinned object live, without references, and a
// commit may still reference it (CommitRequest.Existing). An upload whose
// content may be a stored object's pins it before reading its body, so
// that its commit finds the object's bytes where the upload checked them.
// It returns the objects it pinned, those live, with their keys (which may
// have changed since the caller looked: an object taken over by a commit
// after its deletion): an object being deleted, or that does not exist,
// is not pinned. Each returned SHA-256 is to be given to Unpin once. A retry of an attempt whose outcome
// was lost may pin an object twice: Unpin then leaves it pinned until
// until.
func (c *Catalog) Pin(ctx context.Context, sha256s []string, until int64) ([]StoredObject, error) {
	if len(sha256s) == 0 {
		return nil, nil
	}
	greatest := "MAX"
	if c.pg {
		greatest = "GREATEST"
	}
	var pinned []StoredObject
	err := c.do(ctx, func(ctx context.Context) error {
		pinned = nil
		now := Micros(c.now())
		return c.db.NewUpdate().Model((*object)(nil)).
			Set("pins = CASE WHEN pinned_until > ? THEN pins + 1 ELSE 1 END", now).
			Set("pinned_until = "+greatest+"(COALESCE(pinned_until, 0), ?)", until).
			Where("sha256 IN (?)", bun.List(sha256s)).Where("state = ?", stateLive).
			Returning("sha256, key").Scan(ctx, &pinned)
	})
	if err != nil {
		return nil, fmt.Errorf("dedup: pin: %w", err)
	}
	return pinned, nil
}

// Unpin releases one pin of each of sha256s, which Pin returned. An object
// that this leaves with neither a pin nor a reference (its last file was
// purged while it was pinned, and the pinner's commit did not reference
// it) is marked "deleting" and returned, as Purge returns one: the caller
// deletes its bytes and calls RemoveObject. An object no longer pinned
// (its pin expired, and Collect may have deleted it) is left alone.
func (c *Catalog) Unpin(ctx context.Context, sha256s []string) ([]Doomed, error) {
	if len(sha256s) == 0 {
		return nil, nil
	}
	var doomed []Doomed
	err := c.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		doomed = nil
		now := Micros(c.now())
		if _, err := tx.NewUpdate().Model((*object)(nil)).Set("pins = pins - 1").
			Where("sha256 IN (?)", bun.List(sha256s)).Where("pins > 0").Exec(ctx); err != nil {
			return err
		}
		var rows []object
		if err := tx.NewUpdate().Model((*object)(nil)).Set("state = ?", stateDeleting).
			Where("sha256 IN (?)", bun.List(sha256s)).Where("state = ?", stateLive).
			Where("ref_count = 0").Where(unpinnedWhere, now).
			Returning("sha256, key, "+inlineColumn).Scan(ctx, &rows); err != nil {
			return err
		}
		for _, r := range rows {
			doomed = append(doomed, Doomed{SHA256: r.SHA256, Key: r.Key, Inline: r.Inline})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dedup: unpin: %w", err)
	}
	return doomed, nil
}

// pinned reports whether a pin holds o at now (Unix microseconds).
func (o *object) pinned(now int64) bool {
	return o.Pins > 0 && o.PinnedUntil != nil && *o.PinnedUntil > now
}
