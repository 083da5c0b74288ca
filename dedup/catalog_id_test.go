package dedup_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/filestore-go/filestore/dedup"
)

// TestCatalogID: a catalogue's id is 32 hex digits, drawn once (the same
// for every Catalog on the database, and after reopening), also for a
// catalogue made by an older schema; two databases have different ids.
func TestCatalogID(t *testing.T) {
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			url := d.url(t)
			db, err := dedup.OpenDB(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := dedup.MigrateTo(ctx, db, 5); err != nil {
				t.Fatal(err)
			}
			first := openCatalog(t, url).ID()
			if !hex32.MatchString(first) {
				t.Fatalf("ID() = %q, want 32 hex digits", first)
			}
			if again := openCatalog(t, url).ID(); again != first {
				t.Errorf("reopened: ID() = %q, want %q", again, first)
			}
			if other := openCatalog(t, d.url(t)).ID(); other == first {
				t.Errorf("another database has the same id %q", other)
			}
		})
	}
}
