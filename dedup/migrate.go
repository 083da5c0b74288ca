package dedup

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// migrations are the schema steps, applied in order; a database records
// how many it has had. Never edit a released step: append a new one. In
// each statement {C} becomes the bytewise collation on PostgreSQL (COLLATE
// "C", so that listings order folders and names bytewise as SQLite's
// default BINARY collation does) and nothing on SQLite, where BIGINT is an
// INTEGER; {BLOB} becomes the dialect's binary type (BYTEA, BLOB);
// {RANDOM_ID} becomes an expression of 32 random lower-case hex digits.
// Steps run in the migration's transaction, which one migrator at a time
// holds (see Migrate), so a value a step draws is drawn once.
func migrations() [][]string {
	return [][]string{
		{ // 1: objects and files.
			`CREATE TABLE objects (
				sha256     TEXT {C} PRIMARY KEY,
				size       BIGINT NOT NULL,
				key        TEXT {C} NOT NULL UNIQUE,
				ref_count  BIGINT NOT NULL CHECK (ref_count >= 0),
				state      TEXT NOT NULL CHECK (state IN ('live', 'deleting')),
				created_at BIGINT NOT NULL
			)`,
			`CREATE INDEX objects_unreferenced ON objects (sha256) WHERE ref_count = 0 OR state = 'deleting'`,
			`CREATE TABLE files (
				id           TEXT {C} PRIMARY KEY,
				owner        TEXT {C} NOT NULL,
				folder       TEXT {C} NOT NULL,
				name         TEXT {C} NOT NULL,
				name_fold    TEXT {C} NOT NULL,
				sha256       TEXT {C} NOT NULL REFERENCES objects (sha256),
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
		{ // 2: small content stored in its object row (inline objects).
			`ALTER TABLE objects ADD COLUMN data {BLOB}`,
		},
		{ // 3: objects in the bucket by size, for uploads of stored content without a digest.
			`CREATE INDEX objects_size ON objects (size) WHERE data IS NULL`,
		},
		{ // 4: files by content and owner, for "does this owner have this content?" (LiveObject); it serves every lookup by content too.
			`CREATE INDEX files_content_owner ON files (sha256, owner)`,
			`DROP INDEX files_object`,
		},
		{ // 5: an owner's files by size, for ObjectsOfSize, which looks only at the owner's own files (objects_size looked at everyone's objects).
			`CREATE INDEX files_owner_size ON files (owner, size)`,
			`DROP INDEX objects_size`,
		},
		{ // 6: the catalogue's identity, a random id made once, which a bucket's marker names (one catalogue per bucket prefix).
			`CREATE TABLE filestore_catalog (id TEXT NOT NULL)`,
			`INSERT INTO filestore_catalog (id) VALUES ({RANDOM_ID})`,
		},
		{ // 7: pins, which keep an object that an upload in progress may reference from being deleted (Catalog.Pin).
			`ALTER TABLE objects ADD COLUMN pins BIGINT NOT NULL DEFAULT 0`,
			`ALTER TABLE objects ADD COLUMN pinned_until BIGINT`,
		},
	}
}

// SchemaVersion is the number of migrations this code knows.
func SchemaVersion() int { return len(migrations()) }

// Migrate brings the schema up to date. It is safe to run from several
// processes at once: PostgreSQL serialises it with an advisory lock, SQLite
// with its write lock. A database newer than this code is an error.
func Migrate(ctx context.Context, db *bun.DB) error {
	return migrate(ctx, db, migrations(), nil)
}

// migrateLock is the PostgreSQL advisory lock that serialises migrations;
// 0x66696c6573746f72 is "filestor".
const migrateLock = 7379827189264151922

// migrate applies the steps a database has not had yet. On PostgreSQL,
// when another process holds the migration lock, it logs that it waits to
// log (nil: no log).
func migrate(ctx context.Context, db *bun.DB, steps [][]string, log *slog.Logger) error {
	pg := db.Dialect().Name() == dialect.PG
	return db.RunInTx(ctx, &sql.TxOptions{}, func(ctx context.Context, tx bun.Tx) error {
		if pg {
			var got bool
			if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock(?)`, migrateLock).Scan(&got); err != nil {
				return fmt.Errorf("dedup: migrate lock: %w", err)
			}
			if !got {
				// Another server is checking or migrating the schema; a
				// migration of a large catalogue can take minutes.
				if log != nil {
					log.InfoContext(ctx, "dedup: waiting for another server's schema check or migration")
				}
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, migrateLock); err != nil {
					return fmt.Errorf("dedup: migrate lock: %w", err)
				}
			}
		}
		// Created only when missing: PostgreSQL checks the schema's CREATE
		// privilege even for CREATE TABLE IF NOT EXISTS, and a role that
		// only reads and writes rows may open an up-to-date catalogue.
		// On PostgreSQL, in the schema that CREATE would create it in (the
		// first of the search_path that exists), not anywhere on the path:
		// a catalogue of another schema further on is not this one's.
		exists := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'filestore_schema'`
		if pg {
			exists = `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'filestore_schema'`
		}
		var n int
		if err := tx.QueryRowContext(ctx, exists).Scan(&n); err != nil {
			return fmt.Errorf("dedup: migrate: %w", err)
		}
		if n == 0 {
			if _, err := tx.ExecContext(ctx, `CREATE TABLE filestore_schema (version INTEGER NOT NULL)`); err != nil {
				return fmt.Errorf("dedup: migrate: %w", err)
			}
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
		if version > len(steps) {
			return fmt.Errorf("dedup: database schema version %d is newer than this code's %d", version, len(steps))
		}
		// The catalogue's id, drawn here: only the migrator whose
		// transaction runs migration 6 commits its own, and a literal needs
		// no function of either database's (gen_random_uuid is built into
		// PostgreSQL only from 13).
		var id [16]byte
		_, _ = rand.Read(id[:]) // never fails (crypto/rand)
		randomID := "'" + hex.EncodeToString(id[:]) + "'"
		dialectWords := strings.NewReplacer("{C}", "", "{BLOB}", "BLOB", "{RANDOM_ID}", randomID)
		if pg {
			dialectWords = strings.NewReplacer("{C}", `COLLATE "C"`, "{BLOB}", "BYTEA", "{RANDOM_ID}", randomID)
		}
		for i := version; i < len(steps); i++ {
			for _, stmt := range steps[i] {
				if _, err := tx.ExecContext(ctx, dialectWords.Replace(stmt)); err != nil {
					return fmt.Errorf("dedup: migration %d: %w", i+1, err)
				}
			}
		}
		if version < len(steps) {
			if _, err := tx.ExecContext(ctx, `UPDATE filestore_schema SET version = ?`, len(steps)); err != nil {
				return fmt.Errorf("dedup: migrate: %w", err)
			}
		}
		if pg && len(steps) >= 2 {
			if _, err := tx.ExecContext(ctx, sqlInlineLZ4); err != nil {
				return fmt.Errorf("dedup: migrate: inline compression: %w", err)
			}
		}
		return nil
	})
}

// sqlInlineLZ4 makes PostgreSQL compress inline content (objects.data,
// which TOAST compresses from about 2 KiB) with lz4 instead of pglz: pglz
// was 8.5% of PostgreSQL's CPU under 4 KiB uploads, and lz4 gives up on
// incompressible content at once (docs/benchmarks.md). It changes no data
// (values already stored keep pglz) and is not a schema version, so that
// older builds still open the database. Idempotent: it alters the column
// only while it is not lz4 yet. A server without lz4 support
// (feature_not_supported), one older than PostgreSQL 14 (no
// attcompression, no SET COMPRESSION) and a role that does not own the
// table (insufficient_privilege; one that only reads and writes rows can
// run an up-to-date catalogue) keep pglz; the exception block confines
// the error to a subtransaction. The ALTER needs the table's exclusive
// lock, and while it waits every other query on objects queues behind it:
// it waits at most a second (lock_timeout, lock_not_available), and a
// later open tries again.
const sqlInlineLZ4 = `DO $$
BEGIN
	IF (SELECT attcompression FROM pg_attribute
			WHERE attrelid = 'objects'::regclass AND attname = 'data' AND NOT attisdropped) IS DISTINCT FROM 'l' THEN
		SET LOCAL lock_timeout = '1s';
		EXECUTE 'ALTER TABLE objects ALTER COLUMN data SET COMPRESSION lz4';
	END IF;
EXCEPTION WHEN feature_not_supported OR undefined_column OR syntax_error OR insufficient_privilege OR lock_not_available THEN
	NULL;
END
$$`
