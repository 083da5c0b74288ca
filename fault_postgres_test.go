package filestore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/internal/faults"
)

// TestFaultPostgresRestart: four goroutines upload to a Store on a private
// PostgreSQL cluster, which is stopped in the middle of the uploads, first
// immediate (every backend quits at once; the restart runs crash recovery),
// then fast (transactions rolled back, connections closed), and restarted
// each time on the same port and data directory. Uploads during an outage
// either fail with ErrUnavailable or succeed after retries; every
// acknowledged upload is readable afterwards, and once Collect has run the
// catalogue and bucket satisfy the invariants.
func TestFaultPostgresRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and restarts a private PostgreSQL; skipped in -short mode")
	}
	pg := faults.NewPostgresServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()
	dbURL := pg.URL()
	bucketURL := "file://" + filepath.Join(t.TempDir(), "blobs")
	st := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL,
		RetryAttempts: 6, RetryBaseDelay: 20 * time.Millisecond, RetryMaxDelay: 300 * time.Millisecond})

	var contents [][]byte
	for i, size := range []int{0, 100, 70 << 10, 1 << 20, 3000} {
		contents = append(contents, filestoretest.Content(uint64(200+i), size))
	}
	l := startLoad(ctx, st, 4, contents)
	for round, immediate := range []bool{true, false} {
		a0, _ := l.counts()
		l.waitFor(t, "uploads before the outage", 20*time.Second, func(a, _ int) bool { return a >= a0+8 })
		if err := pg.Stop(immediate); err != nil {
			t.Fatal(err)
		}
		// The cluster stays down until an upload has given up (its retries
		// span about a second); others are still retrying when it comes back.
		_, f1 := l.counts()
		l.waitFor(t, "an upload to fail during the outage", 20*time.Second, func(_, f int) bool { return f > f1 })
		if err := pg.Start(ctx); err != nil {
			t.Fatal(err)
		}
		a, f := l.counts()
		t.Logf("round %d (immediate %v): restarted after %d acknowledged, %d failed uploads", round, immediate, a, f)
	}
	a0, _ := l.counts()
	l.waitFor(t, "uploads after the restarts", 20*time.Second, func(a, _ int) bool { return a >= a0+8 })
	l.finish()
	acked, failed := l.counts()
	l.check(t)

	res, err := st.Collect(ctx, &filestore.CollectOptions{StagingTTL: time.Nanosecond})
	if err != nil {
		t.Fatalf("Collect after the restarts: %v", err)
	}
	checkInvariants(t, dbURL, bucketURL, true)
	t.Logf("%d uploads acknowledged and read back, %d failed with ErrUnavailable; Collect removed %+v", acked, failed, *res)
}
