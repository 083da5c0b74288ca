package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/storage"
)

// TestBucketOfAnotherServer: a server with a database of its own (another
// --data-dir) on the bucket of a running server refuses to start, naming
// the bucket and both catalogues, instead of serving and, at its first
// GC, deleting the other server's objects as abandoned uploads.
func TestBucketOfAnotherServer(t *testing.T) {
	blobs := filepath.Join(t.TempDir(), "blobs")
	bucket := "file://" + blobs
	a := startServer(t, "--bucket", bucket, "--inline-max", "0")
	tok := a.token(t, "--sub", "alice")
	data := bytes.Repeat([]byte("a"), 100_000)
	status, body := a.request(t, "POST", "/v1/files?name=a.bin", tok, bytes.NewReader(data))
	if status != 201 {
		t.Fatalf("upload: %d %s", status, body)
	}
	var f struct{ ID string }
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}

	dirB := filepath.Join(t.TempDir(), "data")
	err := run(context.Background(), []string{"--addr", "127.0.0.1:0", "--data-dir", dirB, "--bucket", bucket}, envOf(nil), io.Discard, io.Discard)
	if !errors.Is(err, filestore.ErrBucketInUse) {
		t.Fatalf("second server: %v, want ErrBucketInUse", err)
	}
	want := fmt.Sprintf("open store: filestore: bucket %s: filestore: bucket bound to another catalogue: "+
		"its marker %q names catalogue %s, this database's is catalogue %s",
		bucket, storage.MarkerKey, markerOf(t, blobs), catalogueOf(t, "sqlite://"+filepath.Join(dirB, "filestore.db")))
	if err.Error() != want {
		t.Errorf("second server's error:\n%s\nwant:\n%s", err, want)
	}
	if status, body := a.request(t, "GET", "/v1/files/"+f.ID+"/content", tok, nil); status != 200 || !bytes.Equal(body, data) {
		t.Errorf("first server's file: %d, %d bytes; want 200 and its %d bytes", status, len(body), len(data))
	}
}

// markerOf returns the catalogue that the marker of the local bucket dir names.
func markerOf(t *testing.T, dir string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, storage.MarkerKey))
	if err != nil {
		t.Fatal(err)
	}
	var m storage.Marker
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m.Catalog
}

// catalogueOf returns the id of the catalogue in the database at dbURL.
func catalogueOf(t *testing.T, dbURL string) string {
	t.Helper()
	db, err := dedup.OpenDB(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cat, err := dedup.New(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	return cat.ID()
}
