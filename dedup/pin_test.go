package dedup_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// pinState is an object row with its pins.
type pinState struct {
	Key         string `bun:"key"`
	RefCount    int64  `bun:"ref_count"`
	State       string `bun:"state"`
	Pins        int64  `bun:"pins"`
	PinnedUntil *int64 `bun:"pinned_until"`
}

func pins(t *testing.T, c *dedup.Catalog) *pinState {
	t.Helper()
	var rows []pinState
	if err := c.DB().NewRaw("SELECT key, ref_count, state, pins, pinned_until FROM objects WHERE sha256 = ?", sha).Scan(context.Background(), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		return nil
	}
	return &rows[0]
}

// pinTimes pins the object n times until until, as n uploads would.
func pinTimes(t *testing.T, c *dedup.Catalog, n int, until int64) {
	t.Helper()
	for range n {
		if pinned, err := c.Pin(context.Background(), []string{sha}, until); err != nil || len(pinned) != 1 {
			t.Fatalf("Pin: %+v, %v; want the object pinned", pinned, err)
		}
	}
}

// forEachDialectClock is forEachDialect with a Catalog on a settable clock.
func forEachDialectClock(t *testing.T, fn func(t *testing.T, c *dedup.Catalog, clk *testenv.Clock)) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			clk := testenv.NewClock(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
			fn(t, openCatalogOpts(t, d.url(t), &dedup.Options{Now: clk.Now}), clk)
		})
	}
}

// TestPinKeepsPurgedObject: an object pinned by an upload stays live when
// its last file is purged, no collector marks it, and the upload's commit
// references it; Unpin then leaves it alone.
func TestPinKeepsPurgedObject(t *testing.T) {
	forEachDialectClock(t, func(t *testing.T, c *dedup.Catalog, clk *testenv.Clock) {
		ctx := context.Background()
		commit(t, c, "a", "a", "k1")
		until := dedup.Micros(clk.Now().Add(time.Hour))
		pinned, err := c.Pin(ctx, []string{sha, "bbbb"}, until)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]dedup.StoredObject{{SHA256: sha, Key: "k1"}}, pinned); diff != "" {
			t.Fatalf("Pin of a live object and an unknown one (-want +got):\n%s", diff)
		}
		if d, err := c.Purge(ctx, "o", "a"); err != nil || d != nil {
			t.Fatalf("Purge of the last reference of a pinned object: %+v, %v; want nothing doomed", d, err)
		}
		if diff := cmp.Diff(&pinState{"k1", 0, "live", 1, &until}, pins(t, c)); diff != "" {
			t.Fatalf("object after the purge (-want +got):\n%s", diff)
		}
		if marked, err := c.MarkUnreferenced(ctx, 10); err != nil || len(marked) != 0 {
			t.Fatalf("MarkUnreferenced of a pinned object: %+v, %v; want nothing", marked, err)
		}
		_, err = c.Commit(ctx, dedup.CommitRequest{
			File: &dedup.File{ID: "b", Owner: "o", Name: "b", SHA256: sha, Size: 3, Meta: "{}"}, Key: "k1", Existing: true,
		})
		if err != nil {
			t.Fatalf("commit of the pinned object: %v", err)
		}
		doomed, err := c.Unpin(ctx, []string{sha})
		if err != nil || len(doomed) != 0 {
			t.Fatalf("Unpin of a referenced object: %+v, %v; want nothing doomed", doomed, err)
		}
		if diff := cmp.Diff(&pinState{"k1", 1, "live", 0, &until}, pins(t, c)); diff != "" {
			t.Errorf("object after the commit and Unpin (-want +got):\n%s", diff)
		}
	})
}

// TestUnpinDoomsUnreferenced: the last Unpin of an object whose last file
// was purged meanwhile marks it "deleting" and returns it; while another
// pin holds it, it stays. A deleting object cannot be pinned.
func TestUnpinDoomsUnreferenced(t *testing.T) {
	forEachDialectClock(t, func(t *testing.T, c *dedup.Catalog, clk *testenv.Clock) {
		ctx := context.Background()
		commit(t, c, "a", "a", "k1")
		until := dedup.Micros(clk.Now().Add(time.Hour))
		pinTimes(t, c, 2, until)
		if d, err := c.Purge(ctx, "o", "a"); err != nil || d != nil {
			t.Fatalf("Purge: %+v, %v; want nothing doomed", d, err)
		}
		if doomed, err := c.Unpin(ctx, []string{sha}); err != nil || len(doomed) != 0 {
			t.Fatalf("first Unpin of two pins: %+v, %v; want nothing doomed", doomed, err)
		}
		doomed, err := c.Unpin(ctx, []string{sha})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]dedup.Doomed{{SHA256: sha, Key: "k1"}}, doomed); diff != "" {
			t.Fatalf("last Unpin (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(&pinState{"k1", 0, "deleting", 0, &until}, pins(t, c)); diff != "" {
			t.Fatalf("object after the last Unpin (-want +got):\n%s", diff)
		}
		if pinned, err := c.Pin(ctx, []string{sha}, until); err != nil || len(pinned) != 0 {
			t.Fatalf("Pin of a deleting object: %+v, %v; want nothing pinned", pinned, err)
		}
		if removed, err := c.RemoveObject(ctx, doomed[0]); err != nil || !removed {
			t.Fatalf("RemoveObject: %v, %v", removed, err)
		}
		if o := pins(t, c); o != nil {
			t.Errorf("object after RemoveObject: %+v, want none", o)
		}
	})
}

// TestPinExpires: a pin that was never released (its process died) stops
// holding the object at its time: a collector then marks the object, and
// a new pin counts from one.
func TestPinExpires(t *testing.T) {
	forEachDialectClock(t, func(t *testing.T, c *dedup.Catalog, clk *testenv.Clock) {
		ctx := context.Background()
		commit(t, c, "a", "a", "k1")
		until := dedup.Micros(clk.Now().Add(time.Minute))
		pinTimes(t, c, 2, until)
		clk.Advance(time.Minute)
		later := dedup.Micros(clk.Now().Add(time.Minute))
		pinTimes(t, c, 1, later)
		if diff := cmp.Diff(&pinState{"k1", 1, "live", 1, &later}, pins(t, c)); diff != "" {
			t.Fatalf("object pinned again after expiry (-want +got):\n%s", diff)
		}
		if d, err := c.Purge(ctx, "o", "a"); err != nil || d != nil {
			t.Fatalf("Purge: %+v, %v; want nothing doomed", d, err)
		}
		if marked, err := c.MarkUnreferenced(ctx, 10); err != nil || len(marked) != 0 {
			t.Fatalf("MarkUnreferenced before the pin expires: %+v, %v; want nothing", marked, err)
		}
		clk.Advance(time.Minute)
		marked, err := c.MarkUnreferenced(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]dedup.Doomed{{SHA256: sha, Key: "k1"}}, marked); diff != "" {
			t.Errorf("MarkUnreferenced once the pin expired (-want +got):\n%s", diff)
		}
	})
}

// TestPinLeavesSQLiteDurable: Pin and Unpin commit with synchronous NORMAL
// on SQLite, and give every connection back to the pool at the level it
// had: FULL, as OpenDB sets it, or what the URL chose.
func TestPinLeavesSQLiteDurable(t *testing.T) {
	for _, tt := range []struct {
		query string
		want  int
	}{{"", 2}, {"?_pragma=synchronous(EXTRA)", 3}, {"?_pragma=synchronous(OFF)", 0}} {
		t.Run(tt.query, func(t *testing.T) {
			ctx := context.Background()
			c := openCatalog(t, "sqlite://"+filepath.Join(t.TempDir(), "c.db")+tt.query)
			db := c.DB()
			commit(t, c, "a", "a", "k1")
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for range 10 {
						if _, err := c.Pin(ctx, []string{sha}, dedup.Micros(time.Now().Add(time.Hour))); err != nil {
							t.Error(err)
						}
						if _, err := c.Unpin(ctx, []string{sha}); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			if o := pins(t, c); o.Pins != 0 || o.RefCount != 1 || o.State != "live" {
				t.Errorf("object after 40 pins and unpins: %+v", o)
			}
			eachConn(t, db, 8, func(i int, conn *sql.Conn) {
				var level int
				if err := conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level); err != nil {
					t.Fatal(err)
				}
				if level != tt.want {
					t.Errorf("connection %d: synchronous %d, want %d", i, level, tt.want)
				}
			})
		})
	}
}
