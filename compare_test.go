package filestore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/internal/faults"
	"github.com/google/go-cmp/cmp"
)

// flipped returns a copy of b with the byte at i changed.
func flipped(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0xff
	return c
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestPutComparesStoredContent: an upload without a digest whose size is
// declared (PutOptions.Size) and which is content already stored writes
// nothing to the bucket; every upload that differs from the stored content
// anywhere, or has another length, is stored whole and reads back byte for
// byte, and nothing is left behind.
func TestPutComparesStoredContent(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			env := newFaultEnv(t, db, 3)
			ctx := context.Background()
			const size = 3 << 20
			data := filestoretest.Content(81, size)
			first, err := env.st.Put(ctx, "alice", "", "first.bin", bytes.NewReader(data), nil)
			if err != nil {
				t.Fatal(err)
			}
			env.in.Reset()
			same, err := env.st.Put(ctx, "alice", "", "same.bin", bytes.NewReader(data), &filestore.PutOptions{Size: size})
			if err != nil {
				t.Fatalf("Put of stored content with its size: %v", err)
			}
			if n := env.in.Calls(faults.OpNewWriter); n != 0 {
				t.Errorf("Put opened %d bucket writers for content already stored, want 0", n)
			}
			if same.SHA256 != first.SHA256 || same.Size != size {
				t.Errorf("file %+v, want the first's content", same)
			}
			// Content only another owner has is staged like new content,
			// then shares the object.
			env.in.Reset()
			theirs, err := env.st.Put(ctx, "bob", "", "theirs.bin", bytes.NewReader(data), &filestore.PutOptions{Size: size})
			if err != nil {
				t.Fatalf("Put of another owner's content with its size: %v", err)
			}
			if n, r := env.in.Calls(faults.OpNewWriter), env.in.Calls(faults.OpNewReader); n != 1 || r != 0 {
				t.Errorf("Put of content only another owner has: %d bucket writers and %d readers, want 1 and 0", n, r)
			}
			if theirs.SHA256 != first.SHA256 {
				t.Errorf("file %+v, want the first's content", theirs)
			}

			longer := append(bytes.Clone(data), "tail"...)
			for _, tc := range []struct {
				name string
				body []byte
			}{
				{"differs in its first byte", flipped(data, 0)},
				{"differs in the middle of a chunk", flipped(data, size/2+5)},
				{"differs in its last byte", flipped(data, size-1)},
				{"is a prefix of it", data[:size-1000]},
				{"is longer", longer},
				{"is other content", filestoretest.Content(82, size)},
				{"is empty", []byte{}},
			} {
				env.in.Reset()
				f, err := env.st.Put(ctx, "alice", "", tc.name, bytes.NewReader(tc.body), &filestore.PutOptions{Size: size})
				if err != nil {
					t.Fatalf("%s: Put: %v", tc.name, err)
				}
				if n := env.in.Calls(faults.OpNewWriter); n != 1 {
					t.Errorf("%s: %d bucket writers, want 1", tc.name, n)
				}
				if f.SHA256 != hexSum(tc.body) || f.Size != int64(len(tc.body)) {
					t.Errorf("%s: file %s of %d bytes, want %s of %d", tc.name, f.SHA256, f.Size, hexSum(tc.body), len(tc.body))
				}
				if got := readAll(t, env.st, "alice", f.ID); !bytes.Equal(got, tc.body) {
					t.Errorf("%s: reads back %d bytes that differ from the %d uploaded", tc.name, len(got), len(tc.body))
				}
			}
			if s := stats(t, env.st); s.Files != 10 || s.Objects != 8 {
				t.Errorf("Stats %+v, want 10 files of 8 objects", s)
			}
			if _, err := env.st.Collect(ctx, &filestore.CollectOptions{StagingTTL: 1}); err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, env.dbURL, env.bucketURL, true)
		})
	}
}

// TestPutCompareReadFaults: the stored copy failing to read while an upload
// is compared with it is a difference, not an error, as long as the bytes
// that matched can be read again to stage them; when they cannot, Put fails
// with ErrUnavailable and stores nothing.
func TestPutCompareReadFaults(t *testing.T) {
	env := newFaultEnv(t, "sqlite", 3)
	ctx := context.Background()
	const size = 2 << 20
	data := filestoretest.Content(91, size)
	if _, err := env.st.Put(ctx, "alice", "", "first.bin", bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	body := flipped(data, size-1)
	reads := func(string) bool { return true }

	// The stored copy is read three times: its first chunk (which picks
	// it), in step with the upload, and again from its start to stage
	// what matched once the upload differs. The second read fails after
	// 1 MiB.
	env.in.Reset()
	env.in.Arm(faults.Rule{Op: faults.OpRead, Match: reads, Skip: 1, After: 1 << 20})
	f, err := env.st.Put(ctx, "alice", "", "once.bin", bytes.NewReader(body), &filestore.PutOptions{Size: size})
	if err != nil {
		t.Fatalf("Put with the stored copy failing once: %v", err)
	}
	if n := env.in.Fired(faults.OpRead); n != 1 {
		t.Errorf("%d reads failed, want 1", n)
	}
	if got := readAll(t, env.st, "alice", f.ID); !bytes.Equal(got, body) {
		t.Errorf("reads back %d bytes that differ from the upload", len(got))
	}

	keys := bucketKeys(t, env.bucketURL)
	env.in.Reset()
	// The second read fails after 1 MiB, and every read after it.
	env.in.Arm(faults.Rule{Op: faults.OpRead, Match: reads, Skip: 1, After: 1 << 20})
	env.in.Arm(faults.Rule{Op: faults.OpRead, Match: reads, Skip: 1, Times: faults.Forever})
	_, err = env.st.Put(ctx, "alice", "", "never.bin", bytes.NewReader(flipped(data, size-2)), &filestore.PutOptions{Size: size})
	if !errors.Is(err, filestore.ErrUnavailable) {
		t.Fatalf("Put with the stored copy unreadable: %v, want ErrUnavailable", err)
	}
	if n := env.in.Fired(faults.OpRead); n < 2 {
		t.Errorf("%d reads failed, want the comparison's and the reread's", n)
	}
	env.in.Disarm()
	if got := bucketKeys(t, env.bucketURL); got != keys {
		t.Errorf("%d bucket keys after the failed Put, want %d", got, keys)
	}
	if s := stats(t, env.st); s.Files != 2 {
		t.Errorf("Stats %+v, want 2 files", s)
	}
	checkInvariants(t, env.dbURL, env.bucketURL, false)
}

// TestPutCompareStoredCopyDeleted: on a local bucket the stored copy stays
// readable through the file the comparison opened, so an upload still
// succeeds if the stored copy is purged and collected while it arrives
// despite its pin (cleared here, as if it had expired: see dropPins):
// one that differs late is staged whole, and one that is that very content
// (whose commit then finds the object gone) is staged from the open file.
func TestPutCompareStoredCopyDeleted(t *testing.T) {
	const size = 3 << 20
	data := filestoretest.Content(101, size)
	for _, tc := range []struct {
		name  string
		body  []byte
		split int // bytes sent before the stored copy goes away
	}{
		{"differs late", flipped(data, size-10), 2 << 20},
		{"is the stored content", data, size},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			st, err := filestore.Open(ctx, filestore.Options{
				Database: "sqlite://" + filepath.Join(dir, "filestore.db"), Bucket: "file://" + filepath.Join(dir, "blobs"),
				Logger: quietLogger(),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			old, err := st.Put(ctx, "alice", "", "old.bin", bytes.NewReader(data), nil)
			if err != nil {
				t.Fatal(err)
			}
			pr, pw := io.Pipe()
			type result struct {
				f   *filestore.File
				err error
			}
			done := make(chan result, 1)
			go func() {
				f, err := st.Put(ctx, "alice", "", "new.bin", pr, &filestore.PutOptions{Size: size})
				done <- result{f, err}
			}()
			// When this write returns, the pass has read it: it opened
			// the stored copy when its first chunk matched it.
			if _, err := pw.Write(tc.body[:tc.split]); err != nil {
				t.Fatal(err)
			}
			dropPins(t, "sqlite://"+filepath.Join(dir, "filestore.db"))
			if err := st.Purge(ctx, "alice", old.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Collect(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if n := bucketKeys(t, "file://"+filepath.Join(dir, "blobs")); n != 0 {
				t.Fatalf("%d keys in the bucket, want none: the stored copy deleted, nothing staged yet", n)
			}
			if _, err := pw.Write(tc.body[tc.split:]); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			r := <-done
			if r.err != nil {
				t.Fatalf("Put: %v", r.err)
			}
			if got := readAll(t, st, "alice", r.f.ID); !bytes.Equal(got, tc.body) {
				t.Errorf("reads back %d bytes that differ from the upload", len(got))
			}
			if !strings.EqualFold(r.f.SHA256, hexSum(tc.body)) {
				t.Errorf("file digest %s, want %s", r.f.SHA256, hexSum(tc.body))
			}
			if s := stats(t, st); s.Files != 1 || s.Objects != 1 {
				t.Errorf("Stats %+v, want 1 file of 1 object", s)
			}
		})
	}
}

// TestPutCompareRestage: an upload that is the stored content it compared
// with (size declared) finds at its commit that the object's row is gone
// (purged, between the pass and the commit, through a Store whose bucket
// is elsewhere, so the bytes stay, its pin cleared first: see dropPins). Put then stages the content again from
// the stored copy and commits that. Before, on S3 the copy was read under
// the pass's context, cancelled by then: the Put failed with
// ErrUnavailable ("GetObject, context canceled").
func TestPutCompareRestage(t *testing.T) {
	for _, bucket := range []string{"file", "s3"} {
		t.Run(bucket, func(t *testing.T) {
			ctx := context.Background()
			dbURL, bucketURL := pairURLs(t, "sqlite", bucket)
			_, elsewhere := pairURLs(t, "sqlite", bucket)
			ex := &hookExtractor{}
			up := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL, Extractor: ex})
			other := openURLs(t, filestore.Options{Database: dbURL, Bucket: elsewhere})
			data := filestoretest.Content(42, 1<<20+777)
			first, err := up.Put(ctx, "alice", "", "first", bytes.NewReader(data), nil)
			if err != nil {
				t.Fatal(err)
			}
			ex.hook = func() {
				dropPins(t, dbURL)
				if err := other.Purge(ctx, "alice", first.ID); err != nil {
					t.Errorf("Purge: %v", err)
				}
			}
			f, err := up.Put(ctx, "alice", "", "second", bytes.NewReader(data), &filestore.PutOptions{Size: int64(len(data))})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if ex.hook != nil {
				t.Fatal("the purge did not run between the pass and the commit")
			}
			if got := readAll(t, up, "alice", f.ID); !bytes.Equal(got, data) {
				t.Errorf("reads back %d bytes that differ from the upload", len(got))
			}
			if s := stats(t, up); s.Files != 1 || s.Objects != 1 {
				t.Errorf("Stats %+v, want 1 file of 1 object", s)
			}
			// The purged object's bytes, unreferenced now, are Collect's.
			if _, err := up.Collect(ctx, &filestore.CollectOptions{StagingTTL: time.Nanosecond}); err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, dbURL, bucketURL, true)
		})
	}
}

// digestScanner reads everything it is given, records its SHA-256, and
// finds nothing.
type digestScanner struct {
	mu   sync.Mutex
	seen []string
}

func (d *digestScanner) Scan(ctx context.Context, r io.Reader) (*filestore.ScanResult, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.seen = append(d.seen, hex.EncodeToString(h.Sum(nil)))
	d.mu.Unlock()
	return &filestore.ScanResult{Engine: "digest"}, nil
}

// TestPutCompareWithScanner: a comparing pass hands the same chunks to the
// scanner and to the comparison; the scanner reads every byte, in order,
// whether the upload turns out to be stored content or not.
func TestPutCompareWithScanner(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sc := &digestScanner{}
	st, err := filestore.Open(ctx, filestore.Options{
		Database: "sqlite://" + filepath.Join(dir, "filestore.db"), Bucket: "file://" + filepath.Join(dir, "blobs"),
		Logger: quietLogger(), Scanner: sc,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const size = 5<<20 + 12345
	data := filestoretest.Content(111, size)
	late := flipped(data, size-3)
	var want []string
	for i, body := range [][]byte{data, data, late} {
		f, err := st.Put(ctx, "alice", "", fmt.Sprintf("f%d", i), bytes.NewReader(body), &filestore.PutOptions{Size: size})
		if err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
		if f.Scan.Status != filestore.ScanClean || f.SHA256 != hexSum(body) {
			t.Errorf("Put %d: scan %+v, digest %s; want clean, %s", i, f.Scan, f.SHA256, hexSum(body))
		}
		if got := readAll(t, st, "alice", f.ID); !bytes.Equal(got, body) {
			t.Errorf("Put %d reads back %d bytes that differ from the upload", i, len(got))
		}
		want = append(want, hexSum(body))
	}
	if diff := cmp.Diff(want, sc.seen); diff != "" {
		t.Errorf("what the scanner read (-want +got):\n%s", diff)
	}
}

// TestPutCompareConcurrent: uploads with a declared size, of stored content
// and of content that differs from it late, run from two Stores at once
// while the stored copy's only file is purged and collected. On a local
// bucket every upload succeeds and reads back byte for byte: one whose
// comparison matched an object collected before its commit is staged from
// the file the comparison opened (restage). Afterwards the catalogue and
// the bucket agree.
func TestPutCompareConcurrent(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			ctx := context.Background()
			dbURL, bucketURL := pairURLs(t, db, "file")
			opts := filestore.Options{Database: dbURL, Bucket: bucketURL}
			stores := []*filestore.Service{openURLs(t, opts), openURLs(t, opts)}
			const size = 2 << 20
			data := filestoretest.Content(121, size)
			orig, err := stores[0].Put(ctx, "alice", "", "orig.bin", bytes.NewReader(data), nil)
			if err != nil {
				t.Fatal(err)
			}
			const n = 16
			bodies := make([][]byte, n)
			files := make([]*filestore.File, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				bodies[i] = data
				if i%2 == 1 {
					bodies[i] = flipped(data, size-1-i)
				}
				wg.Go(func() {
					files[i], errs[i] = stores[i%2].Put(ctx, "alice", "", fmt.Sprintf("f%d", i), bytes.NewReader(bodies[i]), &filestore.PutOptions{Size: size})
				})
			}
			wg.Go(func() {
				if err := stores[1].Purge(ctx, "alice", orig.ID); err != nil {
					t.Errorf("Purge: %v", err)
				}
				if _, err := stores[1].Collect(ctx, nil); err != nil {
					t.Errorf("Collect: %v", err)
				}
			})
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("upload %d: %v", i, err)
					continue
				}
				if got := readAll(t, stores[(i+1)%2], "alice", files[i].ID); !bytes.Equal(got, bodies[i]) {
					t.Errorf("upload %d reads back %d bytes that differ from the upload", i, len(got))
				}
			}
			if _, err := stores[0].Collect(ctx, &filestore.CollectOptions{StagingTTL: 1}); err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, dbURL, bucketURL, true)
		})
	}
}
