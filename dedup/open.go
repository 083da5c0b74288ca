package dedup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/filestore-go/filestore/internal/fsync"
	"github.com/filestore-go/filestore/internal/redact"
	"github.com/filestore-go/filestore/internal/retry"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"modernc.org/sqlite"
)

// OpenDB opens a catalogue database from a URL:
//
//   - sqlite://PATH: a SQLite file (it and its directories are created,
//     their entries fsynced), in WAL mode
//     with synchronous=FULL (a committed transaction survives a power loss),
//     checkpoints every 4000 WAL pages (about 16 MiB), a busy timeout,
//     foreign keys on, and write transactions that take the write lock
//     when they begin (BEGIN IMMEDIATE).
//   - sqlite://:memory: a private in-memory database (one connection).
//   - Either SQLite URL may carry _pragma parameters (and nothing else),
//     each a pragma run on every connection, such as
//     ?_pragma=synchronous(NORMAL): it replaces OpenDB's own setting of
//     that name. A pragma SQLite does not know or refuses, and
//     journal_mode, foreign_keys, locking_mode and query_only, which
//     OpenDB sets, are refused before anything is created.
//   - postgres://... or postgresql://...: PostgreSQL through pgx, with at
//     most 32 connections, or as many as the URL's pool_max_conns
//     parameter (pgxpool's name for it) says, each given 10 seconds to
//     open unless the URL sets connect_timeout. A connection whose
//     database, role or server has synchronous_commit off gets it on
//     (COMMIT returns once the WAL is flushed); other levels stay, and a
//     synchronous_commit parameter in the URL is taken as it is.
//
// A SQLite PATH is taken as it is, up to a '?' that starts parameters
// (a '%' or '#' in it is no escape and no fragment). Earlier builds let
// SQLite decode %XX and end the path at '#': a PATH whose file does not
// exist while that other file does is refused, naming both.
// A URL of another scheme, or whose parameters OpenDB or pgx refuse,
// gives an error wrapping ErrInvalidURL. Options (see WithConnector)
// apply in order; a nil option is ignored. OpenDB opens a first
// connection, and on SQLite puts the file in WAL mode, within ctx: its
// end stops that and returns its error.
// The caller closes the returned *bun.DB.
func OpenDB(ctx context.Context, rawURL string, opts ...OpenOption) (*bun.DB, error) {
	var o openOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		return openSQLite(ctx, strings.TrimPrefix(rawURL, "sqlite://"), o)
	case isPostgres(rawURL):
		cfg, maxConns, timeoutSet, err := pgConfig(rawURL)
		if err != nil {
			return nil, err
		}
		// bun writes the arguments into the SQL text, so every statement
		// is new to pgx: its default mode would prepare (and cache) each
		// one, a second round trip per query. The simple protocol sends
		// the text in one. (The catalogue's hot-path statements, whose
		// text never changes, ask for the statement cache: see query.)
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		if !timeoutSet {
			// Without one, a server that accepts connections and never
			// answers (stopped, or behind a black hole) holds every new
			// connection, and the request that waits for it, for as long
			// as the request's context lives.
			cfg.ConnectTimeout = defaultConnectTimeout
		}
		var connOpts []stdlib.OptionOpenDB
		if _, chosen := cfg.RuntimeParams["synchronous_commit"]; !chosen {
			connOpts = append(connOpts, stdlib.OptionAfterConnect(durableCommits))
		}
		sqldb := sql.OpenDB(o.wrap(stdlib.GetConnector(*cfg, connOpts...)))
		sqldb.SetMaxOpenConns(maxConns)
		sqldb.SetMaxIdleConns(maxConns)
		db := bun.NewDB(sqldb, pgdialect.New())
		if err := db.PingContext(ctx); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("dedup: postgres: %w", err)
		}
		return db, nil
	default:
		return nil, unsupportedScheme(rawURL)
	}
}

// CheckURL reports whether OpenDB could use rawURL, as far as can be
// told without opening it: the scheme, a SQLite path and its _pragma
// parameters (each run on a private in-memory database, so that an
// unknown pragma or a value SQLite refuses is found), and a PostgreSQL
// URL's syntax and the parameters OpenDB and pgx read. It touches no
// file and contacts no server, so that a caller can refuse a URL before
// it makes anything else; OpenDB itself checks all of it again. The
// error wraps ErrInvalidURL, or is ctx's if ctx ends first.
func CheckURL(ctx context.Context, rawURL string) error {
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		_, _, err := parseSQLiteURL(ctx, strings.TrimPrefix(rawURL, "sqlite://"))
		return err
	case isPostgres(rawURL):
		_, _, _, err := pgConfig(rawURL)
		return err
	default:
		return unsupportedScheme(rawURL)
	}
}

// unsupportedScheme refuses rawURL's scheme.
func unsupportedScheme(rawURL string) error {
	return fmt.Errorf("%w: unsupported scheme in %q (want sqlite:// or postgres://)", ErrInvalidURL, redact.URL(rawURL))
}

// isPostgres reports whether rawURL names a PostgreSQL database.
func isPostgres(rawURL string) bool {
	return strings.HasPrefix(rawURL, "postgres://") || strings.HasPrefix(rawURL, "postgresql://")
}

// pgConfig parses a PostgreSQL URL: pgx's connection configuration of the
// URL without pool_max_conns, and what pgParams reads.
func pgConfig(rawURL string) (_ *pgx.ConnConfig, maxConns int, timeoutSet bool, _ error) {
	rawURL, maxConns, timeoutSet, err := pgParams(rawURL)
	if err != nil {
		return nil, 0, false, err
	}
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, 0, false, fmt.Errorf("%w: postgres url: %w", ErrInvalidURL, err)
	}
	return cfg, maxConns, timeoutSet, nil
}

// durableCommits is the AfterConnect hook of a PostgreSQL catalogue whose
// URL does not choose synchronous_commit: on a connection where it is off
// (set so for the database, the role or the server), COMMIT would return
// before the WAL is flushed, and a crash of the server would lose rows of
// uploads already acknowledged, so it turns it on for the session. Every
// other level (local, remote_write, on, remote_apply) flushes the WAL
// locally before COMMIT returns and stays as the server has it.
func durableCommits(ctx context.Context, conn *pgx.Conn) error {
	var level string
	if err := conn.QueryRow(ctx, "SHOW synchronous_commit").Scan(&level); err != nil {
		return fmt.Errorf("dedup: postgres: show synchronous_commit: %w", err)
	}
	if level != "off" {
		return nil
	}
	if _, err := conn.Exec(ctx, "SET synchronous_commit = on"); err != nil {
		return fmt.Errorf("dedup: postgres: set synchronous_commit: %w", err)
	}
	return nil
}

// walAutocheckpoint is the WAL size, in pages, at which a committing
// connection copies the WAL into the database file (SQLite's default is
// 1000). Every commit of the catalogue's batches writes the leaf pages of
// several indexes; fewer, larger checkpoints copy a page that many batches
// changed once, with one pair of syncs, and run less often in the commit
// path, which is serial. A WAL of 4000 pages is about 16 MiB.
const walAutocheckpoint = 4000

// walSizeLimit is the size, in bytes, to which SQLite truncates the WAL
// file when it starts writing it from the beginning again after a
// checkpoint (journal_size_limit). A checkpoint copies the WAL into the
// database but cannot start the WAL over while a reader still uses an
// older snapshot, so a burst of commits during a long read (a large
// listing, a GC pass, inline content of up to 64 KiB per upload) grows
// the file far past walAutocheckpoint's 16 MiB, and without a limit
// SQLite keeps it at that high-water mark for good.
const walSizeLimit = 64 << 20

// defaultConnectTimeout bounds the opening of a PostgreSQL connection when
// the URL sets no connect_timeout.
const defaultConnectTimeout = 10 * time.Second

// defaultMaxConns is the size of a PostgreSQL catalogue's pool unless its
// URL says otherwise.
const defaultMaxConns = 32

// pgParams reads what OpenDB itself takes from a PostgreSQL URL: it takes
// out pool_max_conns (pgxpool's name; PostgreSQL would refuse it as an
// unknown setting) and returns the URL without it, the pool size (the
// parameter's, or defaultMaxConns), and whether the URL sets
// connect_timeout (0 included, which waits without bound).
func pgParams(rawURL string) (_ string, maxConns int, timeoutSet bool, _ error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL, defaultMaxConns, false, nil // pgx says what is wrong with it
	}
	q := u.Query()
	timeoutSet = q.Has("connect_timeout")
	if !q.Has("pool_max_conns") {
		return rawURL, defaultMaxConns, timeoutSet, nil
	}
	n, err := strconv.Atoi(q.Get("pool_max_conns"))
	if err != nil || n < 1 {
		return "", 0, false, fmt.Errorf("%w: postgres url: pool_max_conns %q is not a positive number", ErrInvalidURL, q.Get("pool_max_conns"))
	}
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	return u.String(), n, timeoutSet, nil
}

// checkLegacyPath refuses a SQLite path with '%' or '#' whose file does not
// exist while the file that earlier builds opened for it does: they let
// SQLite decode %XX and end the path at '#', and opening the path as it
// is would start an empty catalogue beside the real one.
func checkLegacyPath(path string) error {
	before, _, _ := strings.Cut(path, "#")
	legacy, err := url.PathUnescape(before)
	if err != nil || legacy == path {
		return nil
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if fi, err := os.Stat(legacy); err != nil || !fi.Mode().IsRegular() {
		return nil // nothing earlier builds could have opened
	}
	return fmt.Errorf("dedup: sqlite: %s does not exist, but %s does: builds before 2026-11-30 opened that file for this URL (SQLite decoded %%XX and ended the path at '#'); rename it to the path as written, or name it in the URL", path, legacy)
}

func openSQLite(ctx context.Context, rest string, o openOptions) (*bun.DB, error) {
	path, userPragmas, err := parseSQLiteURL(ctx, rest)
	if err != nil {
		return nil, err
	}
	params := url.Values{}
	// pragma adds one of OpenDB's settings unless the URL sets it: the
	// driver runs all of them, sorted, so both would run, in an order
	// their values decide.
	pragma := func(name, value string) {
		if !slices.ContainsFunc(userPragmas, func(p sqlitePragma) bool { return p.name == name }) {
			params.Add("_pragma", name+"("+value+")")
		}
	}
	pragma("busy_timeout", "15000")
	pragma("foreign_keys", "1")
	params.Set("_txlock", "immediate")
	memory := path == ":memory:"
	file := "file::memory:"
	if !memory {
		// The catalogue holds every owner's names, and inline content:
		// like the local bucket's, its directory and files are the
		// user's and the group's only. SQLite gives its -wal and -shm
		// files the database file's mode.
		if err := checkLegacyPath(path); err != nil {
			return nil, err
		}
		// The directories and the file it creates are made durable
		// (their entries fsynced): SQLite syncs the file's directory when
		// it creates its journal, but not the directories above, and a
		// crash could otherwise take the first transactions' catalogue
		// with a new data directory.
		dir := filepath.Dir(path)
		if err := fsync.MkdirsDurable(dir, 0o750); err != nil {
			return nil, fmt.Errorf("dedup: sqlite directory: %w", err)
		}
		if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640); err == nil {
			if err := f.Close(); err != nil {
				return nil, fmt.Errorf("dedup: sqlite file: %w", err)
			}
			if err := fsync.Dir(dir); err != nil {
				return nil, fmt.Errorf("dedup: sqlite file: sync directory: %w", err)
			}
		} else if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("dedup: sqlite file: %w", err)
		}
		// journal_mode is not set per connection: WAL mode is a property
		// of the file, and switching to it needs an exclusive lock that a
		// concurrent opener may hold (SQLite then reports SQLITE_BUSY
		// without waiting). useWAL sets it once, with retries.
		pragma("synchronous", "FULL")
		pragma("wal_autocheckpoint", strconv.Itoa(walAutocheckpoint))
		pragma("journal_size_limit", strconv.Itoa(walSizeLimit))
		// SQLite decodes %XX in a URI's path and would end it at '#'.
		file = "file:" + strings.NewReplacer("%", "%25", "#", "%23").Replace(path)
	}
	for _, p := range userPragmas {
		params.Add("_pragma", p.value)
	}
	conn, err := sqlite.NewConnector(file + "?" + params.Encode())
	if err != nil {
		return nil, fmt.Errorf("dedup: sqlite: %w", err)
	}
	sqldb := sql.OpenDB(o.wrap(conn))
	if memory {
		sqldb.SetMaxOpenConns(1)
	} else {
		sqldb.SetMaxOpenConns(8)
		sqldb.SetMaxIdleConns(8)
	}
	sqldb.SetConnMaxLifetime(0)
	db := bun.NewDB(sqldb, sqlitedialect.New())
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("dedup: sqlite: %w", err)
	}
	if !memory {
		if err := useWAL(ctx, db); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("dedup: sqlite: %w", err)
		}
	}
	return db, nil
}

// useWAL puts the database file in WAL mode, retrying while another
// connection (in this process or another) holds the lock the switch needs.
func useWAL(ctx context.Context, db *bun.DB) error {
	return retry.Do(ctx, retry.Policy{Attempts: 20, Base: 10 * time.Millisecond, Max: time.Second}, IsTransient, func(ctx context.Context) error {
		var mode string
		if err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
			return fmt.Errorf("journal_mode: %w", err)
		}
		if !strings.EqualFold(mode, "wal") {
			return fmt.Errorf("journal_mode is %q after asking for WAL", mode)
		}
		return nil
	})
}
