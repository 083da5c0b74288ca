package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// PostgresDatabase creates a fresh, empty PostgreSQL database for t on the
// server of FILESTORE_TEST_POSTGRES (whose role has CREATEDB) and returns
// its URL; the database is dropped when t ends. Without the variable it
// skips t, or fails it when CI=true.
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	base := PostgresDSN(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testenv: %s: %v", PostgresVar, err)
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	name := "fs_test_" + hex.EncodeToString(r[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("testenv: postgres: %v", err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := sql.Open("pgx", base)
		if err != nil {
			t.Errorf("testenv: postgres: %v", err)
			return
		}
		defer db.Close()
		// Not WITH (FORCE): that also tries to terminate an autovacuum
		// worker, which this role may not signal. A plain DROP makes
		// autovacuum leave; a session still closing is waited out.
		var err2 error
		for attempt := range 10 {
			if _, err2 = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err2 == nil {
				return
			}
			time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
		}
		// A leftover scratch database harms no test; say so and go on.
		t.Logf("testenv: could not drop database %s: %v", name, err2)
	})
	u.Path = "/" + name
	return u.String()
}
