package faults

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/filestore-go/filestore/dedup"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"modernc.org/sqlite"
)

// OpenDB opens the database at rawURL, as dedup.OpenDB would, through a
// Connector that fails calls as in's rules say; the database closes when
// t ends. For sqlite://PATH it first opens the file with dedup.OpenDB,
// which creates it in WAL mode (a property of the file), and then gives
// each connection dedup.OpenDB's settings for such a URL (at most 8 of
// them); for a PostgreSQL URL, pgx's simple protocol, as dedup.OpenDB.
// Another URL fails t.
func OpenDB(t testing.TB, rawURL string, in *Injector) *bun.DB {
	t.Helper()
	var db *bun.DB
	switch path, isSQLite := strings.CutPrefix(rawURL, "sqlite://"); {
	case isSQLite:
		init, err := dedup.OpenDB(context.Background(), rawURL)
		if err != nil {
			t.Fatal(err)
		}
		init.Close()
		conn, err := sqlite.NewConnector("file:" + path + "?_pragma=busy_timeout(15000)&_pragma=foreign_keys(1)" +
			"&_txlock=immediate&_pragma=synchronous(FULL)")
		if err != nil {
			t.Fatal(err)
		}
		sqldb := sql.OpenDB(NewConnector(conn, in))
		sqldb.SetMaxOpenConns(8)
		db = bun.NewDB(sqldb, sqlitedialect.New())
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		cfg, err := pgx.ParseConfig(rawURL)
		if err != nil {
			t.Fatal(err)
		}
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		db = bun.NewDB(sql.OpenDB(NewConnector(stdlib.GetConnector(*cfg), in)), pgdialect.New())
	default:
		t.Fatalf("faults: no database for %q", rawURL)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
