package storage_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/filestore-go/filestore/storage"
)

// TestMarker: a bucket has no marker until CreateMarker; a second
// CreateMarker is ErrExists and leaves the first; the marker is outside
// the key space that List walks.
func TestMarker(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *storage.Bucket) {
		if m, err := b.ReadMarker(t.Context()); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("ReadMarker of a new bucket = %+v, %v; want ErrNotFound", m, err)
		}
		if err := b.CreateMarker(t.Context(), &storage.Marker{Catalog: "first"}); err != nil {
			t.Fatalf("CreateMarker: %v", err)
		}
		if err := b.CreateMarker(t.Context(), &storage.Marker{Catalog: "second"}); !errors.Is(err, storage.ErrExists) {
			t.Errorf("second CreateMarker = %v, want ErrExists", err)
		}
		m, err := b.ReadMarker(t.Context())
		if err != nil || m.Catalog != "first" {
			t.Errorf("ReadMarker = %+v, %v; want catalogue first", m, err)
		}
		if keys := listKeys(t, b); len(keys) != 0 {
			t.Errorf("List = %q, want nothing (the marker is not an object)", keys)
		}
	})
}

// TestMarkerRace: of Buckets (as of several processes) on one bucket
// creating a marker at once, exactly one succeeds and the others get
// ErrExists; every one then reads the winner's.
func TestMarkerRace(t *testing.T) {
	for _, be := range backends {
		if be.name == "mem" {
			continue // every mem:// Open is a bucket of its own
		}
		t.Run(be.name, func(t *testing.T) {
			url := be.url(t)
			buckets := make([]*storage.Bucket, 8)
			for i := range buckets {
				b, err := storage.Open(t.Context(), url, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = b.Close() })
				buckets[i] = b
			}
			errs := make([]error, len(buckets))
			var wg sync.WaitGroup
			for i, b := range buckets {
				wg.Go(func() { errs[i] = b.CreateMarker(t.Context(), &storage.Marker{Catalog: fmt.Sprint(i)}) })
			}
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner < 0:
					winner = i
				case err == nil:
					t.Errorf("CreateMarker %d and %d both succeeded", winner, i)
				case !errors.Is(err, storage.ErrExists):
					t.Errorf("CreateMarker %d: %v, want ErrExists", i, err)
				}
			}
			if winner < 0 {
				t.Fatal("no CreateMarker succeeded")
			}
			for i, b := range buckets {
				if m, err := b.ReadMarker(t.Context()); err != nil || m.Catalog != fmt.Sprint(winner) {
					t.Errorf("bucket %d: ReadMarker = %+v, %v; want catalogue %d", i, m, err, winner)
				}
			}
		})
	}
}

// TestMarkerLocalFiles: a local bucket's marker is one file at the
// directory's root, whatever CreateMarker did (no temporary file stays),
// and one that is not a marker's JSON is ErrBadMarker.
func TestMarkerLocalFiles(t *testing.T) {
	dir := t.TempDir()
	b, err := storage.Open(t.Context(), "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, id := range []string{"first", "second"} {
		_ = b.CreateMarker(t.Context(), &storage.Marker{Catalog: id})
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 || entries[0].Name() != storage.MarkerKey {
		t.Errorf("bucket directory holds %v (%v), want only %s", entries, err, storage.MarkerKey)
	}
	data, err := os.ReadFile(filepath.Join(dir, storage.MarkerKey))
	if want := "{\"catalog\":\"first\"}\n"; err != nil || string(data) != want {
		t.Errorf("marker file %q (%v), want %q", data, err, want)
	}
	for _, bad := range []string{"", "{}", "not json"} {
		if err := os.WriteFile(filepath.Join(dir, storage.MarkerKey), []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if m, err := b.ReadMarker(t.Context()); !errors.Is(err, storage.ErrBadMarker) {
			t.Errorf("ReadMarker of %q = %+v, %v; want ErrBadMarker", bad, m, err)
		}
	}
}
