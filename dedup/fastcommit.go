package dedup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// errFastAbort: a commit on the fast path failed after it had written, so
// its batch is rolled back and run again on the savepoint path.
var errFastAbort = errors.New("dedup: fast commit path aborted")

// SQL of the fast commit path. The object upsert takes a reference in the
// same statement, and touches nothing when the row is being deleted (no
// row comes back).
const (
	sqlLiveAt = `SELECT id FROM files WHERE owner = ? AND folder = ? AND name = ? AND deleted_at IS NULL`
	sqlUpsert = `INSERT INTO objects (sha256, size, key, ref_count, state, created_at, data) VALUES (?, ?, ?, 1, 'live', ?, ?)
		ON CONFLICT (sha256) DO UPDATE SET ref_count = objects.ref_count + 1 WHERE objects.state = 'live'
		RETURNING key, ref_count`
	sqlInsertFile = `INSERT INTO files (id, owner, folder, name, name_fold, sha256, size, content_type, meta,
		scan_status, scan_engine, scan_version, scanned_at, created_at, updated_at, deleted_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
		ON CONFLICT DO NOTHING`
	// The two undos of sqlUpsert, for a file row that was not inserted.
	sqlUnref      = `UPDATE objects SET ref_count = ref_count - 1 WHERE sha256 = ?`
	sqlDropObject = `DELETE FROM objects WHERE sha256 = ?`
	sqlGet        = `SELECT f.id, f.owner, f.folder, f.name, f.name_fold, f.sha256, f.size, f.content_type, f.meta,
		f.scan_status, f.scan_engine, f.scan_version, f.scanned_at, f.created_at, f.updated_at, f.deleted_at, o.key, o.data
		FROM files AS f JOIN objects AS o ON o.sha256 = f.sha256 WHERE f.id = ? AND f.owner = ?`
)

// query is one statement of the catalogue's hot paths. bun writes
// arguments into the SQL text, so its statements are parsed (and on
// PostgreSQL planned) every time, and an inline object's content would
// travel as hex text for the server to parse. So these are prepared: once
// on SQLite (which spends more time parsing a small statement than running
// it); on PostgreSQL, the text with $n placeholders runs in pgx's
// QueryExecModeCacheStatement (prepared once per connection, arguments
// sent in binary), overriding the simple protocol that OpenDB sets for
// bun's queries.
type query struct {
	stmt *sql.Stmt
	text string
}

// queries are the catalogue's hot-path statements.
type queries struct {
	liveAt, upsert, insertFile, unref, dropObject, get query
}

// newQueries prepares the statements on a SQLite db, or writes their
// PostgreSQL text.
func newQueries(ctx context.Context, db *sql.DB, pg bool) (*queries, error) {
	var q queries
	for _, p := range []struct {
		dst  *query
		text string
	}{
		{&q.liveAt, sqlLiveAt}, {&q.upsert, sqlUpsert}, {&q.insertFile, sqlInsertFile},
		{&q.unref, sqlUnref}, {&q.dropObject, sqlDropObject}, {&q.get, sqlGet},
	} {
		if pg {
			p.dst.text = dollarPlaceholders(p.text)
			continue
		}
		st, err := db.PrepareContext(ctx, p.text)
		if err != nil {
			q.close()
			return nil, fmt.Errorf("dedup: prepare: %w", err)
		}
		*p.dst = query{stmt: st, text: p.text}
	}
	return &q, nil
}

// close closes the prepared statements.
func (q *queries) close() {
	for _, x := range []query{q.liveAt, q.upsert, q.insertFile, q.unref, q.dropObject, q.get} {
		if x.stmt != nil {
			_ = x.stmt.Close()
		}
	}
}

// cached puts pgx's statement-cache mode before a PostgreSQL statement's
// arguments (see query).
func cached(args []any) []any {
	return append([]any{pgx.QueryExecModeCacheStatement}, args...)
}

// row runs q inside tx.
func (q query) row(ctx context.Context, tx *sql.Tx, args ...any) *sql.Row {
	if q.stmt == nil {
		return tx.QueryRowContext(ctx, q.text, cached(args)...)
	}
	return tx.StmtContext(ctx, q.stmt).QueryRowContext(ctx, args...)
}

// rowDB runs q outside a transaction.
func (q query) rowDB(ctx context.Context, db *sql.DB, args ...any) *sql.Row {
	if q.stmt == nil {
		return db.QueryRowContext(ctx, q.text, cached(args)...)
	}
	return q.stmt.QueryRowContext(ctx, args...)
}

// exec runs q, which returns no rows, inside tx.
func (q query) exec(ctx context.Context, tx *sql.Tx, args ...any) (sql.Result, error) {
	if q.stmt == nil {
		return tx.ExecContext(ctx, q.text, cached(args)...)
	}
	return tx.StmtContext(ctx, q.stmt).ExecContext(ctx, args...)
}

// commitFast commits req inside tx with two statements (see query) and
// no savepoint, for the common request: new content or a live object, no
// overwrite, nothing staged earlier. It takes the object's reference first,
// then inserts the file row unless its path (or id) is taken, which the
// unique indexes check as part of the insert; a row not inserted has its
// reference undone, and the request goes to the savepoint path, which
// tells a conflict from a commit of this very request that an earlier
// attempt made. ok is false when the request is not for this path; err is
// then nil if nothing is left written (take the savepoint path), or
// errFastAbort or a transient error if something may be (roll the batch
// back).
func (c *Catalog) commitFast(ctx context.Context, tx *sql.Tx, req CommitRequest) (res *CommitResult, ok bool, err error) {
	if req.Overwrite || req.Existing {
		return nil, false, nil
	}
	now := c.now()
	if !req.Deadline.IsZero() && now.After(req.Deadline) {
		return nil, true, ErrStagingExpired
	}
	f := *req.File
	f.NameFold = Fold(f.Name)
	f.CreatedAt, f.UpdatedAt, f.DeletedAt = Micros(now), Micros(now), nil

	var key string
	var refs int64
	switch err := c.q.upsert.row(ctx, tx, f.SHA256, f.Size, req.Key, Micros(now), nullBytes(req.Data)).Scan(&key, &refs); {
	case errors.Is(err, sql.ErrNoRows):
		// The collector is deleting the object: the savepoint path takes
		// the row over. The statement changed nothing.
		return nil, false, nil
	case err != nil:
		return nil, false, fastFailure(err)
	}
	r, err := c.q.insertFile.exec(ctx, tx,
		f.ID, f.Owner, f.Folder, f.Name, f.NameFold, f.SHA256, f.Size, f.ContentType, f.Meta,
		f.ScanStatus, f.ScanEngine, f.ScanVersion, f.ScannedAt, f.CreatedAt, f.UpdatedAt)
	if err != nil {
		return nil, false, fastFailure(err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return nil, false, fastFailure(err)
	}
	if n == 0 {
		// The path (or the id) is taken: undo the reference. The upsert
		// created the row if it holds the staged key and only this
		// reference; a repeat of a commit that an earlier attempt made
		// finds the row with its own key but at least two references.
		undo := c.q.unref
		if key == req.Key && refs == 1 {
			undo = c.q.dropObject
		}
		if _, err := undo.exec(ctx, tx, f.SHA256); err != nil {
			return nil, false, fastFailure(err)
		}
		return nil, false, nil
	}
	f.Key = key
	if key == req.Key {
		f.Data = req.Data
	}
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
