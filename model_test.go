package filestore_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
)

// TestModel runs random operation sequences against a model of the
// Store (filestoretest.RunModel; the conformance suite runs seed 1 on
// every pairing) for more seeds on two pairings, with contents inline
// and not, and then checks the invariants in the catalogue and the
// bucket themselves after a Collect: ref_count exact, no object without
// a reference, no bytes without an object; and four sequences at once
// on each pairing. FILESTORE_MODEL_SEEDS=n runs n seeds instead of 3
// (and n/3 of the concurrent runs instead of 1), to explore further.
func TestModel(t *testing.T) {
	seeds := 3
	if v := os.Getenv("FILESTORE_MODEL_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("FILESTORE_MODEL_SEEDS=%q: want a positive number", v)
		}
		seeds = n
	}
	for _, pair := range [][2]string{{"sqlite", "file"}, {"postgres", "s3"}} {
		for _, inlineMax := range []int64{0, -1} {
			if testing.Short() {
				break // the concurrent runs below are the race detector's
			}
			for seed := uint64(2); seed < uint64(2+seeds); seed++ {
				t.Run(fmt.Sprintf("%s/%s/inline-max=%d/seed=%d", pair[0], pair[1], inlineMax, seed), func(t *testing.T) {
					runModel(t, pair, inlineMax, filestoretest.ModelOptions{Seed: seed})
				})
			}
		}
		// Sequences on owners of their own at once: the same contents
		// uploaded, purged and collected concurrently.
		for seed := uint64(100); seed < uint64(100+max(1, seeds/3)); seed++ {
			t.Run(fmt.Sprintf("%s/%s/concurrent/seed=%d", pair[0], pair[1], seed), func(t *testing.T) {
				runModel(t, pair, 0, filestoretest.ModelOptions{Seed: seed, Workers: 4})
			})
		}
	}
}

// runModel runs the model on a fresh store of pair (database, bucket)
// with inlineMax, then collects and checks the invariants.
func runModel(t *testing.T, pair [2]string, inlineMax int64, opts filestoretest.ModelOptions) {
	t.Helper()
	dbURL, bucketURL := pairURLs(t, pair[0], pair[1])
	st := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL, InlineMax: inlineMax})
	filestoretest.RunModel(t, st, opts)
	if _, err := st.Collect(context.Background(), nil); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	checkInvariants(t, dbURL, bucketURL, true)
}
