package dedup_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/internal/redact"
	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"
)

// TestOpenSQLiteSettings checks the settings OpenDB promises on every pooled
// connection of a SQLite file database, not only the first one, and the
// same through a wrapper of its connections (WithConnector).
func TestOpenSQLiteSettings(t *testing.T) {
	passThrough := dedup.WithConnector(func(c driver.Connector) driver.Connector { return loggedConnector{Connector: c, log: new(connectLog)} })
	for name, opts := range map[string][]dedup.OpenOption{"plain": nil, "wrapped": {passThrough}} {
		t.Run(name, func(t *testing.T) { testOpenSQLiteSettings(t, opts) })
	}
}

func testOpenSQLiteSettings(t *testing.T, opts []dedup.OpenOption) {
	ctx := context.Background()
	db, err := dedup.OpenDB(ctx, "sqlite://"+filepath.Join(t.TempDir(), "sub", "c.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	type settings struct {
		JournalMode string
		Synchronous int
		BusyTimeout int
		ForeignKeys int
		Checkpoint  int
		SizeLimit   int64
	}
	want := settings{JournalMode: "wal", Synchronous: 2, BusyTimeout: 15000, ForeignKeys: 1, Checkpoint: 4000, SizeLimit: 64 << 20}
	eachConn(t, db, 4, func(i int, conn *sql.Conn) {
		var got settings
		scanRows(t, conn, map[string]any{
			"PRAGMA journal_mode":       &got.JournalMode,
			"PRAGMA synchronous":        &got.Synchronous,
			"PRAGMA busy_timeout":       &got.BusyTimeout,
			"PRAGMA foreign_keys":       &got.ForeignKeys,
			"PRAGMA wal_autocheckpoint": &got.Checkpoint,
			"PRAGMA journal_size_limit": &got.SizeLimit,
		})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("connection %d settings (-want +got):\n%s", i, diff)
		}
	})
}

// eachConn holds n connections of db at once, so that the pool opens new
// ones, and calls f with each.
func eachConn(t *testing.T, db *bun.DB, n int, f func(i int, conn *sql.Conn)) {
	t.Helper()
	for i := range n {
		conn, err := db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		f(i, conn.Conn)
	}
}

// scanRows runs each query on conn and scans its one value into the
// query's destination.
func scanRows(t *testing.T, conn *sql.Conn, dst map[string]any) {
	t.Helper()
	for query, d := range dst {
		if err := conn.QueryRowContext(t.Context(), query).Scan(d); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
}

// TestOpenSQLitePrivate: the directory OpenDB creates for a SQLite file and
// the database's files are not readable by other users (the catalogue
// holds every owner's names and inline content), as the local bucket's
// are not: at most 0750 and 0640. Before, they were 0755 and 0644.
func TestOpenSQLitePrivate(t *testing.T) {
	ctx := context.Background()
	old := syscall.Umask(0o022) // the usual umask, whatever the test runner's
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "filestore.db")
	db, err := dedup.OpenDB(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := dedup.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		want os.FileMode
	}{
		{dir, os.ModeDir | 0o750},
		{path, 0o640},
		{path + "-wal", 0o640},
		{path + "-shm", 0o640},
	} {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != tt.want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(tt.path), fi.Mode(), tt.want)
		}
	}
}

// TestOpenSQLitePathAsIs: a '#' or a '%' in a SQLite path is part of the
// file's name. Before, SQLite ended the path at '#' (the database went to
// another file) and decoded "%41" (the file could not be opened).
func TestOpenSQLitePathAsIs(t *testing.T) {
	ctx := context.Background()
	for _, seg := range []string{"hash#mark", "pct%41x", "pct%zz", "sp ace"} {
		path := filepath.Join(t.TempDir(), seg, "c#1%2.db")
		db, err := dedup.OpenDB(ctx, "sqlite://"+path)
		if err != nil {
			t.Errorf("%s: %v", seg, err)
			continue
		}
		err = dedup.Migrate(ctx, db)
		db.Close()
		if err != nil {
			t.Errorf("%s: Migrate: %v", seg, err)
		}
		// Closed, the database has its tables in its own file.
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Errorf("%s: no database at %s: %v", seg, path, err)
		}
		if entries, err := os.ReadDir(filepath.Dir(filepath.Dir(path))); err != nil || len(entries) != 1 {
			t.Errorf("%s: beside the database's directory: %v (%v), want nothing", seg, entries, err)
		}
	}
}

// TestOpenSQLiteLegacyPath: a URL whose file earlier builds found under
// another name (SQLite decoded "%20" and ended the path at '#') is refused,
// naming both files, instead of starting an empty catalogue beside the
// real one; once the file has the name as written, it opens.
func TestOpenSQLiteLegacyPath(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct{ written, before string }{
		{"my%20db.db", "my db.db"},
		{"cat#1.db", "cat"},
	} {
		dir := t.TempDir()
		old := filepath.Join(dir, tt.before)
		db, err := dedup.OpenDB(ctx, "sqlite://"+old)
		if err != nil {
			t.Fatal(err)
		}
		if err := dedup.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		db.Close()
		path := filepath.Join(dir, tt.written)
		if db, err := dedup.OpenDB(ctx, "sqlite://"+path); err == nil {
			db.Close()
			t.Errorf("OpenDB(%s) with %s beside it: no error", tt.written, tt.before)
		} else if !strings.Contains(err.Error(), old) {
			t.Errorf("OpenDB(%s): %v; want an error naming %s", tt.written, err, old)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("%s: files after the refusal: %v, want only %s", tt.written, entries, tt.before)
		}
		if err := os.Rename(old, path); err != nil {
			t.Fatal(err)
		}
		db, err = dedup.OpenDB(ctx, "sqlite://"+path)
		if err != nil {
			t.Fatalf("OpenDB(%s) after the rename: %v", tt.written, err)
		}
		db.Close()
	}
	// A directory where the earlier name points is nothing earlier builds
	// could open: no refusal.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o750); err != nil {
		t.Fatal(err)
	}
	db, err := dedup.OpenDB(ctx, "sqlite://"+filepath.Join(dir, "data#2", "c.db"))
	if err != nil {
		t.Fatalf("OpenDB(data#2/c.db) beside a directory data: %v", err)
	}
	db.Close()
}

// TestOpenPostgresPoolSize: the pool_max_conns parameter (pgxpool's name)
// sizes the pool instead of reaching PostgreSQL, which refused it as an
// unknown setting; without it the pool has 32 connections.
func TestOpenPostgresPoolSize(t *testing.T) {
	ctx := context.Background()
	base := testenv.PostgresDatabase(t)
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	for _, tt := range []struct {
		url  string
		want int
	}{
		{base, 32},
		{base + sep + "pool_max_conns=2", 2},
		{base + sep + "pool_max_conns=1&application_name=fs", 1},
	} {
		db, err := dedup.OpenDB(ctx, tt.url)
		if err != nil {
			t.Errorf("OpenDB(%s): %v", redact.URL(tt.url), err)
			continue
		}
		var one int
		err = db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
		if got := db.Stats().MaxOpenConnections; err != nil || got != tt.want {
			t.Errorf("OpenDB(%s): pool of %d (query: %v), want %d", redact.URL(tt.url), got, err, tt.want)
		}
		db.Close()
	}
	for _, bad := range []string{"0", "-1", "many"} {
		if db, err := dedup.OpenDB(ctx, base+sep+"pool_max_conns="+bad); err == nil {
			db.Close()
			t.Errorf("pool_max_conns=%s: no error", bad)
		}
	}
}

// TestOpenPostgresConnectTimeout: a server that accepts connections and
// never answers fails the opening after the connect timeout (the URL's
// connect_timeout, 10 s without one) instead of holding it for as long as
// the caller's context lives.
func TestOpenPostgresConnectTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var conns []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return
			}
			conns = append(conns, c) // read nothing, answer nothing
		}
	}()
	for _, suffix := range []string{"&connect_timeout=1", ""} {
		u := "postgres://u:p@" + ln.Addr().String() + "/db?sslmode=disable" + suffix
		// The caller's deadline is far: the connect timeout must come first.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		db, err := dedup.OpenDB(ctx, u)
		ctxErr := ctx.Err()
		cancel()
		if err == nil {
			db.Close()
			t.Fatalf("OpenDB(%s) of a server that never answers: no error", suffix)
		}
		if ctxErr != nil || !strings.Contains(err.Error(), "timeout") {
			t.Errorf("OpenDB(%q): %v (the caller's deadline passed: %v); want a connect timeout", suffix, err, ctxErr != nil)
		}
	}
}

// TestSQLiteWALShrinks: commits made while a reader holds an old snapshot
// grow the WAL past its checkpoint size, since no checkpoint can start it
// over; once the reader is gone, the WAL file shrinks back to at most
// journal_size_limit (64 MiB) instead of keeping its high-water mark.
// Without the limit it stayed at 96 MiB.
func TestSQLiteWALShrinks(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := dedup.OpenDB(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE scratch (b BLOB)"); err != nil {
		t.Fatal(err)
	}
	walSize := func() int64 {
		t.Helper()
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	const limit = 64 << 20
	reader, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	// A read transaction holds its snapshot until it ends.
	var n int
	if _, err := reader.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if err := reader.QueryRowContext(ctx, "SELECT count(*) FROM scratch").Scan(&n); err != nil {
		t.Fatal(err)
	}
	for range 96 {
		if _, err := db.ExecContext(ctx, "INSERT INTO scratch (b) VALUES (randomblob(1048576))"); err != nil {
			t.Fatal(err)
		}
	}
	grown := walSize()
	if grown <= limit {
		t.Fatalf("WAL is %d bytes after 96 MiB written under an old snapshot, want more than %d (the test needs it)", grown, limit)
	}
	t.Logf("WAL: %d bytes under the old snapshot", grown)
	if _, err := reader.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	// The next commits checkpoint the whole WAL and start it over.
	for range 3 {
		if _, err := db.ExecContext(ctx, "DELETE FROM scratch WHERE rowid = (SELECT min(rowid) FROM scratch)"); err != nil {
			t.Fatal(err)
		}
	}
	got := walSize()
	if got > limit {
		t.Errorf("WAL is %d bytes once the reader has gone, want at most %d", got, limit)
	}
	t.Logf("WAL: %d bytes once the reader has gone", got)
}

// TestOpenSQLitePragmas: a sqlite:// URL's _pragma parameters replace
// OpenDB's own settings of the same name on every connection, and leave
// the others; whatever else a URL says is refused before the catalogue's
// directory or file exists (SQLite itself ignores unknown parameters and
// pragmas, so a typo would otherwise pass unseen).
func TestOpenSQLitePragmas(t *testing.T) {
	ctx := context.Background()
	type settings struct {
		Synchronous int
		BusyTimeout int
		CacheSize   int
		Checkpoint  int
	}
	defaults := settings{Synchronous: 2, BusyTimeout: 15000, CacheSize: -2000, Checkpoint: 4000}
	for _, tc := range []struct {
		name  string
		query string
		want  settings
	}{
		{"none", "", defaults},
		{"synchronous by name", "_pragma=synchronous(NORMAL)", settings{Synchronous: 1, BusyTimeout: 15000, CacheSize: -2000, Checkpoint: 4000}},
		// By the driver's sorting alone, OpenDB's synchronous(FULL) would
		// run after this one and win.
		{"synchronous by number", "_pragma=synchronous(1)", settings{Synchronous: 1, BusyTimeout: 15000, CacheSize: -2000, Checkpoint: 4000}},
		{"two pragmas", "_pragma=cache_size(-4096)&_pragma=busy_timeout%3D500", settings{Synchronous: 2, BusyTimeout: 500, CacheSize: -4096, Checkpoint: 4000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rawURL := "sqlite://" + filepath.Join(t.TempDir(), "c.db")
			if tc.query != "" {
				rawURL += "?" + tc.query
			}
			if err := dedup.CheckURL(ctx, rawURL); err != nil {
				t.Fatalf("CheckURL: %v", err)
			}
			db, err := dedup.OpenDB(ctx, rawURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			eachConn(t, db, 3, func(i int, conn *sql.Conn) {
				var got settings
				scanRows(t, conn, map[string]any{
					"PRAGMA synchronous":        &got.Synchronous,
					"PRAGMA busy_timeout":       &got.BusyTimeout,
					"PRAGMA cache_size":         &got.CacheSize,
					"PRAGMA wal_autocheckpoint": &got.Checkpoint,
				})
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("connection %d settings (-want +got):\n%s", i, diff)
				}
			})
		})
	}
}

// TestOpenSQLiteBadParams: each of these is refused with ErrInvalidURL,
// by CheckURL and by OpenDB, and neither creates the catalogue's
// directory.
func TestOpenSQLiteBadParams(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, query, inError string }{
		{"unknown parameter", "_foo=1", `not "_foo"`},
		{"driver parameter", "_txlock=deferred", `not "_txlock"`},
		{"SQLite URI parameter", "mode=ro", `not "mode"`},
		{"unknown pragma", "_pragma=bogus(1)", `no pragma "bogus"`},
		{"misspelt pragma", "_pragma=synchronus(NORMAL)", `no pragma "synchronus"`},
		{"empty pragma", "_pragma=", "names no pragma"},
		{"two statements", "_pragma=synchronous(1)%3B+DROP+TABLE+objects", "more than one statement"},
		{"journal mode", "_pragma=journal_mode(DELETE)", "filestore sets journal_mode itself"},
		{"foreign keys off", "_pragma=foreign_keys(0)", "filestore sets foreign_keys itself"},
		{"exclusive locking", "_pragma=LOCKING_MODE(EXCLUSIVE)", "filestore sets locking_mode itself"},
		{"incomplete statement", "_pragma=cache_size(", "incomplete input"},
		{"bad escape", "_pragma=%zz", "invalid URL escape"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			rawURL := "sqlite://" + filepath.Join(dir, "c.db") + "?" + tc.query
			errCheck := dedup.CheckURL(ctx, rawURL)
			db, errOpen := dedup.OpenDB(ctx, rawURL)
			if errOpen == nil {
				db.Close()
			}
			for name, err := range map[string]error{"CheckURL": errCheck, "OpenDB": errOpen} {
				if !errors.Is(err, dedup.ErrInvalidURL) || !strings.Contains(err.Error(), tc.inError) {
					t.Errorf("%s: error %v, want ErrInvalidURL with %q", name, err, tc.inError)
				}
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the catalogue's directory: Stat: %v, want it not to exist", err)
			}
		})
	}
}
