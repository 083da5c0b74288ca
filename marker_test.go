package filestore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/internal/faults"
	"github.com/filestore-go/filestore/internal/redact"
	"github.com/filestore-go/filestore/storage"
	"github.com/uptrace/bun"
	"gocloud.dev/blob/memblob"
)

// TestBucketOfAnotherCatalogue opens a second catalogue (another database)
// on the bucket and prefix of a first one: Open refuses it with
// ErrBucketInUse, naming both catalogues, so that its garbage collection
// can never sweep the first one's committed objects (which have staging
// keys). Without the marker the second Store opened, and its Collect
// deleted the first one's object.
func TestBucketOfAnotherCatalogue(t *testing.T) {
	for _, kind := range []string{"file", "s3"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			dbA, bucket := pairURLs(t, "sqlite", kind)
			dbB, _ := pairURLs(t, "sqlite", "mem")
			a := openURLs(t, filestore.Options{Database: dbA, Bucket: bucket, InlineMax: -1})
			data := filestoretest.Content(1, 100<<10)
			f, err := a.Put(ctx, "alice", "", "a.bin", bytes.NewReader(data), nil)
			if err != nil {
				t.Fatalf("Put: %v", err)
			}

			b, err := filestore.Open(ctx, filestore.Options{Database: dbB, Bucket: bucket, Logger: quietLogger()})
			if err == nil {
				res, cerr := b.Collect(ctx, &filestore.CollectOptions{StagingTTL: time.Nanosecond})
				_ = b.Close()
				t.Errorf("Open of a second catalogue on the bucket: no error, want ErrBucketInUse; its Collect then removed %d staged keys (err %v)", res.RemovedStaging, cerr)
			} else {
				if !errors.Is(err, filestore.ErrBucketInUse) {
					t.Fatalf("Open of a second catalogue: %v, want ErrBucketInUse", err)
				}
				if b != nil {
					t.Errorf("Open returned a Store with its error")
				}
				want := fmt.Sprintf("filestore: bucket %s: filestore: bucket bound to another catalogue: "+
					"its marker \"filestore-catalog\" names catalogue %s, this database's is catalogue %s",
					redact.URL(bucket), markerCatalogue(t, bucket), catalogueID(t, dbB))
				if err.Error() != want {
					t.Errorf("error:\n%s\nwant:\n%s", err, want)
				}
			}

			if got := readAll(t, a, "alice", f.ID); !bytes.Equal(got, data) {
				t.Errorf("first catalogue's file: %d bytes, want its %d", len(got), len(data))
			}
		})
	}
}

// TestBucketOfSameCatalogue opens a second Store of the same catalogue on
// the bucket, as several servers on one PostgreSQL database do: it opens,
// and both read what either stored.
func TestBucketOfSameCatalogue(t *testing.T) {
	for _, kind := range []string{"file", "s3"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			db, bucket := pairURLs(t, "sqlite", kind)
			opts := filestore.Options{Database: db, Bucket: bucket, InlineMax: -1}
			a := openURLs(t, opts)
			b := openURLs(t, opts)
			data := filestoretest.Content(2, 70<<10)
			f, err := a.Put(ctx, "alice", "", "a.bin", bytes.NewReader(data), nil)
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if got := readAll(t, b, "alice", f.ID); !bytes.Equal(got, data) {
				t.Errorf("second Store read %d bytes, want %d", len(got), len(data))
			}
			res, err := b.Collect(ctx, &filestore.CollectOptions{StagingTTL: time.Nanosecond})
			if err != nil || res.RemovedStaging != 0 || res.RemovedObjects != 0 {
				t.Errorf("Collect = %+v, %v; want nothing removed", res, err)
			}
			if got := readAll(t, a, "alice", f.ID); !bytes.Equal(got, data) {
				t.Errorf("after Collect: %d bytes, want %d", len(got), len(data))
			}
		})
	}
}

// TestNewBucketOfAnotherCatalogue is the refusal through New, on a bucket
// the caller shares between two databases.
func TestNewBucketOfAnotherCatalogue(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	t.Cleanup(func() { _ = bucket.Close() })
	var stores []*filestore.Service
	var errs []error
	for _, name := range []string{"a.db", "b.db"} {
		db, err := dedup.OpenDB(ctx, "sqlite://"+filepath.Join(t.TempDir(), name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		st, err := filestore.New(ctx, db, bucket, filestore.Options{Logger: quietLogger()})
		if st != nil {
			t.Cleanup(func() { _ = st.Close() })
		}
		stores, errs = append(stores, st), append(errs, err)
	}
	if errs[0] != nil {
		t.Fatalf("New on an empty bucket: %v", errs[0])
	}
	if !errors.Is(errs[1], filestore.ErrBucketInUse) || stores[1] != nil {
		t.Errorf("New of a second catalogue: Store returned %t, error %v; want no Store, ErrBucketInUse", stores[1] != nil, errs[1])
	}
}

// catalogueID returns the id of the catalogue in the database at dbURL.
func catalogueID(t *testing.T, dbURL string) string {
	t.Helper()
	ctx := context.Background()
	db, err := dedup.OpenDB(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cat, err := dedup.New(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	return cat.ID()
}

// markerCatalogue returns the catalogue id in the marker of the bucket at
// rawURL.
func markerCatalogue(t *testing.T, rawURL string) string {
	t.Helper()
	b, err := storage.Open(context.Background(), rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m, err := b.ReadMarker(context.Background())
	if err != nil {
		t.Fatalf("ReadMarker: %v", err)
	}
	return m.Catalog
}

// openSQLite opens a fresh SQLite catalogue database for New.
func openSQLite(t *testing.T) *bun.DB {
	t.Helper()
	db, err := dedup.OpenDB(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "fs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestUnmarkedBucketOfAnotherCatalogue: a bucket without a marker (written
// by a build before markers) that holds objects is refused to a catalogue
// that has none, whose Collect would delete them, and adopted by one that
// has objects (the upgrade of its own deployment). Before, the first
// catalogue to open it claimed it, whichever it was.
func TestUnmarkedBucketOfAnotherCatalogue(t *testing.T) {
	ctx := context.Background()
	mem := memblob.OpenBucket(nil)
	t.Cleanup(func() { _ = mem.Close() })
	dbA := openSQLite(t)
	a, err := filestore.New(ctx, dbA, mem, filestore.Options{Logger: quietLogger(), InlineMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	data := filestoretest.Content(4, 100<<10)
	f, err := a.Put(ctx, "alice", "", "a.bin", bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := mem.Delete(ctx, storage.MarkerKey); err != nil { // as before markers
		t.Fatal(err)
	}

	b, err := filestore.New(ctx, openSQLite(t), mem, filestore.Options{Logger: quietLogger()})
	if !errors.Is(err, filestore.ErrBucketInUse) || b != nil {
		if b != nil {
			_ = b.Close()
		}
		t.Fatalf("New of an empty catalogue on an unmarked bucket with objects: %v, want ErrBucketInUse", err)
	}
	if ok, _ := mem.Exists(ctx, storage.MarkerKey); ok {
		t.Error("the refused catalogue wrote a marker")
	}

	a, err = filestore.New(ctx, dbA, mem, filestore.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("New of the catalogue with objects on its unmarked bucket: %v", err)
	}
	defer a.Close()
	if got := readAll(t, a, "alice", f.ID); !bytes.Equal(got, data) {
		t.Errorf("file after adoption: %d bytes, want %d", len(got), len(data))
	}
	if ok, _ := mem.Exists(ctx, storage.MarkerKey); !ok {
		t.Error("no marker after adoption")
	}
}

// TestOpenWithBucketUnreachable: a bucket that cannot be asked when the
// Store opens (down, or no access yet) does not stop it, as before markers:
// Ping reports it unavailable and Collect refuses to sweep until the
// marker has been checked; once the bucket answers, both claim it.
func TestOpenWithBucketUnreachable(t *testing.T) {
	ctx := context.Background()
	mem := memblob.OpenBucket(nil)
	t.Cleanup(func() { _ = mem.Close() })
	in := faults.New()
	in.Arm(faults.Rule{Op: faults.OpNewReader, Match: func(key string) bool { return key == storage.MarkerKey }, Times: faults.Forever})
	st, err := filestore.New(ctx, openSQLite(t), faults.OpenBucket(mem, in), filestore.Options{Logger: quietLogger(), RetryAttempts: 1})
	if err != nil {
		t.Fatalf("New with the bucket unreachable: %v, want a Store", err)
	}
	defer st.Close()
	if err := st.Ping(ctx); !errors.Is(err, filestore.ErrUnavailable) {
		t.Errorf("Ping before the marker is checked: %v, want ErrUnavailable", err)
	}
	if res, err := st.Collect(ctx, &filestore.CollectOptions{StagingTTL: time.Nanosecond}); !errors.Is(err, filestore.ErrUnavailable) {
		t.Errorf("Collect before the marker is checked = %+v, %v; want ErrUnavailable", res, err)
	}
	if ok, _ := mem.Exists(ctx, storage.MarkerKey); ok {
		t.Error("a marker was written although the bucket could not be read")
	}
	in.Disarm()
	if err := st.Ping(ctx); err != nil {
		t.Errorf("Ping once the bucket answers: %v", err)
	}
	if _, err := st.Collect(ctx, nil); err != nil {
		t.Errorf("Collect once the bucket answers: %v", err)
	}
	if ok, _ := mem.Exists(ctx, storage.MarkerKey); !ok {
		t.Error("no marker once the bucket answers")
	}
}

// TestBucketWithoutConditionalWrites opens Stores on an S3-compatible
// server that answers conditional writes with 501 Not Implemented: the
// first catalogue claims the bucket (Ping succeeds, a file reads back),
// and a second catalogue is still refused with ErrBucketInUse. Before, the
// 501 left the bucket unclaimed for good: Ping answered ErrUnavailable and
// Collect swept nothing.
func TestBucketWithoutConditionalWrites(t *testing.T) {
	ctx := context.Background()
	dbA, bucket := pairURLs(t, "sqlite", "s3")
	dbB, _ := pairURLs(t, "sqlite", "mem")
	proxy, viaProxy, err := faults.ProxyBucket(bucket, func(r *http.Request) (int, string) {
		if r.Method == http.MethodPut && r.Header.Get("If-None-Match") != "" {
			return http.StatusNotImplemented, "NotImplemented"
		}
		return 0, ""
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)

	a := openURLs(t, filestore.Options{Database: dbA, Bucket: viaProxy, InlineMax: -1})
	if err := a.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v, want nil (the bucket claimed)", err)
	}
	if proxy.Refused() == 0 {
		t.Fatal("no conditional write reached the proxy")
	}
	data := filestoretest.Content(2, 100<<10)
	f, err := a.Put(ctx, "alice", "", "a.bin", bytes.NewReader(data), nil)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got := markerCatalogue(t, bucket); got != catalogueID(t, dbA) {
		t.Errorf("marker names %s, want the first catalogue %s", got, catalogueID(t, dbA))
	}

	b, err := filestore.Open(ctx, filestore.Options{Database: dbB, Bucket: viaProxy, Logger: quietLogger()})
	if !errors.Is(err, filestore.ErrBucketInUse) {
		if err == nil {
			_ = b.Close()
		}
		t.Fatalf("Open of a second catalogue: %v, want ErrBucketInUse", err)
	}
	if got := readAll(t, a, "alice", f.ID); !bytes.Equal(got, data) {
		t.Errorf("first catalogue's file: %d bytes, want its %d", len(got), len(data))
	}
}

// TestPutIntoUnclaimedBucket: a Store whose bucket could not be asked at
// Open stores nothing until its marker has been checked (ErrUnavailable),
// and nothing at all when the marker names another catalogue
// (ErrBucketInUse). Before, Put wrote into such a bucket and acknowledged
// the file, whose object the bucket's own catalogue's Collect then deleted
// as an abandoned upload (found by the crash review: "acknowledged upload
// lost").
func TestPutIntoUnclaimedBucket(t *testing.T) {
	ctx := context.Background()
	mem := memblob.OpenBucket(nil)
	t.Cleanup(func() { _ = mem.Close() })
	if err := mem.WriteAll(ctx, storage.MarkerKey, []byte(`{"catalog":"another"}`+"\n"), nil); err != nil {
		t.Fatal(err)
	}
	in := faults.New()
	in.Arm(faults.Rule{Op: faults.OpNewReader, Match: func(key string) bool { return key == storage.MarkerKey }, Times: faults.Forever})
	st, err := filestore.New(ctx, openSQLite(t), faults.OpenBucket(mem, in), filestore.Options{Logger: quietLogger(), RetryAttempts: 1, InlineMax: -1})
	if err != nil {
		t.Fatalf("New with the bucket unreachable: %v, want a Store", err)
	}
	defer st.Close()
	data := filestoretest.Content(3, 200<<10)
	if f, err := st.Put(ctx, "alice", "", "a.bin", bytes.NewReader(data), nil); !errors.Is(err, filestore.ErrUnavailable) {
		t.Errorf("Put before the marker is checked = %+v, %v; want ErrUnavailable", f, err)
	}
	in.Disarm()
	if f, err := st.Put(ctx, "alice", "", "a.bin", bytes.NewReader(data), nil); !errors.Is(err, filestore.ErrBucketInUse) {
		t.Errorf("Put into another catalogue's bucket = %+v, %v; want ErrBucketInUse", f, err)
	}
	var keys []string
	iter := mem.List(nil)
	for {
		obj, err := iter.Next(ctx)
		if err != nil {
			break
		}
		keys = append(keys, obj.Key)
	}
	if len(keys) != 1 || keys[0] != storage.MarkerKey {
		t.Errorf("bucket keys %q, want only the marker", keys)
	}
}

// TestUnmarkedBucketWithCrashLeftovers: a file:// bucket from before
// markers that holds only what a killed writer left (a ".tmp" file) is
// adopted by a catalogue with no objects, which writes its marker, and
// Collect then removes the leftover. Before, the leftover counted as
// another catalogue's object: the upgrade of a deployment whose last
// upload was killed mid-body was refused with ErrBucketInUse.
func TestUnmarkedBucketWithCrashLeftovers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	leftover := filepath.Join(dir, "blobs", "o", "2f", "2f860000000000000000000000000000-t86400000.18ecdcf835be1960.tmp")
	if err := os.MkdirAll(filepath.Dir(leftover), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(leftover, []byte("half an upload"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := openURLs(t, filestore.Options{Database: "sqlite://" + filepath.Join(dir, "filestore.db"), Bucket: "file://" + filepath.Join(dir, "blobs")})
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs", storage.MarkerKey)); err != nil {
		t.Errorf("no marker after adoption: %v", err)
	}
	res, err := st.Collect(ctx, &filestore.CollectOptions{StagingTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover after Collect (%+v): %v, want it removed", res, err)
	}
}
