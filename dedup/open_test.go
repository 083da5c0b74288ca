package dedup_test

import (
	"context"
	"path/filepath"
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
