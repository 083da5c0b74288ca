package filestore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
)

// TestConcurrentDedupAndCollect: 16 goroutines upload a few contents over
// and over through two Stores with separate connection pools (as two
// processes would) while others trash, restore, purge and collect. Every
// acknowledged and not purged upload must stay readable byte for byte, and
// afterwards the catalogue and bucket must satisfy the invariants.
func TestConcurrentDedupAndCollect(t *testing.T) {
	for _, pair := range []struct{ db, bucket string }{{"sqlite", "file"}, {"postgres", "s3"}, {"postgres", "file"}} {
		t.Run(pair.db+"/"+pair.bucket, func(t *testing.T) {
			dbURL, bucketURL := pairURLs(t, pair.db, pair.bucket)
			opts := filestore.Options{Database: dbURL, Bucket: bucketURL, RetryAttempts: 10}
			stores := []*filestore.Service{openURLs(t, opts), openURLs(t, opts)}
			runConcurrency(t, stores)
			// Quiescent now: collect everything a crash or race could leave.
			if _, err := stores[0].Collect(context.Background(), &filestore.CollectOptions{StagingTTL: time.Nanosecond}); err != nil {
				t.Fatalf("final Collect: %v", err)
			}
			checkInvariants(t, dbURL, bucketURL, true)
		})
	}
}

type upload struct {
	owner, id string
	content   int
}

func runConcurrency(t *testing.T, stores []*filestore.Service) {
	ctx := context.Background()
	// Few references per content, so objects often lose their last one
	// while another upload of the same content is on its way.
	var contents [][]byte
	for i, size := range []int{40000, 300 << 10, 1, 0, 5000, 70000, 1 << 20, 123} {
		contents = append(contents, filestoretest.Content(uint64(i+1), size))
	}
	owners := []string{"alice", "bob", "carol"}
	var (
		mu        sync.Mutex
		acked     []upload
		purged    = map[string]bool{}
		collected filestore.CollectResult
	)
	pick := func(r *rand.Rand) (upload, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) == 0 {
			return upload{}, false
		}
		return acked[r.IntN(len(acked))], true
	}
	errc := make(chan error, 64)
	acks := make(chan struct{}, 16*12)
	uploadsDone := make(chan struct{})
	var wg, uploaders sync.WaitGroup
	for g := range 16 {
		uploaders.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			st := stores[g%2]
			for i := range 12 {
				c := r.IntN(len(contents))
				owner := owners[r.IntN(len(owners))]
				f, err := st.Put(ctx, owner, "up", fmt.Sprintf("g%d-%d", g, i), bytes.NewReader(contents[c]), nil)
				if err != nil {
					errc <- fmt.Errorf("Put: %w", err)
					return
				}
				mu.Lock()
				acked = append(acked, upload{owner, f.ID, c})
				mu.Unlock()
				acks <- struct{}{}
			}
		})
	}
	go func() { uploaders.Wait(); close(uploadsDone); close(acks) }()
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 2))
			st := stores[g%2]
			// One operation per acknowledged upload, while uploads go on.
			for range acks {
				u, _ := pick(r)
				var err error
				switch r.IntN(4) {
				case 0:
					err = st.Delete(ctx, u.owner, u.id)
				case 1:
					_, err = st.Restore(ctx, u.owner, u.id)
				default:
					err = st.Purge(ctx, u.owner, u.id)
					mu.Lock()
					if err == nil {
						purged[u.id] = true
					}
					mu.Unlock()
				}
				if err != nil && !errors.Is(err, filestore.ErrNotFound) {
					errc <- fmt.Errorf("lifecycle: %w", err)
					return
				}
			}
		})
	}
	for g := range 2 {
		wg.Go(func() {
			for {
				select {
				case <-uploadsDone:
					return
				default:
				}
				// Trash of any age is purged; staging keeps its TTL, which
				// protects uploads in flight.
				res, err := stores[g].Collect(ctx, &filestore.CollectOptions{TrashRetention: time.Nanosecond})
				if err != nil {
					errc <- fmt.Errorf("Collect: %w", err)
					return
				}
				mu.Lock()
				collected.PurgedFiles += res.PurgedFiles
				collected.RemovedObjects += res.RemovedObjects
				mu.Unlock()
			}
		})
	}
	uploaders.Wait()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	// Every acknowledged upload is either purged (by a purge or by Collect
	// after a trash) or readable byte for byte through either store.
	readable := 0
	for i, u := range acked {
		st := stores[i%2]
		f, err := st.Stat(ctx, u.owner, u.id)
		if errors.Is(err, filestore.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("Stat %s: %v", u.id, err)
		}
		if purged[u.id] {
			t.Errorf("purged file %s still exists", u.id)
		}
		if f.DeletedAt != nil {
			if _, err := st.Restore(ctx, u.owner, u.id); err != nil {
				t.Fatalf("Restore %s: %v", u.id, err)
			}
		}
		_, rd, err := st.Get(ctx, u.owner, u.id)
		if err != nil {
			t.Fatalf("Get %s: %v", u.id, err)
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(rd)
		rd.Close()
		if err != nil || !bytes.Equal(buf.Bytes(), contents[u.content]) {
			t.Fatalf("file %s: read %d bytes (%v), want content %d", u.id, buf.Len(), err, u.content)
		}
		readable++
	}
	t.Logf("%d uploads acknowledged, %d purged explicitly, %d readable at the end; concurrent Collects purged %d trashed files and removed %d objects",
		len(acked), len(purged), readable, collected.PurgedFiles, collected.RemovedObjects)
	if len(purged) == 0 {
		t.Errorf("the run exercised no purge; the test proves nothing")
	}
	if len(acked) != 16*12 {
		t.Fatalf("%d uploads acknowledged, want %d", len(acked), 16*12)
	}
}

// TestConcurrentOverwrite: uploads to one path with Overwrite, from two
// Stores with separate connection pools, all succeed whatever their
// interleaving; one of them is the live file and every other one is in the
// trash. Half of them declare the digest of content already stored (the
// commit of an existing object), half send new content.
func TestConcurrentOverwrite(t *testing.T) {
	for _, pair := range []struct{ db, bucket string }{{"sqlite", "file"}, {"postgres", "file"}} {
		t.Run(pair.db+"/"+pair.bucket, func(t *testing.T) {
			ctx := context.Background()
			dbURL, bucketURL := pairURLs(t, pair.db, pair.bucket)
			opts := filestore.Options{Database: dbURL, Bucket: bucketURL, InlineMax: -1}
			stores := []*filestore.Service{openURLs(t, opts), openURLs(t, opts)}
			stored := filestoretest.Content(99, 3000)
			if _, err := stores[0].Put(ctx, "alice", "", "other", bytes.NewReader(stored), nil); err != nil {
				t.Fatal(err)
			}
			digest := fmt.Sprintf("%x", sha256.Sum256(stored))
			const n = 12
			ids := make([]string, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					content, o := filestoretest.Content(uint64(i+1), 2000+i), &filestore.PutOptions{Overwrite: true}
					if i%2 == 1 {
						content, o.SHA256 = stored, digest
					}
					f, err := stores[i%2].Put(ctx, "alice", "", "same.txt", bytes.NewReader(content), o)
					if err == nil {
						ids[i] = f.ID
					}
					errs[i] = err
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("upload %d with Overwrite: %v", i, err)
				}
			}
			names := func(trash bool) map[string]string {
				page, err := stores[0].List(ctx, "alice", &filestore.ListOptions{Trash: trash, Limit: 1000})
				if err != nil {
					t.Fatal(err)
				}
				m := map[string]string{}
				for _, f := range page.Files {
					m[f.ID] = f.Name
				}
				return m
			}
			live, trashed := names(false), names(true)
			var liveAtPath []string
			for id, name := range live {
				if name == "same.txt" {
					liveAtPath = append(liveAtPath, id)
				}
			}
			if len(liveAtPath) != 1 || len(live) != 2 {
				t.Fatalf("live files %v, want \"other\" and one same.txt", live)
			}
			for _, id := range ids {
				if id == liveAtPath[0] {
					continue
				}
				if trashed[id] != "same.txt" {
					t.Errorf("upload %s is neither the live file nor in the trash (trash: %v)", id, trashed)
				}
			}
			if len(trashed) != n-1 {
				t.Errorf("%d files in the trash, want %d", len(trashed), n-1)
			}
			checkInvariants(t, dbURL, bucketURL, false)
		})
	}
}
