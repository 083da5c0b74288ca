package dedup_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/filestore-go/filestore/dedup"
	"github.com/google/go-cmp/cmp"
)

// TestOpenSQLiteSettings checks the settings OpenDB promises on every pooled
// connection of a SQLite file database, not only the first one.
func TestOpenSQLiteSettings(t *testing.T) {
	ctx := context.Background()
	db, err := dedup.OpenDB(ctx, "sqlite://"+filepath.Join(t.TempDir(), "sub", "c.db"))
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
	}
	want := settings{JournalMode: "wal", Synchronous: 2, BusyTimeout: 15000, ForeignKeys: 1, Checkpoint: 4000}
	// Hold several connections at once so that the pool opens new ones.
	for i := range 4 {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var got settings
		for _, q := range []struct {
			pragma string
			dst    any
		}{
			{"PRAGMA journal_mode", &got.JournalMode},
			{"PRAGMA synchronous", &got.Synchronous},
			{"PRAGMA busy_timeout", &got.BusyTimeout},
			{"PRAGMA foreign_keys", &got.ForeignKeys},
			{"PRAGMA wal_autocheckpoint", &got.Checkpoint},
		} {
			if err := conn.QueryRowContext(ctx, q.pragma).Scan(q.dst); err != nil {
				t.Fatalf("connection %d: %s: %v", i, q.pragma, err)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("connection %d settings (-want +got):\n%s", i, diff)
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
