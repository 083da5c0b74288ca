package dedup_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/internal/testenv"
)

// TestMigrationWaitIsLogged: on PostgreSQL, New that finds another
// process holding the migration lock says that it waits, and opens once
// the lock is released. Before, it waited without a word (a migration of
// a large catalogue can take minutes).
func TestMigrationWaitIsLogged(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := testenv.PostgresDatabase(t)
	db, err := dedup.OpenDB(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7379827189264151922)`); err != nil {
		t.Fatal(err)
	}

	h := testenv.NewLogWatch(slog.LevelInfo, "dedup: waiting for another server's schema check or migration")
	done := make(chan error, 1)
	go func() {
		c, err := dedup.New(ctx, db, &dedup.Options{Logger: slog.New(h)})
		if err == nil {
			err = c.Close()
		}
		done <- err
	}()
	select {
	case <-h.First():
	case err := <-done:
		t.Fatalf("New returned (%v) while another process held the migration lock", err)
	case <-ctx.Done():
		t.Fatal("New logged nothing while it waited for the migration lock")
	}
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("New once the lock is released: %v", err)
	}
}
