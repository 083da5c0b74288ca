package filestore_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/internal/faults"
	"github.com/google/go-cmp/cmp"
)

// lastByte is a MetaExtractor that reads the content's last byte through
// MetaInput.Content, as extractors do for metadata beyond the head.
type lastByte struct{ got []byte }

func (x *lastByte) Extract(_ context.Context, in *filestore.MetaInput) (*filestore.Metadata, error) {
	if in.Size > 0 {
		b := make([]byte, 1)
		if _, err := in.Content.ReadAt(b, in.Size-1); err != nil && err != io.EOF {
			return nil, err
		}
		x.got = append(x.got, b[0])
	}
	return &filestore.Metadata{ContentType: "application/octet-stream"}, nil
}

// TestInlineSizes: content of 1 to InlineMax bytes is stored in the
// catalogue and nothing of it in the bucket; empty content and content
// larger than InlineMax are objects in the bucket; a negative InlineMax
// keeps everything in the bucket, and one above MaxInlineMax is lowered to
// it. Either way Get reads the content back, and the extractor reads it
// through MetaInput.Content.
func TestInlineSizes(t *testing.T) {
	tests := []struct {
		name      string
		inlineMax int64
		size      int
		inline    bool
	}{
		{"empty", 0, 0, false},
		{"one byte", 0, 1, true},
		{"4 KiB", 0, 4096, true},
		{"default limit", 0, filestore.MaxInlineMax, true},
		{"over the default limit", 0, filestore.MaxInlineMax + 1, false},
		{"lower limit", 1000, 1000, true},
		{"over a lower limit", 1000, 1001, false},
		{"inlining off", -1, 1, false},
		{"limit lowered to the most", 1 << 20, filestore.MaxInlineMax, true},
		{"over the most", 1 << 20, filestore.MaxInlineMax + 1, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "blobs")
			dbURL := "sqlite://" + filepath.Join(t.TempDir(), "filestore.db")
			x := &lastByte{}
			st := openURLs(t, filestore.Options{Database: dbURL, Bucket: "file://" + dir, InlineMax: tt.inlineMax, Extractor: x})
			ctx := context.Background()
			data := filestoretest.Content(uint64(i+1), tt.size)
			f, err := st.Put(ctx, "alice", "", "f.bin", bytes.NewReader(data), nil)
			if err != nil {
				t.Fatal(err)
			}
			wantFiles := 1
			if tt.inline {
				wantFiles = 0
			}
			if got := len(filestoretest.BucketFiles(t, dir)); got != wantFiles {
				t.Errorf("the bucket holds %d object files, want %d", got, wantFiles)
			}
			if tt.size > 0 && !bytes.Equal(x.got, data[tt.size-1:]) {
				t.Errorf("the extractor read last byte %x, want %x", x.got, data[tt.size-1:])
			}
			_, rd, err := st.Get(ctx, "alice", f.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			if _, isFile := rd.(*os.File); isFile == tt.inline {
				t.Errorf("Get's reader is a %T with inline %v", rd, tt.inline)
			}
			if err := iotest.TestReader(rd, data); err != nil {
				t.Errorf("iotest.TestReader: %v", err)
			}
			if n := filestoretest.CheckInvariants(t, dbURL, "file://"+dir, false); n != 1 {
				t.Errorf("%d object rows, want 1", n)
			}
		})
	}
}

// TestInlineLifecycle: inline content is shared by identical uploads,
// survives trash and restore, and goes with its last reference: after
// purging everything and a Collect, no object row is left, and nothing was
// ever written to the bucket.
func TestInlineLifecycle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blobs")
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "filestore.db")
	st := openURLs(t, filestore.Options{Database: dbURL, Bucket: "file://" + dir})
	ctx := context.Background()
	data := filestoretest.Content(7, 5000)
	var ids []string
	for _, owner := range []string{"alice", "bob", "alice"} {
		f, err := st.Put(ctx, owner, "d", "n"+string(rune('0'+len(ids))), bytes.NewReader(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, f.ID)
	}
	if n := filestoretest.CheckInvariants(t, dbURL, "file://"+dir, false); n != 1 {
		t.Fatalf("%d object rows for one content, want 1", n)
	}
	if err := st.Delete(ctx, "alice", ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Restore(ctx, "alice", ids[0]); err != nil {
		t.Fatal(err)
	}
	_, rd, err := st.Get(ctx, "alice", ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := iotest.TestReader(rd, data); err != nil {
		t.Errorf("iotest.TestReader: %v", err)
	}
	rd.Close()
	for i, owner := range []string{"alice", "bob", "alice"} {
		if err := st.Delete(ctx, owner, ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	res, err := st.Collect(ctx, &filestore.CollectOptions{TrashRetention: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.PurgedFiles != 3 || res.RemovedObjects != 1 {
		t.Errorf("Collect purged %d files and removed %d objects, want 3 and the one inline object", res.PurgedFiles, res.RemovedObjects)
	}
	if n := filestoretest.CheckInvariants(t, dbURL, "file://"+dir, true); n != 0 {
		t.Errorf("%d object rows after purging every file and Collect, want 0", n)
	}
	if files := filestoretest.BucketFiles(t, dir); len(files) != 0 {
		t.Errorf("the bucket holds %q, want nothing", files)
	}
}

// TestInlineTouchesNoBucket: an inline upload, its purge and the Collect
// after it make no bucket call that writes or deletes (the bytes live and
// go with the row), on both databases; a larger upload, for contrast,
// writes once and is deleted once.
func TestInlineTouchesNoBucket(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			for _, tt := range []struct {
				size   int
				writes int
			}{{4096, 0}, {filestore.MaxInlineMax + 1, 1}} {
				env := newFaultEnv(t, db, 3)
				ctx := context.Background()
				env.in.Reset()
				f, err := env.st.Put(ctx, "alice", "", "f", bytes.NewReader(filestoretest.Content(9, tt.size)), nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := env.st.Purge(ctx, "alice", f.ID); err != nil {
					t.Fatal(err)
				}
				if _, err := env.st.Collect(ctx, nil); err != nil {
					t.Fatal(err)
				}
				want := map[faults.Op]int{faults.OpNewWriter: tt.writes, faults.OpDelete: tt.writes}
				if diff := cmp.Diff(want, calls(env.in, want)); diff != "" {
					t.Errorf("%d bytes: bucket calls (-want +got):\n%s", tt.size, diff)
				}
			}
		})
	}
}
