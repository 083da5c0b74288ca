package filestoretest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
	"time"

	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/storage"
)

// CheckInvariants opens the catalogue and bucket behind a store directly and
// checks the dedup and reference invariants: one object row per content
// whose ref_count equals the file rows pointing at it, no file row without
// its object and bytes (in the bucket, or in the row of an inline object);
// and, when collected is true (quiescent after a Collect), no object
// without a reference, no row being deleted, and no bytes without a row.
// Each violation is reported with t.Errorf; a catalogue or bucket it cannot
// open or read fails t. It returns the number of object rows.
func CheckInvariants(t testing.TB, dbURL, bucketURL string, collected bool) int {
	t.Helper()
	ctx := context.Background()
	db, err := dedup.OpenDB(ctx, dbURL)
	if err != nil {
		t.Fatalf("invariants: open db: %v", err)
	}
	defer db.Close()
	b, err := storage.Open(ctx, bucketURL, nil)
	if err != nil {
		t.Fatalf("invariants: open bucket: %v", err)
	}
	defer b.Close()

	type objRow struct {
		SHA256   string `bun:"sha256"`
		Key      string `bun:"key"`
		RefCount int64  `bun:"ref_count"`
		State    string `bun:"state"`
		Refs     int64  `bun:"refs"`
		Size     int64  `bun:"size"`
		Data     []byte `bun:"data"`
	}
	var objs []objRow
	if err := db.NewRaw(`SELECT o.sha256, o.key, o.ref_count, o.state, o.size, o.data,
		(SELECT COUNT(*) FROM files f WHERE f.sha256 = o.sha256) AS refs FROM objects o`).Scan(ctx, &objs); err != nil {
		t.Fatalf("invariants: objects: %v", err)
	}
	var orphans int
	if err := db.NewRaw(`SELECT COUNT(*) FROM files f WHERE NOT EXISTS (SELECT 1 FROM objects o WHERE o.sha256 = f.sha256)`).Scan(ctx, &orphans); err != nil {
		t.Fatalf("invariants: orphans: %v", err)
	}
	if orphans != 0 {
		t.Errorf("invariant 6: %d file rows point at no object row", orphans)
	}
	keys := map[string]int64{}
	if err := b.List(ctx, func(key string, _ time.Time, size int64) error { keys[key] = size; return nil }); err != nil {
		t.Fatalf("invariants: list bucket: %v", err)
	}
	rowKeys := map[string]bool{}
	for _, o := range objs {
		rowKeys[o.Key] = true
		if o.RefCount != o.Refs {
			t.Errorf("invariant 5: object %s has ref_count %d but %d file rows", o.SHA256[:12], o.RefCount, o.Refs)
		}
		if o.Data != nil {
			// An inline object: its bytes are the row's, none in the bucket.
			if _, ok := keys[o.Key]; ok {
				t.Errorf("inline object %s also has bytes at %s", o.SHA256[:12], o.Key)
			}
			sum := sha256.Sum256(o.Data)
			if int64(len(o.Data)) != o.Size || hex.EncodeToString(sum[:]) != o.SHA256 {
				t.Errorf("inline object %s: %d bytes hashing to %x, row says %d", o.SHA256[:12], len(o.Data), sum[:6], o.Size)
			}
		} else if o.Refs > 0 {
			size, ok := keys[o.Key]
			if !ok {
				t.Errorf("invariant 6: object %s (referenced %d times) has no bytes at %s", o.SHA256[:12], o.Refs, o.Key)
				continue
			}
			if size != o.Size {
				t.Errorf("object %s: %d bytes stored, row says %d", o.SHA256[:12], size, o.Size)
			}
			rd, err := b.NewReader(ctx, o.Key)
			if err != nil {
				t.Errorf("object %s: %v", o.SHA256[:12], err)
				continue
			}
			h := sha256.New()
			_, err = io.Copy(h, rd)
			rd.Close()
			if got := hex.EncodeToString(h.Sum(nil)); err != nil || got != o.SHA256 {
				t.Errorf("object %s: bytes hash to %s (%v)", o.SHA256[:12], got[:12], err)
			}
		}
		if collected && (o.Refs == 0 || o.State != "live") {
			t.Errorf("after Collect: object %s has %d references, state %s", o.SHA256[:12], o.Refs, o.State)
		}
	}
	if collected {
		for k := range keys {
			if !rowKeys[k] {
				t.Errorf("after Collect: bucket key %s has no object row", k)
			}
		}
	}
	return len(objs)
}
