package filestore_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
)

// TestCloseOvertakesPut: a Put in flight when its Store is closed (here
// Close runs inside the extractor, after staging and before the commit)
// fails with ErrClosed and stores nothing, inline or in the bucket. Before,
// the error wrapped only the catalogue's own ("dedup: catalog closed").
func TestCloseOvertakesPut(t *testing.T) {
	ctx := context.Background()
	for _, size := range []int{100, 3 << 20} {
		dbURL, bucketURL := pairURLs(t, "sqlite", "file")
		ex := &hookExtractor{}
		st, err := filestore.Open(ctx, filestore.Options{Database: dbURL, Bucket: bucketURL, Extractor: ex, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		ex.hook = func() {
			if err := st.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
		if _, err := st.Put(ctx, "alice", "", "a.bin", bytes.NewReader(filestoretest.Content(1, size)), nil); !errors.Is(err, filestore.ErrClosed) {
			t.Errorf("%d bytes: Put overtaken by Close = %v, want ErrClosed", size, err)
		}
		again := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL})
		if p, err := again.List(ctx, "alice", &filestore.ListOptions{Recursive: true}); err != nil || len(p.Files) != 0 {
			t.Errorf("%d bytes: files after the overtaken Put: %v, %v; want none", size, p, err)
		}
		if _, err := again.Collect(ctx, &filestore.CollectOptions{StagingTTL: time.Nanosecond}); err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, dbURL, bucketURL, true)
	}
}
