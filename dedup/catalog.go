package dedup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/filestore-go/filestore/internal/retry"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// Catalog is the SQL catalogue of objects and files. It is safe for
// concurrent use, and several Catalogs (in one process or many) may share
// one database.
type Catalog struct {
	db    *bun.DB
	pg    bool
	retry retry.Policy
	now   func() time.Time
	// tryTimeout bounds each try of do and inTx (Options.TryTimeout);
	// 0 or negative: none.
	tryTimeout time.Duration
	group      *committer
	// q are the hot-path statements (prepared on SQLite). After Close
	// (closed set) reads go through bun again.
	q      *queries
	closed atomic.Bool
	id     string // the catalogue's identity (see ID)
}

// Options configures New. The zero value is useful.
type Options struct {
	// Retry bounds the retries of transient database errors.
	Retry retry.Policy
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives an info line when New waits for another process's
	// schema check or migration (PostgreSQL); nil logs nothing.
	Logger *slog.Logger
	// TryTimeout bounds each try of an operation on a PostgreSQL catalogue
	// once New has returned: a statement, or a transaction with all its
	// statements. A try without an answer within it fails with an error
	// wrapping ErrNoAnswer and is not retried: a server that keeps its
	// connections and answers nothing (stopped, hung, or behind a network
	// that drops everything) would otherwise hold the operation for as
	// long as its context lives, since the driver has no deadline of its
	// own on a connection already open (ConnectTimeout bounds new ones).
	// 0 means 30s; negative turns it off. It does not bound New's schema
	// check and migration, which may wait for another process's, nor the
	// batches that commit concurrent uploads (2 minutes each, retries
	// included). SQLite catalogues ignore it.
	TryTimeout time.Duration
}

// defaultTryTimeout is Options.TryTimeout's default.
const defaultTryTimeout = 30 * time.Second

// New returns a Catalog over db after bringing its schema up to date. A nil
// opts is the zero Options. The caller keeps ownership of db, and calls
// Close when done (it stops the goroutine that batches commits).
func New(ctx context.Context, db *bun.DB, opts *Options) (*Catalog, error) {
	if opts == nil {
		opts = &Options{}
	}
	c := &Catalog{db: db, pg: db.Dialect().Name() == dialect.PG, retry: opts.Retry, now: opts.Now}
	if c.now == nil {
		c.now = time.Now
	}
	err := c.do(ctx, func(ctx context.Context) error { return migrate(ctx, db, migrations(), opts.Logger) })
	if err != nil {
		return nil, err
	}
	err = c.do(ctx, func(ctx context.Context) error {
		return db.QueryRowContext(ctx, `SELECT id FROM filestore_catalog`).Scan(&c.id)
	})
	if err != nil {
		return nil, fmt.Errorf("dedup: catalogue id: %w", err)
	}
	if c.q, err = newQueries(ctx, db.DB, c.pg); err != nil {
		return nil, err
	}
	if c.pg { // from here on: migration and the id above are not bounded
		c.tryTimeout = opts.TryTimeout
		if c.tryTimeout == 0 {
			c.tryTimeout = defaultTryTimeout
		}
	}
	c.group = newCommitter(c)
	return c, nil
}

// Close stops the Catalog's commit batching; Commits after it fail with
// ErrClosed. It does not close the database.
func (c *Catalog) Close() error {
	c.group.close()
	if !c.closed.Swap(true) {
		c.q.close()
	}
	return nil
}

// prepared reports whether reads may use the hot-path statements (see
// query): until Close, which closes SQLite's.
func (c *Catalog) prepared() bool { return !c.closed.Load() }

// ID returns the catalogue's identity: 32 random hex digits drawn once,
// when the database's schema was made or upgraded to the version that
// has it, and the same for every Catalog on that database.
func (c *Catalog) ID() string { return c.id }

// HasObjects reports whether the catalogue has any object row.
func (c *Catalog) HasObjects(ctx context.Context) (bool, error) {
	var has bool
	err := c.do(ctx, func(ctx context.Context) error {
		var err error
		has, err = c.db.NewSelect().Model((*object)(nil)).Column("sha256").Exists(ctx)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("dedup: objects: %w", err)
	}
	return has, nil
}

// DB returns the underlying database.
func (c *Catalog) DB() *bun.DB { return c.db }

// Ping checks that the database answers.
func (c *Catalog) Ping(ctx context.Context) error {
	return c.db.PingContext(ctx)
}

// inTx runs fn in a transaction, retrying the whole transaction on
// transient errors. SQLite transactions begin with the write lock
// (BEGIN IMMEDIATE, set when the database is opened).
func (c *Catalog) inTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	return c.inTxRetrying(ctx, IsTransient, fn)
}

// inTxRetrying is inTx, retrying only the errors for which retryable is
// true.
func (c *Catalog) inTxRetrying(ctx context.Context, retryable func(error) bool, fn func(ctx context.Context, tx bun.Tx) error) error {
	return c.doRetrying(ctx, retryable, func(ctx context.Context) error {
		return c.db.RunInTx(ctx, &sql.TxOptions{}, fn)
	})
}

// do runs a single statement or read with retries, each try within
// tryTimeout.
func (c *Catalog) do(ctx context.Context, fn func(ctx context.Context) error) error {
	return c.doRetrying(ctx, IsTransient, fn)
}

// doRetrying is do, retrying only the errors for which retryable is true.
func (c *Catalog) doRetrying(ctx context.Context, retryable func(error) bool, fn func(ctx context.Context) error) error {
	if c.tryTimeout <= 0 {
		return retry.Do(ctx, c.retry, retryable, fn)
	}
	return retry.Do(ctx, c.retry, retryable, func(ctx context.Context) error {
		tctx, cancel := context.WithTimeoutCause(ctx, c.tryTimeout, errTryTimeout)
		defer cancel()
		err := fn(tctx)
		if err != nil && ctx.Err() == nil && context.Cause(tctx) == errTryTimeout {
			// Not the driver's error, which wraps DeadlineExceeded: the
			// caller's context has not ended.
			return fmt.Errorf("%w within TryTimeout %v (%v)", ErrNoAnswer, c.tryTimeout, err)
		}
		return err
	})
}

// errTryTimeout is the cause of a try's context that tryTimeout ended.
var errTryTimeout = errors.New("try timed out")

// forUpdate adds a row lock on PostgreSQL; SQLite's write transaction
// already holds the database's write lock.
func (c *Catalog) forUpdate(q *bun.SelectQuery) *bun.SelectQuery {
	if c.pg {
		return q.For("UPDATE")
	}
	return q
}

// fileQuery selects files with their object's key.
func fileQuery(db bun.IDB, f any) *bun.SelectQuery {
	return db.NewSelect().Model(f).
		ColumnExpr("f.*").
		ColumnExpr("o.key AS key").
		Join("JOIN objects AS o ON o.sha256 = f.sha256")
}

// Get returns owner's file id, live or trashed, with its object's key, and
// its content when the object is inline (File.Data). ErrNotFound when there
// is none.
func (c *Catalog) Get(ctx context.Context, owner, id string) (*File, error) {
	var f File
	err := c.do(ctx, func(ctx context.Context) error {
		if c.prepared() {
			return c.q.get.rowDB(ctx, c.db.DB, id, owner).Scan(&f.ID, &f.Owner, &f.Folder, &f.Name,
				&f.NameFold, &f.SHA256, &f.Size, &f.ContentType, &f.Meta, &f.ScanStatus, &f.ScanEngine,
				&f.ScanVersion, &f.ScannedAt, &f.CreatedAt, &f.UpdatedAt, &f.DeletedAt, &f.Key, &f.Data)
		}
		return fileQuery(c.db, &f).ColumnExpr("o.data AS data").
			Where("f.id = ?", id).Where("f.owner = ?", owner).Scan(ctx)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("dedup: get: %w", err)
	}
	return &f, nil
}

// Stat is Get without the content: File.Data is nil whatever the object.
// ErrNotFound when owner has no file id.
func (c *Catalog) Stat(ctx context.Context, owner, id string) (*File, error) {
	var f File
	err := c.do(ctx, func(ctx context.Context) error {
		return fileQuery(c.db, &f).Where("f.id = ?", id).Where("f.owner = ?", owner).Scan(ctx)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("dedup: stat: %w", err)
	}
	return &f, nil
}

// PathTaken reports whether a live file of owner has that folder and name.
func (c *Catalog) PathTaken(ctx context.Context, owner, folder, name string) (bool, error) {
	var taken bool
	err := c.do(ctx, func(ctx context.Context) error {
		if c.prepared() {
			var id string
			err := c.q.liveAt.rowDB(ctx, c.db.DB, owner, folder, name).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				taken = false
				return nil
			}
			taken = err == nil
			return err
		}
		var err error
		taken, err = c.db.NewSelect().Model((*File)(nil)).
			Where("owner = ?", owner).Where("folder = ?", folder).Where("name = ?", name).
			Where("deleted_at IS NULL").Exists(ctx)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("dedup: path check: %w", err)
	}
	return taken, nil
}

// lockFile reads owner's file id for update inside tx.
func (c *Catalog) lockFile(ctx context.Context, tx bun.Tx, owner, id string) (*File, error) {
	var f File
	err := c.forUpdate(tx.NewSelect().Model(&f).Where("id = ?", id).Where("owner = ?", owner)).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// liveAt returns the id of owner's live file at folder/name, or "".
func (c *Catalog) liveAt(ctx context.Context, tx bun.Tx, owner, folder, name string) (string, error) {
	var ids []string
	q := tx.NewSelect().Model((*File)(nil)).Column("id").
		Where("owner = ?", owner).Where("folder = ?", folder).Where("name = ?", name).
		Where("deleted_at IS NULL")
	if err := c.forUpdate(q).Scan(ctx, &ids); err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return "", nil
	}
	return ids[0], nil
}
