package dedup

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// migration is one schema step, with its SQL for each dialect.
type migration struct {
	sqlite   []string
	postgres []string
}

// migrations are applied in order; a database records how many it has had.
// Never edit a released step: append a new one.
var migrations = []migration{
	{ // 1: objects and files.
		sqlite: []string{
			`CREATE TABLE objects (
				sha256     TEXT PRIMARY KEY,
				size       INTEGER NOT NULL,
				key        TEXT NOT NULL UNIQUE,
				ref_count  INTEGER NOT NULL CHECK (ref_count >= 0),
				state      TEXT NOT NULL CHECK (state IN ('live', 'deleting')),
				created_at INTEGER NOT NULL
			)`,
			`CREATE INDEX objects_unreferenced ON objects (sha256) WHERE ref_count = 0 OR state = 'deleting'`,
			`CREATE TABLE files (
				id           TEXT PRIMARY KEY,
				owner        TEXT NOT NULL,
				folder       TEXT NOT NULL,
				name         TEXT NOT NULL,
				name_fold    TEXT NOT NULL,
				sha256       TEXT NOT NULL REFERENCES objects (sha256),
				size         INTEGER NOT NULL,
				content_type TEXT NOT NULL,
				meta         TEXT NOT NULL,
				scan_status  TEXT NOT NULL,
				scan_engine  TEXT NOT NULL,
				scan_version TEXT NOT NULL,
				scanned_at   INTEGER,
				created_at   INTEGER NOT NULL,
				updated_at   INTEGER NOT NULL,
				deleted_at   INTEGER
			)`,
			`CREATE UNIQUE INDEX files_live_path ON files (owner, folder, name) WHERE deleted_at IS NULL`,
			`CREATE INDEX files_listing ON files (owner, folder, name, id)`,
			`CREATE INDEX files_trash ON files (deleted_at) WHERE deleted_at IS NOT NULL`,
			`CREATE INDEX files_object ON files (sha256)`,
		},
		postgres: []string{
			`CREATE TABLE objects (
				sha256     TEXT COLLATE "C" PRIMARY KEY,
				size       BIGINT NOT NULL,
				key        TEXT COLLATE "C" NOT NULL UNIQUE,
				ref_count  BIGINT NOT NULL CHECK (ref_count >= 0),
				state      TEXT NOT NULL CHECK (state IN ('live', 'deleting')),
				created_at BIGINT NOT NULL
			)`,
			`CREATE INDEX objects_unreferenced ON objects (sha256) WHERE ref_count = 0 OR state = 'deleting'`,
			`CREATE TABLE files (
				id           TEXT COLLATE "C" PRIMARY KEY,
				owner        TEXT COLLATE "C" NOT NULL,
				folder       TEXT COLLATE "C" NOT NULL,
				name         TEXT COLLATE "C" NOT NULL,
				name_fold    TEXT COLLATE "C" NOT NULL,
				sha256       TEXT COLLATE "C" NOT NULL REFERENCES objects (sha256),
				size         BIGINT NOT NULL,
				content_type TEXT NOT NULL,
				meta         TEXT NOT NULL,
				scan_status  TEXT NOT NULL,
				scan_engine  TEXT NOT NULL,
				scan_version TEXT NOT NULL,
				scanned_at   BIGINT,
				created_at   BIGINT NOT NULL,
				updated_at   BIGINT NOT NULL,
				deleted_at   BIGINT
			)`,
			`CREATE UNIQUE INDEX files_live_path ON files (owner, folder, name) WHERE deleted_at IS NULL`,
			`CREATE INDEX files_listing ON files (owner, folder, name, id)`,
			`CREATE INDEX files_trash ON files (deleted_at) WHERE deleted_at IS NOT NULL`,
			`CREATE INDEX files_object ON files (sha256)`,
		},
	},
}

// SchemaVersion is the number of migrations this code knows.
func SchemaVersion() int { return len(migrations) }

// Migrate brings the schema up to date. It is safe to run from several
// processes at once: PostgreSQL serialises it with an advisory lock, SQLite
// with its write lock. A database newer than this code is an error.
func Migrate(ctx context.Context, db *bun.DB) error {
	pg := db.Dialect().Name() == dialect.PG
	return db.RunInTx(ctx, &sql.TxOptions{}, func(ctx context.Context, tx bun.Tx) error {
		if pg {
			// 0x66696c6573746f72 is "filestor".
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7379827189264151922)`); err != nil {
				return fmt.Errorf("dedup: migrate lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS filestore_schema (version INTEGER NOT NULL)`); err != nil {
			return fmt.Errorf("dedup: migrate: %w", err)
		}
		var version int
		err := tx.QueryRowContext(ctx, `SELECT version FROM filestore_schema`).Scan(&version)
		switch {
		case err == sql.ErrNoRows:
			if _, err := tx.ExecContext(ctx, `INSERT INTO filestore_schema (version) VALUES (0)`); err != nil {
				return fmt.Errorf("dedup: migrate: %w", err)
			}
		case err != nil:
			return fmt.Errorf("dedup: migrate: %w", err)
		}
		if version > len(migrations) {
			return fmt.Errorf("dedup: database schema version %d is newer than this code's %d", version, len(migrations))
		}
		for i := version; i < len(migrations); i++ {
			stmts := migrations[i].sqlite
			if pg {
				stmts = migrations[i].postgres
			}
			for _, stmt := range stmts {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("dedup: migration %d: %w", i+1, err)
				}
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE filestore_schema SET version = ?`, len(migrations)); err != nil {
			return fmt.Errorf("dedup: migrate: %w", err)
		}
		return nil
	})
}
