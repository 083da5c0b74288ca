package dedup

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"time"

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
// is not pinned. Each returned SHA-256 is to be given to Unpin once. A
// retry of an attempt whose outcome was lost (the connection went away
// while its reply was awaited) may pin an object twice: Unpin then leaves
// it pinned until until, which delays only its deletion.
//
// A pin is visible to every catalogue at once but not made durable (see
// unsynced): one lost with the database server's crash costs only the
// protection, and the fallback that Put had before pins is left.
func (c *Catalog) Pin(ctx context.Context, sha256s []string, until int64) ([]StoredObject, error) {
	if len(sha256s) == 0 {
		return nil, nil
	}
	greatest := "MAX"
	if c.pg {
		greatest = "GREATEST"
	}
	var pinned []StoredObject
	err := c.unsynced(ctx, IsTransient, func(ctx context.Context, db bun.IDB) error {
		pinned = nil
		now := Micros(c.now())
		return db.NewUpdate().Model((*object)(nil)).
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
// (its pin expired, and Collect may have deleted it) is left alone. The
// release, like the pin, is not made durable; the marking is, before
// Unpin returns.
//
// The release is retried only after errors that say it took no effect: a
// second release of the same pin after one whose outcome was lost would
// release another upload's pin, and with it that upload's protection.
// Then, and when the database does not answer, Unpin returns the error and
// the pins it may not have released stay until they expire.
func (c *Catalog) Unpin(ctx context.Context, sha256s []string) ([]Doomed, error) {
	if len(sha256s) == 0 {
		return nil, nil
	}
	var released []object
	err := c.unsynced(ctx, refusedTransient, func(ctx context.Context, db bun.IDB) error {
		released = nil
		return db.NewUpdate().Model((*object)(nil)).Set("pins = CASE WHEN pins > 0 THEN pins - 1 ELSE 0 END").
			Where("sha256 IN (?)", bun.List(sha256s)).
			Returning("sha256, ref_count, state").Scan(ctx, &released)
	})
	if err != nil {
		return nil, fmt.Errorf("dedup: unpin: %w", err)
	}
	var unreferenced []string
	for _, o := range released {
		if o.RefCount == 0 && o.State == stateLive {
			unreferenced = append(unreferenced, o.SHA256)
		}
	}
	if len(unreferenced) == 0 {
		return nil, nil
	}
	var doomed []Doomed
	err = c.do(ctx, func(ctx context.Context) error {
		doomed = nil
		var rows []object
		if err := c.db.NewUpdate().Model((*object)(nil)).Set("state = ?", stateDeleting).
			Where("sha256 IN (?)", bun.List(unreferenced)).Where("state = ?", stateLive).
			Where("ref_count = 0").Where(unpinnedWhere, Micros(c.now())).
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

// unsynced runs fn, whose statements change only pins, in a transaction
// (PostgreSQL) or on a connection (SQLite) whose commits are not waited
// for to reach stable storage: PostgreSQL's synchronous_commit off for the
// transaction, SQLite's synchronous NORMAL (in WAL mode, no sync at commit;
// checkpoints still sync) for fn's statements. Either database writes its
// log in order, so a later durable commit makes such a commit durable
// too, and one lost in a crash is lost with nothing after it. A pin lost
// so costs only its protection; the catalogue stays consistent. The
// errors for which retryable is true are retried.
func (c *Catalog) unsynced(ctx context.Context, retryable func(error) bool, fn func(ctx context.Context, db bun.IDB) error) error {
	if c.pg {
		return c.inTxRetrying(ctx, retryable, func(ctx context.Context, tx bun.Tx) error {
			if _, err := tx.ExecContext(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
				return err
			}
			return fn(ctx, tx)
		})
	}
	return c.doRetrying(ctx, retryable, func(ctx context.Context) error {
		conn, err := c.db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		var level int
		if err := conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level); err != nil {
			return err
		}
		if level <= sqliteSyncNormal {
			return fn(ctx, conn)
		}
		if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
			return err
		}
		ferr := fn(ctx, conn)
		// The connection goes back to the pool: its level must be the
		// one it had, whatever happened to ctx, or it must go.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(rctx, "PRAGMA synchronous = "+strconv.Itoa(level)); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			return errors.Join(ferr, fmt.Errorf("restoring synchronous: %w", err))
		}
		return ferr
	})
}

// sqliteSyncNormal is PRAGMA synchronous's value for NORMAL.
const sqliteSyncNormal = 1

// pinned reports whether a pin holds o at now (Unix microseconds).
func (o *object) pinned(now int64) bool {
	return o.Pins > 0 && o.PinnedUntil != nil && *o.PinnedUntil > now
}
