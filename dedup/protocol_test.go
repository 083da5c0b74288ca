package dedup_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"
)

var dialects = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "c.db") }},
	{"postgres", func(t *testing.T) string { return testenv.PostgresDatabase(t) }},
}

// openCatalog opens a Catalog on url whose queries run hooks.
func openCatalog(t *testing.T, url string, hooks ...bun.QueryHook) *dedup.Catalog {
	t.Helper()
	return openCatalogOpts(t, url, nil, hooks...)
}

// openCatalogOpts opens a Catalog on url with opts, whose queries run
// hooks; both close when t ends.
func openCatalogOpts(t *testing.T, url string, opts *dedup.Options, hooks ...bun.QueryHook) *dedup.Catalog {
	t.Helper()
	db, err := dedup.OpenDB(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, h := range hooks {
		db = db.WithQueryHook(h)
	}
	c, err := dedup.New(context.Background(), db, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func forEachDialect(t *testing.T, fn func(t *testing.T, url string, c *dedup.Catalog)) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			url := d.url(t)
			fn(t, url, openCatalog(t, url))
		})
	}
}

const sha = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func commit(t *testing.T, c *dedup.Catalog, id, name, key string) *dedup.CommitResult {
	t.Helper()
	return commitReq(t, c, commitRequest(id, name, key))
}

// retryCommit is commit as the repeat of a commit whose outcome was lost.
func retryCommit(t *testing.T, c *dedup.Catalog, id, name, key string) *dedup.CommitResult {
	t.Helper()
	req := commitRequest(id, name, key)
	req.Retry = true
	return commitReq(t, c, req)
}

func commitRequest(id, name, key string) dedup.CommitRequest {
	return dedup.CommitRequest{
		File: &dedup.File{ID: id, Owner: "o", Name: name, SHA256: sha, Size: 3, ContentType: "x", Meta: "{}", ScanStatus: "unscanned"},
		Key:  key,
	}
}

func commitReq(t *testing.T, c *dedup.Catalog, req dedup.CommitRequest) *dedup.CommitResult {
	t.Helper()
	res, err := c.Commit(context.Background(), req)
	if err != nil {
		t.Fatalf("Commit %s: %v", req.File.ID, err)
	}
	return res
}

type objectState struct {
	Key      string `bun:"key"`
	RefCount int64  `bun:"ref_count"`
	State    string `bun:"state"`
}

func object(t *testing.T, c *dedup.Catalog) *objectState {
	t.Helper()
	var rows []objectState
	if err := c.DB().NewRaw("SELECT key, ref_count, state FROM objects WHERE sha256 = ?", sha).Scan(context.Background(), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		return nil
	}
	return &rows[0]
}

func TestCommitDedup(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		a := commit(t, c, "a", "a", "k1")
		b := commit(t, c, "b", "b", "k2")
		if a.DedupHit || a.File.Key != "k1" || !b.DedupHit || b.File.Key != "k1" {
			t.Fatalf("first commit %+v (hit %v), second %+v (hit %v); want k1 new, then a hit on k1", a.File, a.DedupHit, b.File, b.DedupHit)
		}
		if diff := cmp.Diff(&objectState{"k1", 2, "live"}, object(t, c)); diff != "" {
			t.Errorf("object row (-want +got):\n%s", diff)
		}
		// A retried commit whose first reply was lost finds its row and
		// does not count the reference twice.
		again := retryCommit(t, c, "b", "b", "k2")
		if !again.DedupHit || again.File.ID != "b" || object(t, c).RefCount != 2 {
			t.Errorf("repeated commit: %+v, object %+v; want the same row and ref_count 2", again, object(t, c))
		}
	})
}

func TestPurgeMarksLastReferenceAndCommitTakesOver(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		ctx := context.Background()
		commit(t, c, "a", "a", "k1")
		commit(t, c, "b", "b", "k2")
		if d, err := c.Purge(ctx, "o", "a"); err != nil || d != nil {
			t.Fatalf("Purge with a reference left: %+v, %v; want nothing doomed", d, err)
		}
		d, err := c.Purge(ctx, "o", "b")
		if err != nil || d == nil || *d != (dedup.Doomed{SHA256: sha, Key: "k1"}) {
			t.Fatalf("Purge of the last reference: %+v, %v; want k1 doomed", d, err)
		}
		if diff := cmp.Diff(&objectState{"k1", 0, "deleting"}, object(t, c)); diff != "" {
			t.Fatalf("object row after the last purge (-want +got):\n%s", diff)
		}
		// The process dies before deleting the bytes: the next collector
		// finds the marked row.
		marked, err := c.MarkUnreferenced(ctx, 10)
		if err != nil || len(marked) != 1 || marked[0] != *d {
			t.Fatalf("MarkUnreferenced: %+v, %v; want the doomed row", marked, err)
		}
		// Meanwhile the same content is uploaded again: the commit takes
		// the row over with its own key instead of referencing k1, whose
		// bytes are being deleted.
		n := commit(t, c, "n", "n", "k3")
		if n.DedupHit || n.File.Key != "k3" {
			t.Fatalf("commit onto a deleting row: key %s, hit %v; want its own key k3", n.File.Key, n.DedupHit)
		}
		if removed, err := c.RemoveObject(ctx, *d); err != nil || removed {
			t.Fatalf("RemoveObject of the row taken over: %v, %v; want false, nil", removed, err)
		}
		if diff := cmp.Diff(&objectState{"k3", 1, "live"}, object(t, c)); diff != "" {
			t.Errorf("object row after the collector finished with k1 (-want +got):\n%s", diff)
		}
	})
}

// TestRemoveObjectOnce: an object marked by a purge is also returned to a
// collector (MarkUnreferenced), so two disposers may remove it; only the
// one whose RemoveObject deletes the row is told so.
func TestRemoveObjectOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		ctx := context.Background()
		commit(t, c, "a", "a", "k1")
		d, err := c.Purge(ctx, "o", "a")
		if err != nil || d == nil {
			t.Fatalf("Purge of the last reference: %+v, %v; want it doomed", d, err)
		}
		marked, err := c.MarkUnreferenced(ctx, 10)
		if err != nil || len(marked) != 1 || marked[0] != *d {
			t.Fatalf("MarkUnreferenced: %+v, %v; want the doomed row", marked, err)
		}
		for i, want := range []bool{true, false} {
			if removed, err := c.RemoveObject(ctx, marked[0]); err != nil || removed != want {
				t.Errorf("RemoveObject #%d: %v, %v; want %v, nil", i+1, removed, err, want)
			}
		}
		if o := object(t, c); o != nil {
			t.Errorf("object row after RemoveObject: %+v, want none", o)
		}
	})
}

func TestCommitDeadline(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		_, err := c.Commit(context.Background(), dedup.CommitRequest{
			File:     &dedup.File{ID: "late", Owner: "o", Name: "late", SHA256: sha, Meta: "{}"},
			Key:      "k",
			Deadline: time.Now().Add(-time.Second),
		})
		if !errors.Is(err, dedup.ErrStagingExpired) {
			t.Fatalf("Commit after the deadline: %v, want ErrStagingExpired", err)
		}
		if o := object(t, c); o != nil {
			t.Errorf("an expired commit left an object row %+v", o)
		}
	})
}

func TestConflicts(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		ctx := context.Background()
		commit(t, c, "a", "same", "k1")
		_, err := c.Commit(ctx, dedup.CommitRequest{
			File: &dedup.File{ID: "b", Owner: "o", Name: "same", SHA256: sha, Meta: "{}"}, Key: "k2",
		})
		if !errors.Is(err, dedup.ErrConflict) {
			t.Fatalf("Commit on a taken path: %v, want ErrConflict", err)
		}
		if o := object(t, c); o.RefCount != 1 {
			t.Errorf("a refused commit changed ref_count to %d", o.RefCount)
		}
		res, err := c.Commit(ctx, dedup.CommitRequest{
			File: &dedup.File{ID: "b", Owner: "o", Name: "same", SHA256: sha, Meta: "{}"}, Key: "k2", Overwrite: true,
		})
		if err != nil || !res.DedupHit {
			t.Fatalf("overwrite: %+v, %v", res, err)
		}
		old, err := c.Get(ctx, "o", "a")
		if err != nil || old.DeletedAt == nil {
			t.Fatalf("overwritten file: %+v, %v; want it trashed", old, err)
		}
		if o := object(t, c); o.RefCount != 2 {
			t.Errorf("ref_count %d after overwrite, want 2 (the trashed file keeps its reference)", o.RefCount)
		}
	})
}

// TestConflictLeavesNoObject: a commit refused for its path leaves no trace
// of its new content: on SQLite's fast path, the object row its upsert
// created is deleted again, alone and inside a batch.
func TestConflictLeavesNoObject(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		ctx := context.Background()
		commit(t, c, "a", "same", "k1")
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = c.Commit(ctx, dedup.CommitRequest{
					File: &dedup.File{ID: fmt.Sprintf("b%d", i), Owner: "o", Name: "same", SHA256: fmt.Sprintf("%064x", i+1), Size: 3, Meta: "{}"},
					Key:  fmt.Sprintf("kb%d", i),
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, dedup.ErrConflict) {
				t.Errorf("commit %d on a taken path: %v, want ErrConflict", i, err)
			}
		}
		var objects []string
		if err := c.DB().NewRaw("SELECT key FROM objects ORDER BY key").Scan(ctx, &objects); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"k1"}, objects); diff != "" {
			t.Errorf("object rows after refused commits (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(&objectState{"k1", 1, "live"}, object(t, c)); diff != "" {
			t.Errorf("object row (-want +got):\n%s", diff)
		}
	})
}

// TestCollectorSkipsLockedRows: the collector must not wait for, nor mark,
// an object row that a commit holds locked (PostgreSQL FOR UPDATE SKIP
// LOCKED); the commit then adds its reference and the row lives on.
func TestCollectorSkipsLockedRows(t *testing.T) {
	url := testenv.PostgresDatabase(t)
	c := openCatalog(t, url)
	other := openCatalog(t, url)
	ctx := context.Background()
	commit(t, c, "a", "a", "k1")
	// Drop the reference without marking, as a crash of an older version
	// might leave it: ref_count 0 and live.
	if _, err := c.DB().ExecContext(ctx, "DELETE FROM files"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DB().ExecContext(ctx, "UPDATE objects SET ref_count = 0"); err != nil {
		t.Fatal(err)
	}
	err := c.DB().RunInTx(ctx, &sql.TxOptions{}, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT 1 FROM objects WHERE sha256 = ? FOR UPDATE", sha); err != nil {
			return err
		}
		mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		marked, err := other.MarkUnreferenced(mctx, 10)
		if err != nil || len(marked) != 0 {
			t.Errorf("MarkUnreferenced while a commit holds the row: %+v, %v; want nothing, at once", marked, err)
		}
		_, err = tx.ExecContext(ctx, "UPDATE objects SET ref_count = ref_count + 1 WHERE sha256 = ?", sha)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if o := object(t, c); o.State != "live" || o.RefCount != 1 {
		t.Errorf("object after the commit: %+v, want live with one reference", o)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			url := d.url(t)
			var wg sync.WaitGroup
			errs := make([]error, 4)
			ids := make([]string, len(errs))
			for i := range errs {
				wg.Go(func() {
					db, err := dedup.OpenDB(context.Background(), url)
					if err != nil {
						errs[i] = err
						return
					}
					defer db.Close()
					var c *dedup.Catalog
					if c, errs[i] = dedup.New(context.Background(), db, nil); c != nil {
						ids[i] = c.ID()
						c.Close()
					}
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("opener %d: %v", i, err)
				}
			}
			c := openCatalog(t, url)
			var v int
			if err := c.DB().NewRaw("SELECT version FROM filestore_schema").Scan(context.Background(), &v); err != nil || v != dedup.SchemaVersion() {
				t.Errorf("schema version %d (%v), want %d", v, err, dedup.SchemaVersion())
			}
			// The migrators agree on the catalogue's identity: one row, one id.
			if want := slices.Repeat([]string{c.ID()}, len(ids)); !slices.Equal(ids, want) {
				t.Errorf("catalogue ids of the openers %q, want all %q", ids, c.ID())
			}
			var rows int
			if err := c.DB().NewRaw("SELECT count(*) FROM filestore_catalog").Scan(context.Background(), &rows); err != nil || rows != 1 {
				t.Errorf("filestore_catalog holds %d rows (%v), want 1", rows, err)
			}
		})
	}
}

func TestFold(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"abc", "ABC", true},
		{"Report.PDF", "report.pdf", true},
		{"\u017Fecret", "SECRET", true}, // long s folds with s
		{"\u212A", "k", true},           // Kelvin sign folds with k
		{"ΣΑΣ", "σας", true},            // final sigma folds with sigma
		{"straße", "STRASSE", false},    // simple folding does not expand ß
		{"a_b", "a-b", false},
		{"é", "e", false},
	}
	for _, tt := range tests {
		if got := dedup.Fold(tt.a) == dedup.Fold(tt.b); got != tt.same {
			t.Errorf("Fold(%q) == Fold(%q) is %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}

// TestGroupCommit: concurrent commits share transactions, and a request
// that fails (a taken path) rolls back only its own changes.
func TestGroupCommit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		ctx := context.Background()
		const n, clashing = 60, 12
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				name := fmt.Sprintf("f%d", i)
				if i < clashing {
					name = "same"
				}
				_, errs[i] = c.Commit(ctx, dedup.CommitRequest{
					File: &dedup.File{ID: fmt.Sprintf("id%d", i), Owner: "o", Name: name, SHA256: sha, Size: 3, Meta: "{}"},
					Key:  fmt.Sprintf("k%d", i),
				})
			})
		}
		wg.Wait()
		ok, conflicts := 0, 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, dedup.ErrConflict) && i < clashing:
				conflicts++
			default:
				t.Errorf("commit %d: %v", i, err)
			}
		}
		if want := n - clashing + 1; ok != want || conflicts != clashing-1 {
			t.Errorf("%d commits succeeded and %d conflicted; want %d and %d", ok, conflicts, want, clashing-1)
		}
		if o := object(t, c); o == nil || o.RefCount != int64(ok) {
			t.Errorf("object %+v, want ref_count %d", o, ok)
		}
	})
}

func TestCommitAfterClose(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		c.Close()
		_, err := c.Commit(context.Background(), dedup.CommitRequest{File: &dedup.File{ID: "x", Owner: "o", Name: "x", SHA256: sha, Meta: "{}"}, Key: "k"})
		if !errors.Is(err, dedup.ErrClosed) {
			t.Errorf("Commit after Close: %v, want ErrClosed", err)
		}
	})
}

// TestCommitExisting: a commit that references a stored object without
// staged bytes of its own succeeds only while that object is live.
func TestCommitExisting(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		ctx := context.Background()
		commit(t, c, "a", "a", "k1")
		key, ok, err := c.LiveObject(ctx, "o", sha)
		if err != nil || !ok || key != "k1" {
			t.Fatalf("LiveObject: %q, %v, %v; want k1", key, ok, err)
		}
		existing := func(id string) error {
			_, err := c.Commit(ctx, dedup.CommitRequest{
				File: &dedup.File{ID: id, Owner: "o", Name: id, SHA256: sha, Size: 3, Meta: "{}"}, Key: "k1", Existing: true,
			})
			return err
		}
		if err := existing("b"); err != nil {
			t.Fatalf("commit of an existing object: %v", err)
		}
		if o := object(t, c); o.RefCount != 2 {
			t.Fatalf("ref_count %d, want 2", o.RefCount)
		}
		for _, id := range []string{"a", "b"} {
			if _, err := c.Purge(ctx, "o", id); err != nil {
				t.Fatal(err)
			}
		}
		// The object is being deleted: the commit has no bytes to offer.
		if err := existing("c"); !errors.Is(err, dedup.ErrObjectGone) {
			t.Fatalf("commit of a deleting object: %v, want ErrObjectGone", err)
		}
		if _, ok, _ := c.LiveObject(ctx, "o", sha); ok {
			t.Error("LiveObject reports a deleting object")
		}
		if o := object(t, c); o.RefCount != 0 || o.State != "deleting" {
			t.Errorf("object after the refused commit: %+v", o)
		}
	})
}

// TestCommitCancelled: a commit whose ctx is already done commits nothing,
// on every path (SQLite's group commit, PostgreSQL's statement and
// transaction). Before the ctx check in submit, SQLite's select between a
// ready queue and a done ctx picked the queue about half the time.
func TestCommitCancelled(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		commit(t, c, "stored", "stored", "k0")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		kinds := []struct {
			name string
			req  func(i int) dedup.CommitRequest
		}{
			{"New", func(i int) dedup.CommitRequest {
				return dedup.CommitRequest{File: &dedup.File{ID: fmt.Sprintf("n%d", i), Owner: "o", Name: fmt.Sprintf("n%d", i), SHA256: sha, Size: 3, Meta: "{}"}, Key: fmt.Sprintf("kn%d", i)}
			}},
			{"Overwrite", func(i int) dedup.CommitRequest {
				return dedup.CommitRequest{File: &dedup.File{ID: fmt.Sprintf("w%d", i), Owner: "o", Name: "stored", SHA256: sha, Size: 3, Meta: "{}"}, Key: fmt.Sprintf("kw%d", i), Overwrite: true}
			}},
			{"Existing", func(i int) dedup.CommitRequest {
				return dedup.CommitRequest{File: &dedup.File{ID: fmt.Sprintf("e%d", i), Owner: "o", Name: fmt.Sprintf("e%d", i), SHA256: sha, Size: 3, Meta: "{}"}, Key: "k0", Existing: true}
			}},
		}
		for _, k := range kinds {
			t.Run(k.name, func(t *testing.T) {
				for i := range 100 {
					if res, err := c.Commit(ctx, k.req(i)); !errors.Is(err, context.Canceled) {
						t.Fatalf("commit %d with a cancelled ctx: %+v, %v; want context.Canceled", i, res, err)
					}
				}
			})
		}
		var files int
		if err := c.DB().NewRaw("SELECT count(*) FROM files").Scan(context.Background(), &files); err != nil {
			t.Fatal(err)
		}
		if files != 1 {
			t.Errorf("%d file rows after cancelled commits, want the 1 committed before", files)
		}
		if diff := cmp.Diff(&objectState{"k0", 1, "live"}, object(t, c)); diff != "" {
			t.Errorf("object row (-want +got):\n%s", diff)
		}
	})
}

// TestLiveObjectOwner: LiveObject reports stored content only to an owner
// with a file of it, live or in the trash, never content only other owners
// have.
func TestLiveObjectOwner(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		ctx := context.Background()
		has := func(owner string) bool {
			t.Helper()
			key, ok, err := c.LiveObject(ctx, owner, sha)
			if err != nil {
				t.Fatal(err)
			}
			if ok && key != "k1" {
				t.Fatalf("LiveObject(%s): key %q, want k1", owner, key)
			}
			return ok
		}
		commitAs := func(owner, id, key string) {
			t.Helper()
			_, err := c.Commit(ctx, dedup.CommitRequest{
				File: &dedup.File{ID: id, Owner: owner, Name: id, SHA256: sha, Size: 3, Meta: "{}"}, Key: key,
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		steps := []struct {
			name string
			do   func()
			want map[string]bool
		}{
			{"o stores it", func() { commitAs("o", "a", "k1") }, map[string]bool{"o": true, "p": false}},
			{"o trashes it", func() {
				if err := c.Trash(ctx, "o", "a"); err != nil {
					t.Fatal(err)
				}
			}, map[string]bool{"o": true, "p": false}},
			{"p stores it too", func() { commitAs("p", "b", "k2") }, map[string]bool{"o": true, "p": true}},
			{"o purges it", func() {
				if _, err := c.Purge(ctx, "o", "a"); err != nil {
					t.Fatal(err)
				}
			}, map[string]bool{"o": false, "p": true}},
		}
		for _, st := range steps {
			st.do()
			for owner, want := range st.want {
				if got := has(owner); got != want {
					t.Errorf("after %s: LiveObject(%s) ok %v, want %v", st.name, owner, got, want)
				}
			}
		}
	})
}

// TestListLimit: a page size below 1 is refused with ErrBadLimit, whether
// or not the owner has files. Before, a Limit of 0 panicked (index out of
// range) when the owner had a file, and so did any negative Limit.
func TestListLimit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		commit(t, c, "a", "a", "k1")
		tests := []struct {
			owner string
			limit int
			want  []string // ids; nil with wantErr
			err   error
		}{
			{"o", 1, []string{"a"}, nil},
			{"o", 0, nil, dedup.ErrBadLimit},
			{"o", -1, nil, dedup.ErrBadLimit},
			{"nobody", 0, nil, dedup.ErrBadLimit},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s %d", tt.owner, tt.limit), func(t *testing.T) {
				files, next, err := c.List(context.Background(), tt.owner, dedup.ListQuery{Limit: tt.limit})
				if !errors.Is(err, tt.err) {
					t.Fatalf("List: %v, want %v", err, tt.err)
				}
				var ids []string
				for _, f := range files {
					ids = append(ids, f.ID)
				}
				if diff := cmp.Diff(tt.want, ids); diff != "" || next != "" {
					t.Errorf("List: ids (-want +got):\n%s, next cursor %q", diff, next)
				}
			})
		}
	})
}
