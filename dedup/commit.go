package dedup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// ErrObjectGone: a commit of an existing object found it gone or being
// deleted; the upload has no bytes of its own to fall back on.
var ErrObjectGone = errors.New("dedup: stored object went away during the upload")

// ErrStagingExpired: the staged bytes are older than the commit deadline, so
// the collector may already have removed them; the upload must be retried.
var ErrStagingExpired = errors.New("dedup: staged object expired before commit")

// ErrIDTaken: the new file's id is already another file's: the id
// generator repeated itself. Nothing is committed. (Only when an earlier
// attempt of the same commit may have committed it, its outcome lost, is a
// file with that id, owner and content taken for that attempt's.)
var ErrIDTaken = errors.New("dedup: file id already in use by another file")

// CommitRequest describes a new file whose content is staged under Key.
type CommitRequest struct {
	// File is the new row; ID, Owner, Folder, Name, SHA256, Size and the
	// descriptive fields must be set. NameFold, times and Key are filled.
	File *File
	// Key is where the content was staged: a fresh key, unused in the
	// bucket when Data is set.
	Key string
	// Data, when not empty, is the whole content, stored in the object row
	// (an inline object) instead of the bucket, which holds nothing under
	// Key. It commits, and becomes durable, with the rows, so it needs no
	// Deadline. Callers keep it small: every Get of the file reads it.
	Data []byte
	// Overwrite trashes a live file at the same path instead of failing.
	Overwrite bool
	// Deadline: the commit is refused with ErrStagingExpired after it.
	Deadline time.Time
	// Existing means nothing was staged: Key is the key of the live object
	// with File's SHA-256, which the file is to reference. The commit fails
	// with ErrObjectGone if that object is no longer live.
	Existing bool
	// Retry says that this request repeats one whose outcome was lost
	// (ErrOutcomeUnknown): a file row with its ID, Owner and SHA-256 is
	// then taken for that earlier commit's (its path may have changed
	// since, by a rename) and returned. Without it, a row with the ID
	// fails the commit with ErrIDTaken. Commit's own retries of a
	// transaction that may have committed behave as if it were set.
	Retry bool
}

// CommitResult says what Commit did with the staged content.
type CommitResult struct {
	// File is the committed row, Key set to the object's key.
	File *File
	// DedupHit is true when the content was already stored: the staged key
	// is not referenced and the caller should delete it.
	DedupHit bool
}

// Commit inserts the file row and references its content in one
// transaction: an existing object (by SHA-256) gets ref_count+1 and the
// staged key is left unreferenced (DedupHit); otherwise the staged key
// becomes the object. An object that the collector is deleting is taken
// over with the staged key. ErrConflict when a live file has the path and
// Overwrite is false. Transient errors retry the whole transaction; a retry
// after a commit whose outcome was lost finds the row and reports it (see
// CommitRequest.Retry). ErrIDTaken when another file has the new file's id.
//
// On SQLite, whose single writer makes every commit wait for the one
// before, concurrent commits are grouped into one transaction.
// PostgreSQL runs concurrent transactions and groups their WAL
// flushes itself, so there each commit is its own: new content as one
// statement, overwrites and existing objects as a
// transaction. Either way a commit returns only after its own changes are
// durably committed.
func (c *Catalog) Commit(ctx context.Context, req CommitRequest) (*CommitResult, error) {
	var res *CommitResult
	var err error
	switch {
	case c.pg && !req.Overwrite && !req.Existing:
		res, err = c.commitStatement(ctx, req)
	case c.pg:
		res, err = c.group.runOne(ctx, req)
	default:
		res, err = c.group.submit(ctx, req)
	}
	if err != nil {
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrStagingExpired) || errors.Is(err, ErrObjectGone) {
			return nil, err
		}
		return nil, fmt.Errorf("dedup: commit: %w", err)
	}
	return res, nil
}

// commitTx commits req inside tx. mayBeDone says that an earlier attempt
// may have committed req before its outcome was lost: a row with req's
// file id is then that attempt's, if its owner and content are req's (its
// path may have changed since, by a rename). Otherwise a row with that id
// is another file's, and the commit fails with ErrIDTaken.
func (c *Catalog) commitTx(ctx context.Context, tx bun.Tx, req CommitRequest, mayBeDone bool) (*CommitResult, error) {
	f := *req.File
	var done []File
	if err := fileQuery(tx, &done).Where("f.id = ?", f.ID).Scan(ctx); err != nil {
		return nil, err
	}
	if len(done) == 1 {
		if d := done[0]; !mayBeDone || d.Owner != f.Owner || d.SHA256 != f.SHA256 {
			return nil, ErrIDTaken
		}
		return &CommitResult{File: &done[0], DedupHit: done[0].Key != req.Key}, nil
	}

	now := c.now()
	if !req.Deadline.IsZero() && now.After(req.Deadline) {
		return nil, ErrStagingExpired
	}
	f.NameFold = Fold(f.Name)
	f.CreatedAt, f.UpdatedAt, f.DeletedAt = Micros(now), Micros(now), nil

	old, err := c.liveAt(ctx, tx, f.Owner, f.Folder, f.Name)
	if err != nil {
		return nil, err
	}
	if old != "" {
		if !req.Overwrite {
			return nil, ErrConflict
		}
		if _, err := tx.NewUpdate().Model((*File)(nil)).
			Set("deleted_at = ?", Micros(now)).Set("updated_at = ?", Micros(now)).
			Where("id = ?", old).Exec(ctx); err != nil {
			return nil, err
		}
	}

	if req.Existing {
		return c.commitExistingTx(ctx, tx, &f, req.Key, req.Overwrite)
	}
	// Insert the object, or lock the existing row and read it: an upsert
	// is atomic where an insert-then-select is not (a collector could
	// delete the row between the two statements).
	cur := object{SHA256: f.SHA256, Size: f.Size, Key: req.Key, State: stateLive, CreatedAt: Micros(now), Data: req.Data}
	if _, err := tx.NewInsert().Model(&cur).
		On("CONFLICT (sha256) DO UPDATE").Set("ref_count = ?TableAlias.ref_count").
		Returning("key, state, ref_count").Exec(ctx); err != nil {
		return nil, err
	}
	hit := cur.Key != req.Key
	if hit && cur.State == stateDeleting {
		// The collector is deleting the old bytes (by their key): take the
		// row over with ours, which it will not touch.
		if _, err := tx.NewUpdate().Model((*object)(nil)).
			Set("key = ?", req.Key).Set("state = ?", stateLive).Set("size = ?", f.Size).
			Set("data = ?", nullBytes(req.Data)).
			Set("created_at = ?", Micros(now)).
			Where("sha256 = ?", f.SHA256).Exec(ctx); err != nil {
			return nil, err
		}
		hit = false
	}

	if err := insertFileRef(ctx, tx, &f, req.Overwrite); err != nil {
		return nil, err
	}
	f.Key, f.Data = req.Key, req.Data
	if hit {
		f.Key, f.Data = cur.Key, nil
	}
	return &CommitResult{File: &f, DedupHit: hit}, nil
}

// commitExistingTx inserts f referencing the live object under key, which
// it locks first. An overwrite that loses its path to a concurrent commit
// retries, as one of new content does.
func (c *Catalog) commitExistingTx(ctx context.Context, tx bun.Tx, f *File, key string, overwrite bool) (*CommitResult, error) {
	var objs []object
	if err := c.forUpdate(tx.NewSelect().Model(&objs).Column("key", "state").Where("sha256 = ?", f.SHA256)).Scan(ctx); err != nil {
		return nil, err
	}
	if len(objs) == 0 || objs[0].State != stateLive || objs[0].Key != key {
		return nil, ErrObjectGone
	}
	if err := insertFileRef(ctx, tx, f, overwrite); err != nil {
		return nil, err
	}
	f.Key = key
	return &CommitResult{File: f}, nil
}

// insertFileRef inserts the file row f and counts its reference to its
// object. A live file already at its path gives ErrConflict, or, when
// retryRace is set (an overwrite that lost the path to a concurrent
// commit), errRetryOverwrite, which retries the transaction.
func insertFileRef(ctx context.Context, tx bun.Tx, f *File, retryRace bool) error {
	if _, err := tx.NewInsert().Model(f).Exec(ctx); err != nil {
		if isUniqueViolation(err) {
			if retryRace {
				return fmt.Errorf("%w: %w", errRetryOverwrite, err)
			}
			return ErrConflict
		}
		return err
	}
	_, err := tx.NewUpdate().Model((*object)(nil)).
		Set("ref_count = ref_count + 1").Where("sha256 = ?", f.SHA256).Exec(ctx)
	return err
}

// LiveObject returns the key of the live object with that SHA-256 (hex)
// that a file of owner (live or in the trash) references, or ok false when
// there is none: content only other owners have is not reported, so that
// what an upload does, and how long it takes, never tells an owner what
// others have stored.
func (c *Catalog) LiveObject(ctx context.Context, owner, sha256 string) (key string, ok bool, err error) {
	var keys []string
	err = c.do(ctx, func(ctx context.Context) error {
		keys = nil
		return c.db.NewSelect().Model((*object)(nil)).Column("key").
			Where("sha256 = ?", sha256).Where("state = ?", stateLive).
			Where("EXISTS (SELECT 1 FROM files AS f WHERE f.sha256 = ? AND f.owner = ?)", sha256, owner).
			Scan(ctx, &keys)
	})
	if err != nil {
		return "", false, fmt.Errorf("dedup: object lookup: %w", err)
	}
	if len(keys) == 0 {
		return "", false, nil
	}
	return keys[0], true, nil
}

// OwnerHasOther reports whether owner has a file (live or in the trash)
// other than the file except whose content has that SHA-256 (hex). It
// finds nothing for an owner or content it does not know.
func (c *Catalog) OwnerHasOther(ctx context.Context, owner, sha256, except string) (bool, error) {
	var ids []string
	err := c.do(ctx, func(ctx context.Context) error {
		ids = nil
		return c.db.NewSelect().TableExpr("files AS f").Column("f.id").
			Where("f.sha256 = ?", sha256).Where("f.owner = ?", owner).Where("f.id <> ?", except).
			Limit(1).Scan(ctx, &ids)
	})
	if err != nil {
		return false, fmt.Errorf("dedup: content lookup: %w", err)
	}
	return len(ids) > 0, nil
}

// StoredObject names a live object whose content is in the bucket.
type StoredObject struct {
	SHA256 string `bun:"sha256"`
	Key    string `bun:"key"`
}

// sizeScanRows bounds the file rows that ObjectsOfSize reads: an owner's
// files of one size may share their content, and a fixed number of rows
// keeps the lookup bounded however many there are.
const sizeScanRows = 16

// ObjectsOfSize returns up to limit distinct live objects of exactly size
// bytes whose content is in the bucket (not inline) and which files of
// owner (live or in the trash) reference, in no particular order; none is
// not an error. It reads no more than 16 of owner's files of that size,
// and nothing of other owners'. A Put that knows its upload's size in
// advance compares the upload with them (see filestore.PutOptions.Size);
// like LiveObject, it never reports content that only other owners have.
func (c *Catalog) ObjectsOfSize(ctx context.Context, owner string, size, limit int64) ([]StoredObject, error) {
	var rows []StoredObject
	err := c.do(ctx, func(ctx context.Context) error {
		rows = nil
		return c.objectsOfSize(owner, size).Scan(ctx, &rows)
	})
	if err != nil {
		return nil, fmt.Errorf("dedup: objects of size %d: %w", size, err)
	}
	var objs []StoredObject
	seen := make(map[string]bool, len(rows))
	for _, o := range rows {
		if int64(len(objs)) == limit {
			break
		}
		if !seen[o.SHA256] {
			seen[o.SHA256] = true
			objs = append(objs, o)
		}
	}
	return objs, nil
}

// objectsOfSize is ObjectsOfSize's query, before duplicates are dropped.
func (c *Catalog) objectsOfSize(owner string, size int64) *bun.SelectQuery {
	return c.db.NewSelect().TableExpr("files AS f").
		Join("JOIN objects AS o ON o.sha256 = f.sha256").
		Column("o.sha256", "o.key").
		Where("f.owner = ?", owner).Where("f.size = ?", size).
		Where("o.data IS NULL").Where("o.state = ?", stateLive).
		Limit(sizeScanRows)
}

// nullBytes is b as a query argument, NULL when b is empty (an object
// whose content is in the bucket).
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
