package dedup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// errFastAbort: a commit on the fast path failed after it had written, so
// its batch is rolled back and run again on the savepoint path.
var errFastAbort = errors.New("dedup: fast commit path aborted")

// SQL of the fast commit path. The object upsert takes a reference in the
// same statement, and touches nothing when the row is being deleted (no
// row comes back).
const (
	sqlLiveAt = `SELECT id FROM files WHERE owner = ? AND folder = ? AND name = ? AND deleted_at IS NULL`
	sqlUpsert = `INSERT INTO objects (sha256, size, key, ref_count, state, created_at) VALUES (?, ?, ?, 1, 'live', ?)
		ON CONFLICT (sha256) DO UPDATE SET ref_count = objects.ref_count + 1 WHERE objects.state = 'live'
		RETURNING key`
	sqlInsertFile = `INSERT INTO files (id, owner, folder, name, name_fold, sha256, size, content_type, meta,
		scan_status, scan_engine, scan_version, scanned_at, created_at, updated_at, deleted_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`
	sqlGet = `SELECT f.id, f.owner, f.folder, f.name, f.name_fold, f.sha256, f.size, f.content_type, f.meta,
		f.scan_status, f.scan_engine, f.scan_version, f.scanned_at, f.created_at, f.updated_at, f.deleted_at, o.key
		FROM files AS f JOIN objects AS o ON o.sha256 = f.sha256 WHERE f.id = ? AND f.owner = ?`
)

// stmts are the statements a SQLite catalogue prepares once: SQLite spends
// more time parsing a small statement than running it, and bun writes
// arguments into the SQL text, so its statements are parsed every time.
type stmts struct {
	liveAt, upsert, insertFile, get *sql.Stmt
}

// prepare prepares the statements on db.
func prepare(ctx context.Context, db *sql.DB) (*stmts, error) {
	var s stmts
	for _, p := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&s.liveAt, sqlLiveAt}, {&s.upsert, sqlUpsert}, {&s.insertFile, sqlInsertFile}, {&s.get, sqlGet},
	} {
		st, err := db.PrepareContext(ctx, p.query)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("dedup: prepare: %w", err)
		}
		*p.dst = st
	}
	return &s, nil
}

// close closes the prepared statements.
func (s *stmts) close() {
	for _, st := range []*sql.Stmt{s.liveAt, s.upsert, s.insertFile, s.get} {
		if st != nil {
			_ = st.Close()
		}
	}
}

// commitFast commits req inside tx with three statements (prepared ones on
// SQLite) and no savepoint, for the common request: new content or a live
// object, no overwrite, nothing staged earlier. Its checks (deadline, path)
// come before its first write, so a refusal needs no rollback. ok is false
// when the request is not for this path; err is then nil if nothing was
// written (take the savepoint path), or errFastAbort or a transient error
// if something was (roll the batch back).
func (c *Catalog) commitFast(ctx context.Context, tx *sql.Tx, req CommitRequest) (res *CommitResult, ok bool, err error) {
	if (c.stmts == nil && !c.pg) || req.Overwrite || req.Existing {
		return nil, false, nil
	}
	now := c.now()
	if !req.Deadline.IsZero() && now.After(req.Deadline) {
		return nil, true, ErrStagingExpired
	}
	st := c.stmts
	if st == nil {
		st = &stmts{} // PostgreSQL: no prepared statements
	}
	f := *req.File
	var id string
	switch err := c.fastRow(ctx, tx, st.liveAt, sqlLiveAt, f.Owner, f.Folder, f.Name).Scan(&id); {
	case err == nil && id == f.ID:
		// An earlier batch committed this very request before its
		// outcome was lost: the savepoint path reports that row.
		return nil, false, nil
	case err == nil:
		return nil, true, ErrConflict
	case !errors.Is(err, sql.ErrNoRows):
		return nil, false, fastFailure(err)
	}
	f.NameFold = Fold(f.Name)
	f.CreatedAt, f.UpdatedAt, f.DeletedAt = Micros(now), Micros(now), nil

	var key string
	switch err := c.fastRow(ctx, tx, st.upsert, sqlUpsert, f.SHA256, f.Size, req.Key, Micros(now)).Scan(&key); {
	case errors.Is(err, sql.ErrNoRows):
		// The collector is deleting the object: the savepoint path takes
		// the row over. The statement changed nothing.
		return nil, false, nil
	case err != nil:
		return nil, false, fastFailure(err)
	}
	if _, err := c.fastExec(ctx, tx, st.insertFile, sqlInsertFile,
		f.ID, f.Owner, f.Folder, f.Name, f.NameFold, f.SHA256, f.Size, f.ContentType, f.Meta,
		f.ScanStatus, f.ScanEngine, f.ScanVersion, f.ScannedAt, f.CreatedAt, f.UpdatedAt); err != nil {
		return nil, false, fastFailure(err)
	}
	f.Key = key
	return &CommitResult{File: &f, DedupHit: key != req.Key}, true, nil
}

// fastFailure classifies an error of a fast-path write: transient errors
// stay as they are (the batch is retried), others abort to the savepoint
// path, which gives each request its own outcome.
func fastFailure(err error) error {
	if IsTransient(err) {
		return err
	}
	return fmt.Errorf("%w: %w", errFastAbort, err)
}

// fastRow runs one query of the fast path: the prepared statement st on
// SQLite, query with PostgreSQL's placeholders on PostgreSQL (whose
// statements, over the simple protocol, cost one round trip each).
func (c *Catalog) fastRow(ctx context.Context, tx *sql.Tx, st *sql.Stmt, query string, args ...any) *sql.Row {
	if c.pg {
		return tx.QueryRowContext(ctx, dollarPlaceholders(query), args...)
	}
	return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}

// fastExec is fastRow for a statement that returns no rows.
func (c *Catalog) fastExec(ctx context.Context, tx *sql.Tx, st *sql.Stmt, query string, args ...any) (sql.Result, error) {
	if c.pg {
		return tx.ExecContext(ctx, dollarPlaceholders(query), args...)
	}
	return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

// dollarPlaceholders turns the ? placeholders of query (which has no ? in
// literals) into PostgreSQL's $1, $2, ...
func dollarPlaceholders(query string) string {
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
