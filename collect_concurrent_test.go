package filestore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
)

// TestConcurrentCollectsEmptyTheTrash: Collects run at once (several
// servers' GC ticks, or admin calls) list the same oldest trashed files and
// each purges the ones it wins; every run must still go on until the trash
// is done. 1100 trashed files, more than two of Collect's batches of 500,
// and four Collects at once: together they purge all 1100, each file once,
// and the trash and the objects are empty after. Before, a run stopped at
// the first batch in which it purged fewer than 500, and an operations
// audit saw four concurrent GCs leave 25485 of 26000 files in the trash.
func TestConcurrentCollectsEmptyTheTrash(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			st := openStore(t, db, "file", filestore.Options{})
			ctx := context.Background()
			const files = 1100
			ids := make(chan string, files)
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for i := w; i < files; i += 8 {
						f, err := st.Put(ctx, "alice", "", fmt.Sprintf("f%04d", i), strings.NewReader(fmt.Sprintf("content %d", i)), nil)
						if err != nil {
							t.Error(err)
							return
						}
						if err := st.Delete(ctx, "alice", f.ID); err != nil {
							t.Error(err)
							return
						}
						ids <- f.ID
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			results := make([]*filestore.CollectResult, 4)
			errs := make([]error, 4)
			for i := range results {
				wg.Go(func() {
					results[i], errs[i] = st.Collect(ctx, &filestore.CollectOptions{TrashRetention: time.Nanosecond})
				})
			}
			wg.Wait()
			purged := 0
			for i, r := range results {
				if errs[i] != nil {
					t.Fatalf("Collect %d: %v", i, errs[i])
				}
				purged += r.PurgedFiles
			}
			if purged != files {
				t.Errorf("the four Collects purged %d files in all, want %d (each once)", purged, files)
			}
			s, err := st.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if s.Files != 0 || s.Objects != 0 {
				t.Errorf("after the Collects: %d files, %d objects; want the trash empty and no object left", s.Files, s.Objects)
			}
		})
	}
}
