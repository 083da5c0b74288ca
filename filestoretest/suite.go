// Package filestoretest is the conformance suite that every filestore.Store
// configuration must pass, in the spirit of gocloud's blob/drivertest and
// testing/fstest: a backend's whole test is
//
//	filestoretest.Run(t, func(t *testing.T) filestore.Store { ... a fresh, empty store ... })
//
// The suite checks the sentences of the Store documentation: streaming
// content of awkward sizes with seeks, readers that fail, cancellation, size
// and digest limits, names, listing order and keyset pagination, the
// lifecycle (rename, move, trash, restore, purge, collect), deduplication
// across owners, isolation between owners, and a seeded random sequence
// of all of these checked step by step against a model (RunModel).
package filestoretest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/filestore-go/filestore"
)

// Harness returns a fresh, empty Store for one test; it arranges its own
// cleanup with t.Cleanup.
type Harness func(t *testing.T) filestore.Store

// Run runs the whole conformance suite against stores made by newStore.
func Run(t *testing.T, newStore Harness) {
	t.Run("Content", func(t *testing.T) { testContent(t, newStore) })
	t.Run("Readers", func(t *testing.T) { testReaders(t, newStore) })
	t.Run("Limits", func(t *testing.T) { testLimits(t, newStore) })
	t.Run("Names", func(t *testing.T) { testNames(t, newStore) })
	t.Run("Listing", func(t *testing.T) { testListing(t, newStore) })
	t.Run("Pagination", func(t *testing.T) { testPagination(t, newStore) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, newStore) })
	t.Run("Dedup", func(t *testing.T) { testDedup(t, newStore) })
	t.Run("DedupDeclaredSize", func(t *testing.T) { testDedupDeclaredSize(t, newStore) })
	t.Run("Isolation", func(t *testing.T) { testIsolation(t, newStore) })
	t.Run("Collect", func(t *testing.T) { testCollect(t, newStore) })
	t.Run("Cancelled", func(t *testing.T) { testCancelled(t, newStore) })
	t.Run("Model", func(t *testing.T) { RunModel(t, newStore(t), ModelOptions{Seed: 1}) })
}

// Content returns n deterministic pseudo-random bytes for seed.
func Content(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// mustPut stores data and fails t on error.
func mustPut(t *testing.T, st filestore.Store, owner, folder, name string, data []byte) *filestore.File {
	t.Helper()
	f, err := st.Put(context.Background(), owner, folder, name, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatalf("Put(%q, %q, %q): %v", owner, folder, name, err)
	}
	return f
}

// readAll reads owner's file id through Get and fails t on error.
func readAll(t *testing.T, st filestore.Store, owner, id string) []byte {
	t.Helper()
	_, rd, err := st.Get(context.Background(), owner, id)
	if err != nil {
		t.Fatalf("Get(%q, %s): %v", owner, id, err)
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatalf("reading %s: %v", id, err)
	}
	return b
}

// wantErr fails t unless errors.Is(err, want).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// stats reads the store's totals and fails t on error.
func stats(t *testing.T, st filestore.Store) filestore.Stats {
	t.Helper()
	s, err := st.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return *s
}

// listAll returns every file of owner that opts selects, following cursors.
func listAll(t *testing.T, st filestore.Store, owner string, opts filestore.ListOptions) []*filestore.File {
	t.Helper()
	var all []*filestore.File
	for range 10000 {
		p, err := st.List(context.Background(), owner, &opts)
		if err != nil {
			t.Fatalf("List(%q, %+v): %v", owner, opts, err)
		}
		all = append(all, p.Files...)
		if p.NextCursor == "" {
			return all
		}
		opts.Cursor = p.NextCursor
	}
	t.Fatalf("List(%q) did not end", owner)
	return nil
}
