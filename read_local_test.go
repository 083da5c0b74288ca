package filestore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
)

// TestGetReader: Get on a local bucket hands out the object's *os.File
// (cheap seeks, sendfile), on other buckets gocloud's reader; both read
// the exact content.
func TestGetReader(t *testing.T) {
	tests := []struct {
		bucket   string
		wantFile bool
	}{
		{"mem", false},
		{"file", true},
	}
	data := filestoretest.Content(21, 200_003)
	for _, tt := range tests {
		t.Run(tt.bucket, func(t *testing.T) {
			st := openStore(t, "sqlite", tt.bucket, filestore.Options{})
			ctx := context.Background()
			put, err := st.Put(ctx, "alice", "", "a.bin", bytes.NewReader(data), nil)
			if err != nil {
				t.Fatal(err)
			}
			got, rd, err := st.Get(ctx, "alice", put.ID)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			defer rd.Close()
			if diff := cmp.Diff(put, got); diff != "" {
				t.Errorf("Get's File differs from Put's (-put +get):\n%s", diff)
			}
			if _, isFile := rd.(*os.File); isFile != tt.wantFile {
				t.Errorf("Get's reader is a %T; *os.File: %v, want %v", rd, isFile, tt.wantFile)
			}
			if err := iotest.TestReader(rd, data); err != nil {
				t.Errorf("iotest.TestReader: %v", err)
			}
		})
	}
}

// TestGetLocalErrors: Get on a local bucket keeps its error mapping. An
// object file that is gone (as when a purge and GC win the race between
// Get's catalogue read and its open) is ErrNotFound; so are a trashed file,
// another owner's and an unknown id; a cancelled ctx is context.Canceled.
func TestGetLocalErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blobs")
	st := openURLs(t, filestore.Options{
		Database: "sqlite://" + filepath.Join(t.TempDir(), "filestore.db"),
		Bucket:   "file://" + dir,
		// Small contents as files of their own, one of which is removed.
		InlineMax: -1,
	})
	ctx := context.Background()
	mustPut := func(name string, seed uint64) *filestore.File {
		t.Helper()
		f, err := st.Put(ctx, "alice", "", name, bytes.NewReader(filestoretest.Content(seed, 1000)), nil)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	live := mustPut("live.bin", 1)
	trashed := mustPut("trashed.bin", 2)
	if err := st.Delete(ctx, "alice", trashed.ID); err != nil {
		t.Fatal(err)
	}
	before := filestoretest.BucketFiles(t, dir)
	vanished := mustPut("vanished.bin", 3)
	added := slices.DeleteFunc(filestoretest.BucketFiles(t, dir), func(p string) bool { return slices.Contains(before, p) })
	if len(added) != 1 {
		t.Fatalf("Put of vanished.bin added object files %q, want one", added)
	}
	if err := os.Remove(filepath.Join(dir, added[0])); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	tests := []struct {
		name  string
		ctx   context.Context
		owner string
		id    string
		want  error
	}{
		{"object file gone", ctx, "alice", vanished.ID, filestore.ErrNotFound},
		{"trashed", ctx, "alice", trashed.ID, filestore.ErrNotFound},
		{"another owner's", ctx, "mallory", live.ID, filestore.ErrNotFound},
		{"unknown id", ctx, "alice", "0193f1b2-7c3a-7d4e-9a61-2f0c5e8b1a77", filestore.ErrNotFound},
		{"cancelled ctx", cancelled, "alice", live.ID, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, rd, err := st.Get(tt.ctx, tt.owner, tt.id)
			if !errors.Is(err, tt.want) || f != nil || rd != nil {
				t.Errorf("Get = %v, %v, %v; want nil, nil and an error wrapping %v", f, rd, err, tt.want)
			}
		})
	}

	// The live file still reads whole.
	_, rd, err := st.Get(ctx, "alice", live.ID)
	if err != nil {
		t.Fatalf("Get of the live file: %v", err)
	}
	defer rd.Close()
	if got, err := io.ReadAll(rd); err != nil || !bytes.Equal(got, filestoretest.Content(1, 1000)) {
		t.Errorf("read %d bytes, %v; want the 1000 put", len(got), err)
	}
}
