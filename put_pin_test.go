package filestore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/storage"
	"github.com/google/go-cmp/cmp"
)

// atEOF is a reader that runs hook once, on the first Read after all of
// its content was read: the upload's body has been read whole, and its
// commit is still to come.
type atEOF struct {
	r     io.Reader
	hook  func()
	fired bool
}

func (a *atEOF) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if err == io.EOF && !a.fired {
		a.fired = true
		a.hook()
	}
	return n, err
}

// dropPins clears every pin in dbURL's catalogue, as if they had expired
// (or as a purge by a server of a version without pins ignores them): what
// is then left to protect an upload of stored content is the fallback of
// restage, or of a local object's open file.
func dropPins(t *testing.T, dbURL string) {
	t.Helper()
	ctx := context.Background()
	db, err := dedup.OpenDB(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "UPDATE objects SET pins = 0, pinned_until = NULL"); err != nil {
		t.Fatal(err)
	}
}

// keysOf lists the keys in bucketURL's object key space, sorted.
func keysOf(t *testing.T, bucketURL string) []string {
	t.Helper()
	b, err := storage.Open(context.Background(), bucketURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var keys []string
	if err := b.List(context.Background(), func(key string, _ time.Time, _ int64) error {
		keys = append(keys, key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// TestPutPinsStoredContent: an upload that may reference a stored object
// without staging its bytes (its digest announced, or its size declared
// and compared) pins the object, so that when another Store purges the
// object's last file and collects while the upload's body is being read,
// the bytes stay for the upload. An upload that turns out to be that
// content commits onto the stored object itself (the bucket keeps its one
// key); one that does not is stored as new content, or refused, and once
// Put returns the purged object is gone, without a Collect. Before pins,
// the digest uploads failed with ErrUnavailable on both pairings, as the
// compared one did on S3 (on a local bucket it was staged again from the
// file the comparison had open, under a new key).
func TestPutPinsStoredContent(t *testing.T) {
	const size = 3 << 20
	data := filestoretest.Content(131, size)
	other := flipped(data, size-1)
	tests := []struct {
		name     string
		body     []byte
		opts     *filestore.PutOptions
		wantErr  error // nil: stored
		sameKeys bool  // the upload is the stored content: the bucket keeps its key
	}{
		{"digest announced", data, &filestore.PutOptions{SHA256: hexSum(data)}, nil, true},
		{"size declared", data, &filestore.PutOptions{Size: size}, nil, true},
		{"size declared, differs in the last byte", other, &filestore.PutOptions{Size: size}, nil, false},
		{"digest announced, other content", other, &filestore.PutOptions{SHA256: hexSum(data)}, filestore.ErrDigestMismatch, false},
	}
	for _, pair := range [][2]string{{"sqlite", "file"}, {"postgres", "s3"}} {
		for _, tt := range tests {
			t.Run(pair[0]+"/"+pair[1]+"/"+tt.name, func(t *testing.T) {
				ctx := context.Background()
				dbURL, bucketURL := pairURLs(t, pair[0], pair[1])
				opts := filestore.Options{Database: dbURL, Bucket: bucketURL}
				uploader, purger := openURLs(t, opts), openURLs(t, opts)
				orig, err := purger.Put(ctx, "alice", "", "orig.bin", bytes.NewReader(data), nil)
				if err != nil {
					t.Fatal(err)
				}
				before := keysOf(t, bucketURL)
				if len(before) != 1 {
					t.Fatalf("bucket after the first upload: %q, want one key", before)
				}
				body := &atEOF{r: bytes.NewReader(tt.body), hook: func() {
					if err := purger.Purge(ctx, "alice", orig.ID); err != nil {
						t.Errorf("Purge: %v", err)
					}
					if _, err := purger.Collect(ctx, nil); err != nil {
						t.Errorf("Collect: %v", err)
					}
				}}
				f, err := uploader.Put(ctx, "alice", "", "again.bin", body, tt.opts)
				if !body.fired {
					t.Fatal("the upload's body was not read to its end")
				}
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Put while the stored copy is purged: %v, want %v", err, tt.wantErr)
				}
				after := keysOf(t, bucketURL)
				if tt.wantErr != nil {
					if len(after) != 0 {
						t.Errorf("bucket after the refused upload: %q, want empty", after)
					}
					if n := checkInvariants(t, dbURL, bucketURL, true); n != 0 {
						t.Errorf("%d object rows after the refused upload, want 0", n)
					}
					return
				}
				if got := readAll(t, purger, "alice", f.ID); !bytes.Equal(got, tt.body) {
					t.Errorf("the upload reads back %d bytes that differ from it", len(got))
				}
				if tt.sameKeys {
					if diff := cmp.Diff(before, after); diff != "" {
						t.Errorf("bucket keys (-before +after):\n%s", diff)
					}
				} else if len(after) != 1 || after[0] == before[0] {
					t.Errorf("bucket after the upload of other content: %q, want one key other than %q", after, before[0])
				}
				if n := checkInvariants(t, dbURL, bucketURL, true); n != 1 {
					t.Errorf("%d object rows, want 1", n)
				}
			})
		}
	}
}
