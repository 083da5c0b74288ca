package filestore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/storage"
)

// hookExtractor runs hook once, inside the first Extract: after the upload's
// bytes are staged, before its commit.
type hookExtractor struct{ hook func() }

func (h *hookExtractor) Extract(context.Context, *filestore.MetaInput) (*filestore.Metadata, error) {
	if f := h.hook; f != nil {
		h.hook = nil
		f()
	}
	return &filestore.Metadata{ContentType: "application/octet-stream"}, nil
}

// TestCollectKeepsUploaderTTL: a Store whose StagingTTL is shorter than an
// uploading Store's (one minute against the default day, on one catalogue
// and bucket) collects while the upload is staged and not yet committed,
// with a clock an hour ahead. Before, it removed the staged bytes, and the
// Put then committed a file without content (invariant 6). Now the staged
// key carries the uploader's TTL and the collector waits for it. Keys a
// crash left are still removed: one with the uploader's TTL once older than
// it, one of an older build (no TTL in the key) by the collector's TTL, and
// any with CollectOptions.StagingTTL.
func TestCollectKeepsUploaderTTL(t *testing.T) {
	for _, pair := range [][2]string{{"sqlite", "file"}, {"postgres", "s3"}} {
		t.Run(pair[0]+"/"+pair[1], func(t *testing.T) {
			ctx := context.Background()
			dbURL, bucketURL := pairURLs(t, pair[0], pair[1])
			ex := &hookExtractor{}
			up := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL, Extractor: ex})
			collector := func(ahead time.Duration) *filestore.Service {
				return openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL, StagingTTL: time.Minute,
					Now: func() time.Time { return time.Now().Add(ahead) }})
			}
			hourAhead := collector(time.Hour)

			var during *filestore.CollectResult
			ex.hook = func() {
				var err error
				if during, err = hourAhead.Collect(ctx, nil); err != nil {
					t.Errorf("Collect during the upload: %v", err)
				}
			}
			data := filestoretest.Content(5, 6<<20) // in the bucket; on S3 a multipart upload
			f, err := up.Put(ctx, "alice", "", "big.bin", bytes.NewReader(data), nil)
			if err != nil {
				t.Fatal(err)
			}
			if during == nil || during.RemovedStaging != 0 {
				t.Errorf("Collect during the upload: %+v, want nothing removed", during)
			}
			_, rc, err := up.Get(ctx, "alice", f.ID)
			if err != nil {
				t.Fatalf("Get of the file Put returned: %v", err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("content read back: %d bytes, %v; want the %d uploaded", len(got), err, len(data))
			}

			// What crashes left: staged bytes with no row.
			b, err := storage.Open(ctx, bucketURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			leave := func(key string) {
				w, err := b.NewWriter(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Write([]byte("left by a crash")); err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
			}
			withTTL, withoutTTL := b.NewKey()+"-t86400000", b.NewKey()
			leave(withTTL)
			leave(withoutTTL)
			keys := func() []string {
				var ks []string
				if err := b.List(ctx, func(k string, _ time.Time, _ int64) error { ks = append(ks, k); return nil }); err != nil {
					t.Fatal(err)
				}
				sort.Strings(ks)
				return ks
			}
			want := func(ks ...string) []string { sort.Strings(ks); return ks }
			all := keys() // the file's object and the two leftovers
			if len(all) != 3 {
				t.Fatalf("keys %v, want the file's object and 2 leftovers", all)
			}
			var object string
			for _, k := range all {
				if k != withTTL && k != withoutTTL {
					object = k
				}
			}
			steps := []struct {
				name    string
				st      *filestore.Service
				opts    *filestore.CollectOptions
				removed int
				left    []string
			}{
				{"an hour ahead, TTL one minute", hourAhead, nil, 1, want(object, withTTL)},
				{"23 hours ahead", collector(23 * time.Hour), nil, 0, want(object, withTTL)},
				{"25 hours ahead", collector(25 * time.Hour), nil, 1, want(object)},
			}
			for _, s := range steps {
				res, err := s.st.Collect(ctx, s.opts)
				if err != nil || res.RemovedStaging != s.removed {
					t.Errorf("%s: Collect = %+v, %v; want %d staged removed", s.name, res, err, s.removed)
				}
				if diff := cmp.Diff(s.left, keys()); diff != "" {
					t.Errorf("%s: keys left (-want +got):\n%s", s.name, diff)
				}
			}
			checkInvariants(t, dbURL, bucketURL, true)

			// The override removes a key with a TTL at once.
			leave(withTTL)
			res, err := hourAhead.Collect(ctx, &filestore.CollectOptions{StagingTTL: time.Minute})
			if err != nil || res.RemovedStaging != 1 {
				t.Errorf("Collect with CollectOptions.StagingTTL: %+v, %v; want 1 staged removed", res, err)
			}
			if diff := cmp.Diff(want(object), keys()); diff != "" {
				t.Errorf("after the override: keys left (-want +got):\n%s", diff)
			}
		})
	}
}

// atReader reads r and, once, when n bytes have been read, calls at before
// reading on.
type atReader struct {
	r    io.Reader
	n    int64
	at   func()
	read int64
}

func (a *atReader) Read(p []byte) (int, error) {
	if a.at != nil && a.read >= a.n {
		f := a.at
		a.at = nil
		f()
	}
	if a.at != nil {
		p = p[:min(int64(len(p)), a.n-a.read)]
	}
	n, err := a.r.Read(p)
	a.read += int64(n)
	return n, err
}

// TestPutStagingRemovedMidUpload: Collect runs while an upload is still
// being staged, with a clock two days ahead, so that the upload is older
// than any staging TTL: it removes the local writer's temporary file. The
// Put then fails with ErrStagingExpired (and ErrUnavailable: send it
// again), and nothing is left behind. Before, the error carried no
// sentinel (HTTP 500) and said that the bucket did not exist. (On S3 the
// aborted multipart upload fails the writer with storage.ErrUploadGone,
// translated the same way: see storage's TestS3WriterUploadAborted. The
// test server, versitygw, answers a part in flight at the abort with a
// 500 at completion instead of S3's NoSuchUpload, so S3 is not run here.)
func TestPutStagingRemovedMidUpload(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			ctx := context.Background()
			dbURL, bucketURL := pairURLs(t, db, "file")
			up := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL})
			ahead := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL,
				Now: func() time.Time { return time.Now().Add(48 * time.Hour) }})
			var during *filestore.CollectResult
			// At 8 MiB read, the temporary file holds most of it.
			r := &atReader{r: bytes.NewReader(filestoretest.Content(9, 12<<20)), n: 8 << 20, at: func() {
				var err error
				if during, err = ahead.Collect(ctx, nil); err != nil {
					t.Errorf("Collect during the upload: %v", err)
				}
			}}
			_, err := up.Put(ctx, "alice", "", "slow.bin", r, nil)
			if !errors.Is(err, filestore.ErrStagingExpired) || !errors.Is(err, filestore.ErrUnavailable) {
				t.Errorf("Put whose staged bytes were removed: %v; want ErrStagingExpired and ErrUnavailable", err)
			}
			if want := (&filestore.CollectResult{RemovedStaging: 1}); !cmp.Equal(during, want) {
				t.Errorf("Collect during the upload: %+v, want %+v", during, want)
			}
			if s := stats(t, up); s.Files != 0 {
				t.Errorf("Stats %+v after the failed Put, want no file", s)
			}
			checkInvariants(t, dbURL, bucketURL, true)
		})
	}
}
