package dedup_test

import (
	"context"
	"testing"
	"time"

	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/internal/testenv"
)

// TestOverwriteRace: an overwrite whose insert loses the path to a commit
// that its path check could not see yet (PostgreSQL runs transactions
// concurrently; SQLite's single writer cannot race) retries, trashes that
// file and takes the path, for new content and for an existing object
// alike. The rival holds the path uncommitted until the overwrite waits on
// it, so the race happens every run.
func TestOverwriteRace(t *testing.T) {
	for _, tt := range []struct {
		name     string
		existing bool
		key      string
	}{
		{"new content", false, "k2"},
		{"existing object", true, "k1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			url := testenv.PostgresDatabase(t)
			c := openCatalog(t, url)
			commit(t, c, "a", "a", "k1")

			rival, err := c.DB().BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer rival.Rollback()
			if _, err := rival.ExecContext(ctx, `INSERT INTO files (id, owner, folder, name, name_fold, sha256, size,
				content_type, meta, scan_status, scan_engine, scan_version, created_at, updated_at)
				VALUES ('rival', 'o', '', 'p', 'p', ?, 3, 'x', '{}', 'unscanned', '', '', 1, 1)`, sha); err != nil {
				t.Fatal(err)
			}
			if _, err := rival.ExecContext(ctx, `UPDATE objects SET ref_count = ref_count + 1 WHERE sha256 = ?`, sha); err != nil {
				t.Fatal(err)
			}

			done := make(chan error, 1)
			go func() {
				_, err := c.Commit(ctx, dedup.CommitRequest{
					File: &dedup.File{ID: "winner", Owner: "o", Name: "p", SHA256: sha, Size: 3, ContentType: "x", Meta: "{}", ScanStatus: "unscanned"},
					Key:  tt.key, Overwrite: true, Existing: tt.existing,
				})
				done <- err
			}()
			// The overwrite has seen no live file at "p" and now waits on the
			// rival's uncommitted index entry: a backend waits for a lock.
			waitForLockWait(ctx, t, c)
			if err := rival.Commit(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("overwrite that lost the race: %v, want a retry that succeeds", err)
			}

			old, err := c.Get(ctx, "o", "rival")
			if err != nil || old.DeletedAt == nil {
				t.Errorf("the rival after the overwrite: %+v, %v; want it trashed", old, err)
			}
			got, err := c.Get(ctx, "o", "winner")
			if err != nil || got.DeletedAt != nil || got.Name != "p" || got.Key != "k1" {
				t.Errorf("the overwrite's file: %+v, %v; want it live at p on k1", got, err)
			}
			if o := object(t, c); o.RefCount != 3 || o.State != "live" || o.Key != "k1" {
				t.Errorf("object %+v, want k1 live with 3 references (a, the trashed rival, winner)", o)
			}
		})
	}
}

// waitForLockWait returns once a backend of c's database waits for a lock,
// polling pg_stat_activity; it fails the test when ctx ends first.
func waitForLockWait(ctx context.Context, t *testing.T, c *dedup.Catalog) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var n int
		if err := c.DB().QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no backend waited for a lock: %v", ctx.Err())
		case <-tick.C:
		}
	}
}
