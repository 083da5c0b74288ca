package dedup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// commitData commits file id at name with content sha, inline when data is
// not nil, and returns the result.
func commitData(t *testing.T, c *dedup.Catalog, id, name, key, sum string, data []byte, overwrite bool) *dedup.CommitResult {
	t.Helper()
	res, err := c.Commit(context.Background(), dedup.CommitRequest{
		File: &dedup.File{ID: id, Owner: "o", Name: name, SHA256: sum, Size: 3, ContentType: "x", Meta: "{}", ScanStatus: "unscanned"},
		Key:  key, Data: data, Overwrite: overwrite,
	})
	if err != nil {
		t.Fatalf("Commit %s: %v", id, err)
	}
	return res
}

// getData returns what Get gives for file id: its object's key and inline
// content.
func getData(t *testing.T, c *dedup.Catalog, id string) (string, []byte) {
	t.Helper()
	f, err := c.Get(context.Background(), "o", id)
	if err != nil {
		t.Fatalf("Get %s: %v", id, err)
	}
	return f.Key, f.Data
}

// TestCommitInline: an inline object's content comes back with every file
// that references it, whichever kind of upload referenced it; a commit that
// takes over a row being deleted replaces its content, inline or not, so
// no stale bytes survive; an overwrite (the savepoint path) stores inline
// content too.
func TestCommitInline(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		ctx := context.Background()
		abc := []byte("abc")
		a := commitData(t, c, "a", "a", "k1", sha, abc, false)
		if a.DedupHit || a.File.Key != "k1" || !bytes.Equal(a.File.Data, abc) {
			t.Fatalf("first commit: key %s, hit %v, data %q; want k1, new, %q", a.File.Key, a.DedupHit, a.File.Data, abc)
		}
		b := commitData(t, c, "b", "b", "k2", sha, abc, false)
		f := commitData(t, c, "f", "f", "k3", sha, nil, false) // the same content, staged in the bucket
		if !b.DedupHit || b.File.Key != "k1" || !f.DedupHit || f.File.Key != "k1" {
			t.Fatalf("later commits: %s (hit %v), %s (hit %v); want hits on k1", b.File.Key, b.DedupHit, f.File.Key, f.DedupHit)
		}
		for _, id := range []string{"a", "b", "f"} {
			if key, data := getData(t, c, id); key != "k1" || !bytes.Equal(data, abc) {
				t.Errorf("Get %s: key %s, data %q; want k1 and %q", id, key, data, abc)
			}
		}
		if diff := cmp.Diff(&objectState{"k1", 3, "live"}, object(t, c)); diff != "" {
			t.Errorf("object row (-want +got):\n%s", diff)
		}

		// The last reference goes: the collector marks the row, and an
		// upload of the same content staged in the bucket takes it over.
		var doomed *dedup.Doomed
		for _, id := range []string{"a", "b", "f"} {
			d, err := c.Purge(ctx, "o", id)
			if err != nil {
				t.Fatal(err)
			}
			if d != nil {
				doomed = d
			}
		}
		if doomed == nil || *doomed != (dedup.Doomed{SHA256: sha, Key: "k1", Inline: true}) {
			t.Fatalf("purging every reference doomed %+v, want inline k1", doomed)
		}
		// A collector that finds the marked row (the purger having died)
		// also knows that it is inline.
		marked, err := c.MarkUnreferenced(ctx, 10)
		if err != nil || len(marked) != 1 || marked[0] != *doomed {
			t.Fatalf("MarkUnreferenced: %+v, %v; want %+v", marked, err, *doomed)
		}
		g := commitData(t, c, "g", "g", "k4", sha, nil, false)
		if key, data := getData(t, c, "g"); g.DedupHit || key != "k4" || data != nil {
			t.Errorf("taking over a deleting inline row with bucket content: key %s, hit %v, data %q; want k4, new, no data", key, g.DedupHit, data)
		}
		if _, err := c.RemoveObject(ctx, *doomed); err != nil {
			t.Fatal(err)
		}

		// And the other way round: a deleting row whose content is in the
		// bucket, taken over by inline content.
		d, err := c.Purge(ctx, "o", "g")
		if err != nil || d == nil || *d != (dedup.Doomed{SHA256: sha, Key: "k4"}) {
			t.Fatalf("Purge g: %+v, %v; want k4 doomed, in the bucket", d, err)
		}
		h := commitData(t, c, "h", "h", "k5", sha, abc, false)
		if key, data := getData(t, c, "h"); h.DedupHit || key != "k5" || !bytes.Equal(data, abc) {
			t.Errorf("taking over a deleting row with inline content: key %s, hit %v, data %q; want k5, new, %q", key, h.DedupHit, data, abc)
		}
		if diff := cmp.Diff(&objectState{"k5", 1, "live"}, object(t, c)); diff != "" {
			t.Errorf("object row after the takeovers (-want +got):\n%s", diff)
		}

		// An overwrite commits on the savepoint path.
		const other = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		xyz := []byte("xyz")
		o := commitData(t, c, "o", "h", "k6", other, xyz, true)
		if key, data := getData(t, c, "o"); o.DedupHit || key != "k6" || !bytes.Equal(data, xyz) {
			t.Errorf("overwrite with inline content: key %s, hit %v, data %q; want k6, new, %q", key, o.DedupHit, data, xyz)
		}
	})
}

// TestUpgradeToInline: a database made by the first schema, with a file in
// it, is upgraded when a Catalog opens it; the old file reads as before (no
// inline content) and new commits can be inline.
func TestUpgradeToInline(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := dedup.OpenDB(ctx, d.url(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := dedup.MigrateTo(ctx, db, 1); err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				`INSERT INTO objects (sha256, size, key, ref_count, state, created_at) VALUES ('` + sha + `', 3, 'k1', 1, 'live', 1)`,
				`INSERT INTO files (id, owner, folder, name, name_fold, sha256, size, content_type, meta, scan_status, scan_engine, scan_version, created_at, updated_at)
					VALUES ('old', 'o', '', 'old', 'old', '` + sha + `', 3, 'x', '{}', 'unscanned', '', '', 1, 1)`,
			} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			c, err := dedup.New(ctx, db, nil)
			if err != nil {
				t.Fatalf("New on a version 1 database: %v", err)
			}
			t.Cleanup(func() { c.Close() })
			var version int
			if err := db.QueryRowContext(ctx, `SELECT version FROM filestore_schema`).Scan(&version); err != nil || version != dedup.SchemaVersion() {
				t.Fatalf("schema version %d (%v), want %d", version, err, dedup.SchemaVersion())
			}
			if key, data := getData(t, c, "old"); key != "k1" || data != nil {
				t.Errorf("the old file: key %s, data %q; want k1 and none", key, data)
			}
			const other = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
			commitData(t, c, "new", "new", "k2", other, []byte("new"), false)
			if key, data := getData(t, c, "new"); key != "k2" || string(data) != "new" {
				t.Errorf("a new inline file: key %s, data %q; want k2 and %q", key, data, "new")
			}
		})
	}
}

// TestStatLeavesContent: Stat returns what Get does but the inline
// content, and ErrNotFound where Get does.
func TestStatLeavesContent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ string, c *dedup.Catalog) {
		ctx := context.Background()
		commitData(t, c, "a", "a", "k1", sha, []byte("abc"), false)
		got, err := c.Get(ctx, "o", "a")
		if err != nil || got.Data == nil {
			t.Fatalf("Get: %+v, %v; want the inline content", got, err)
		}
		st, err := c.Stat(ctx, "o", "a")
		if err != nil {
			t.Fatal(err)
		}
		got.Data = nil
		if diff := cmp.Diff(got, st); diff != "" {
			t.Errorf("Stat against Get without the content (-get +stat):\n%s", diff)
		}
		for _, k := range []struct{ owner, id string }{{"o", "nope"}, {"someone", "a"}} {
			if _, err := c.Stat(ctx, k.owner, k.id); !errors.Is(err, dedup.ErrNotFound) {
				t.Errorf("Stat(%s, %s): %v, want ErrNotFound", k.owner, k.id, err)
			}
		}
	})
}

// dataCompression returns pg_attribute.attcompression of objects.data:
// "l" for lz4, "p" for pglz, "" for the server's default.
func dataCompression(t *testing.T, c *dedup.Catalog) string {
	t.Helper()
	var m string
	if err := c.DB().QueryRowContext(context.Background(), `SELECT attcompression FROM pg_attribute
		WHERE attrelid = 'objects'::regclass AND attname = 'data'`).Scan(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestInlineCompressionLZ4: on PostgreSQL, inline content is compressed
// with lz4 (when TOAST compresses it at all), the setting is in place
// after New, and opening the catalogue again leaves it as it is.
func TestInlineCompressionLZ4(t *testing.T) {
	ctx := context.Background()
	url := testenv.PostgresDatabase(t)
	c := openCatalog(t, url)
	compression := func() string { return dataCompression(t, c) }
	if m := compression(); m != "l" {
		t.Fatalf("objects.data compression %q after New, want l (lz4)", m)
	}
	// 4 KiB that compresses: TOAST compresses values over about 2 KiB.
	commitData(t, c, "a", "a", "k1", sha, bytes.Repeat([]byte("filestore "), 410), false)
	var method string
	if err := c.DB().QueryRowContext(ctx, `SELECT pg_column_compression(data) FROM objects WHERE sha256 = ?`, sha).Scan(&method); err != nil {
		t.Fatal(err)
	}
	if method != "lz4" {
		t.Errorf("stored inline content compressed with %q, want lz4", method)
	}
	openCatalog(t, url) // runs the migration again
	if m := compression(); m != "l" {
		t.Errorf("objects.data compression %q after a second New, want l (lz4)", m)
	}
	if key, data := getData(t, c, "a"); key != "k1" || !bytes.Equal(data, bytes.Repeat([]byte("filestore "), 410)) {
		t.Errorf("Get a: key %s, %d bytes; want k1 and the content", key, len(data))
	}
}

// TestInlineCompressionNotOwner: a role that may read and write the rows
// but does not own the tables still opens an up-to-date catalogue; the
// column keeps its compression.
func TestInlineCompressionNotOwner(t *testing.T) {
	ctx := context.Background()
	url := testenv.PostgresDatabase(t)
	c := openCatalog(t, url)
	for _, q := range []string{
		`ALTER TABLE objects ALTER COLUMN data SET COMPRESSION pglz`,
		// pg_database_owner, whose one member is the database's owner,
		// owns no table: as that role, the test role is not the owner.
		`GRANT ALL ON ALL TABLES IN SCHEMA public TO pg_database_owner`,
	} {
		if _, err := c.DB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db, err := dedup.OpenDB(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // SET ROLE holds for the session: keep one
	if _, err := db.ExecContext(ctx, `SET ROLE pg_database_owner`); err != nil {
		t.Fatal(err)
	}
	if err := dedup.Migrate(ctx, db); err != nil {
		t.Fatalf("Migrate as a role that does not own the tables: %v", err)
	}
	var role, m string
	if err := db.QueryRowContext(ctx, `SELECT current_user, (SELECT attcompression FROM pg_attribute
		WHERE attrelid = 'objects'::regclass AND attname = 'data')`).Scan(&role, &m); err != nil {
		t.Fatal(err)
	}
	if role != "pg_database_owner" || m != "p" {
		t.Errorf("after Migrate: role %s, compression %q; want pg_database_owner and p (pglz) unchanged", role, m)
	}
}

// TestMigrateWithoutCreate: a role that may not create anything in the
// schema (PostgreSQL 15's default for all but the schema's owner) opens an
// up-to-date catalogue; before, CREATE TABLE IF NOT EXISTS of the version
// table failed with "permission denied for schema public".
func TestMigrateWithoutCreate(t *testing.T) {
	ctx := context.Background()
	url := testenv.PostgresDatabase(t)
	c := openCatalog(t, url)
	// The test role owns the database, so it is pg_database_owner, which
	// owns the schema public: take the schema's CREATE from that role.
	if _, err := c.DB().ExecContext(ctx, `REVOKE CREATE ON SCHEMA public FROM pg_database_owner, PUBLIC`); err != nil {
		t.Fatal(err)
	}
	var can bool
	if err := c.DB().QueryRowContext(ctx, `SELECT has_schema_privilege('public', 'CREATE')`).Scan(&can); err != nil || can {
		t.Fatalf("CREATE on schema public after the REVOKE: %v, %v; want false", can, err)
	}
	db, err := dedup.OpenDB(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := dedup.Migrate(ctx, db); err != nil {
		t.Fatalf("Migrate of an up-to-date catalogue without CREATE: %v", err)
	}
}

// TestMigrateSearchPath: a catalogue whose search_path starts with a
// schema of its own gets its tables there, even when another catalogue's
// are in a schema further on the path; it was taken for that one, and the
// two shared their rows.
func TestMigrateSearchPath(t *testing.T) {
	ctx := context.Background()
	url := testenv.PostgresDatabase(t)
	c := openCatalog(t, url) // public's catalogue
	if _, err := c.DB().ExecContext(ctx, `CREATE SCHEMA tenant`); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db, err := dedup.OpenDB(ctx, url+sep+"search_path=tenant,public")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := dedup.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	var tables []string
	rows, err := c.DB().QueryContext(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'tenant' ORDER BY tablename`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if !slices.Contains(tables, "filestore_schema") || !slices.Contains(tables, "files") || !slices.Contains(tables, "objects") {
		t.Errorf("tables in schema tenant after Migrate: %v; want the catalogue's own", tables)
	}
}

// TestInlineCompressionBusyTable: while another transaction holds a lock
// on objects, opening the catalogue gives up the lz4 step after its lock
// timeout instead of queueing every query behind it; the next open, with
// the table free, applies it.
func TestInlineCompressionBusyTable(t *testing.T) {
	ctx := context.Background()
	url := testenv.PostgresDatabase(t)
	c := openCatalog(t, url)
	if _, err := c.DB().ExecContext(ctx, `ALTER TABLE objects ALTER COLUMN data SET COMPRESSION pglz`); err != nil {
		t.Fatal(err)
	}
	compression := func() string { return dataCompression(t, c) }
	reader, err := c.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback()
	if _, err := reader.ExecContext(ctx, `SELECT count(*) FROM objects`); err != nil { // holds ACCESS SHARE
		t.Fatal(err)
	}
	db, err := dedup.OpenDB(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Without the lock timeout, Migrate would wait for the reader.
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := dedup.Migrate(mctx, db); err != nil {
		t.Fatalf("Migrate while objects is locked: %v", err)
	}
	if m := compression(); m != "p" {
		t.Fatalf("compression %q after a Migrate that could not lock the table, want p unchanged", m)
	}
	if err := reader.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := dedup.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if m := compression(); m != "l" {
		t.Errorf("compression %q after a Migrate with the table free, want l (lz4)", m)
	}
}

// TestObjectsOfSize: only live objects of exactly that size whose content
// is in the bucket and which the owner has a file of, each once, at most
// limit of them, never another owner's; on SQLite through the
// files_owner_size index and the objects' primary key, not a scan.
func TestObjectsOfSize(t *testing.T) {
	forEachDialect(t, func(t *testing.T, url string, c *dedup.Catalog) {
		ctx := context.Background()
		commitAs := func(owner, id, key, sum string, size int64, data []byte) {
			t.Helper()
			_, err := c.Commit(ctx, dedup.CommitRequest{
				File: &dedup.File{ID: id, Owner: owner, Name: id, SHA256: sum, Size: size, Meta: "{}"},
				Key:  key, Data: data,
			})
			if err != nil {
				t.Fatalf("Commit %s: %v", id, err)
			}
		}
		commitSized := func(id, key string, sum byte, size int64, data []byte) {
			t.Helper()
			commitAs("o", id, key, strings.Repeat(string(sum), 64), size, data)
		}
		commitSized("a", "ka", 'a', 3, nil)
		commitSized("b", "kb", 'b', 3, []byte("bbb"))
		commitSized("c", "kc", 'c', 5, nil)
		commitSized("d", "kd", 'd', 3, nil)
		if _, err := c.DB().ExecContext(ctx, `UPDATE objects SET state = 'deleting' WHERE key = 'kd'`); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			size, limit int64
			want        []string
		}{
			{3, 4, []string{"ka"}},
			{5, 4, []string{"kc"}},
			{7, 4, nil},
		} {
			objs, err := c.ObjectsOfSize(ctx, "o", tc.size, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, o := range objs {
				keys = append(keys, o.Key)
				if o.SHA256 != strings.Repeat(o.Key[1:], 64) {
					t.Errorf("object %s has digest %s", o.Key, o.SHA256)
				}
			}
			if diff := cmp.Diff(tc.want, keys); diff != "" {
				t.Errorf("ObjectsOfSize(%d) (-want +got):\n%s", tc.size, diff)
			}
		}
		commitSized("e", "ke", 'e', 5, nil)
		commitSized("f", "kf", 'f', 5, nil)
		if objs, err := c.ObjectsOfSize(ctx, "o", 5, 2); err != nil || len(objs) != 2 {
			t.Errorf("ObjectsOfSize(5) with limit 2: %d objects, %v; want 2", len(objs), err)
		}
		// Another owner's objects of a size: not reported to o, however
		// many there are.
		for i := range 70 {
			commitAs("p", fmt.Sprintf("p%d", i), fmt.Sprintf("kp%d", i), fmt.Sprintf("%064x", i), 9, nil)
		}
		commitAs("p", "pc", "kpc", strings.Repeat("c", 64), 5, nil) // p also has o's content c
		// Files of one content count once: three of x and one of y.
		for i := range 3 {
			commitAs("q", fmt.Sprintf("qx%d", i), fmt.Sprintf("kqx%d", i), strings.Repeat("1", 64), 11, nil)
		}
		commitAs("q", "qy", "kqy", strings.Repeat("2", 64), 11, nil)
		for _, tc := range []struct {
			owner string
			size  int64
			want  int
		}{
			{"o", 9, 0},
			{"p", 9, 4},
			{"p", 5, 1},
			{"q", 11, 2},
		} {
			objs, err := c.ObjectsOfSize(ctx, tc.owner, tc.size, 4)
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != tc.want {
				t.Errorf("ObjectsOfSize(%s, %d): %d objects, want %d", tc.owner, tc.size, len(objs), tc.want)
			}
			for _, o := range objs {
				if tc.owner == "p" && tc.size == 5 && o.Key != "kc" {
					t.Errorf("ObjectsOfSize(p, 5) gave %s, want kc (the object p shares with o)", o.Key)
				}
			}
		}
		if strings.HasPrefix(url, "sqlite:") {
			rows, err := c.DB().QueryContext(ctx, "EXPLAIN QUERY PLAN "+dedup.ObjectsOfSizeSQL(c, "o", 5))
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			for _, index := range []string{"files_owner_size", "sqlite_autoindex_objects_1"} {
				if !strings.Contains(strings.Join(plan, "; "), index) {
					t.Errorf("query plan %q does not use %s", plan, index)
				}
			}
		}
	})
}
