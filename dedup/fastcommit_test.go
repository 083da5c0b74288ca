package dedup_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/filestore-go/filestore/dedup"
	"github.com/google/go-cmp/cmp"
)

// TestCommitRepeatedAfterMove: a commit repeated after its first outcome was
// lost, and after the file was renamed meanwhile, finds its row (by id) and
// does not count the reference twice. On SQLite the repeat first runs on the
// fast path, whose file INSERT finds the id taken after the object upsert:
// the reference is undone and the savepoint path finds the row.
func TestCommitRepeatedAfterMove(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		ctx := context.Background()
		commit(t, c, "a", "a", "k1")
		renamed := "renamed"
		if _, err := c.Move(ctx, "o", "a", nil, &renamed); err != nil {
			t.Fatal(err)
		}
		again := retryCommit(t, c, "a", "a", "k2")
		if again.File.ID != "a" || again.File.Name != renamed || again.File.Key != "k1" || !again.DedupHit {
			t.Errorf("repeated commit: %+v (hit %v); want row a named %q on k1, staged k2 unused", again.File, again.DedupHit, renamed)
		}
		if diff := cmp.Diff(&objectState{"k1", 1, "live"}, object(t, c)); diff != "" {
			t.Errorf("object row (-want +got):\n%s", diff)
		}
	})
}

// TestCommitRepeatedSameKey: the very request repeated (same id, same staged
// key, as after a lost reply) finds its row; on the fast path the object row
// then holds the request's own key with two references for a moment, and
// the undo must count one off, not delete the row.
func TestCommitRepeatedSameKey(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		first := commit(t, c, "a", "a", "k1")
		again := retryCommit(t, c, "a", "a", "k1")
		if again.File.ID != "a" || again.File.Key != "k1" || first.DedupHit || again.DedupHit {
			t.Errorf("commits: %+v (hit %v) then %+v (hit %v); want row a on k1 twice, no hit", first.File, first.DedupHit, again.File, again.DedupHit)
		}
		if diff := cmp.Diff(&objectState{"k1", 1, "live"}, object(t, c)); diff != "" {
			t.Errorf("object row (-want +got):\n%s", diff)
		}
	})
}

// TestGetReturnsEveryColumn: Get (a prepared statement on SQLite, bun on
// PostgreSQL) returns every column of the row as committed, NULLs included.
func TestGetReturnsEveryColumn(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		ctx := context.Background()
		scanned := dedup.Micros(time.Date(2026, 11, 29, 12, 0, 0, 123456000, time.UTC))
		in := &dedup.File{
			ID: "id1", Owner: "o", Folder: "/docs/", Name: "Ünïcode.txt", SHA256: sha, Size: 3,
			ContentType: "text/plain", Meta: `{"width":1}`, ScanStatus: "clean",
			ScanEngine: "ClamAV", ScanVersion: "1.0", ScannedAt: &scanned,
		}
		res, err := c.Commit(ctx, dedup.CommitRequest{File: in, Key: "k1"})
		if err != nil {
			t.Fatal(err)
		}
		want := *in
		want.NameFold = dedup.Fold(in.Name)
		want.CreatedAt, want.UpdatedAt, want.Key = res.File.CreatedAt, res.File.UpdatedAt, "k1"
		if res.File.CreatedAt == 0 {
			t.Fatalf("committed row has no creation time: %+v", res.File)
		}
		if diff := cmp.Diff(&want, res.File); diff != "" {
			t.Errorf("Commit's row (-want +got):\n%s", diff)
		}
		got, err := c.Get(ctx, "o", "id1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("Get (-want +got):\n%s", diff)
		}
		if err := c.Trash(ctx, "o", "id1"); err != nil {
			t.Fatal(err)
		}
		trashed, err := c.Get(ctx, "o", "id1")
		if err != nil {
			t.Fatal(err)
		}
		if trashed.DeletedAt == nil || *trashed.DeletedAt != trashed.UpdatedAt {
			t.Errorf("trashed row: deleted_at %v, updated_at %d; want both the time of the trash", trashed.DeletedAt, trashed.UpdatedAt)
		}
		want.DeletedAt, want.UpdatedAt = trashed.DeletedAt, trashed.UpdatedAt
		if diff := cmp.Diff(&want, trashed); diff != "" {
			t.Errorf("Get of the trashed row (-want +got):\n%s", diff)
		}
		if _, err := c.Get(ctx, "other", "id1"); err != dedup.ErrNotFound {
			t.Errorf("Get by another owner: %v, want ErrNotFound", err)
		}
		if _, err := c.Get(ctx, "o", "nope"); err != dedup.ErrNotFound {
			t.Errorf("Get of a missing id: %v, want ErrNotFound", err)
		}
	})
}

// TestCommitIDTaken: a commit whose file id another row has fails with
// ErrIDTaken, on the fast path and in a transaction, and changes nothing,
// even when that row has the same owner and content (unless the request
// is a Retry: see TestCommitRepeatedSameKey). Before, such a row was taken
// for an earlier attempt of the commit and returned as its result.
func TestCommitIDTaken(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		commit(t, c, "a", "a", "k1")
		for _, overwrite := range []bool{false, true} {
			req := commitRequest("a", "other", "k2")
			req.Overwrite = overwrite
			res, err := c.Commit(context.Background(), req)
			if !errors.Is(err, dedup.ErrIDTaken) {
				t.Errorf("overwrite %v: Commit of a taken id = %+v, %v; want ErrIDTaken", overwrite, res, err)
			}
		}
		if diff := cmp.Diff(&objectState{"k1", 1, "live"}, object(t, c)); diff != "" {
			t.Errorf("object row (-want +got):\n%s", diff)
		}
	})
}
