package filestore_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/internal/testenv"
)

// Each pairing of bucket and database gets the whole conformance suite.
var (
	buckets = []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"mem", func(t *testing.T) string { return "mem://" }},
		{"file", func(t *testing.T) string { return "file://" + filepath.Join(t.TempDir(), "blobs") }},
		{"s3", func(t *testing.T) string { return testenv.S3URL(t) }},
	}
	databases = []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "filestore.db") }},
		{"postgres", func(t *testing.T) string { return testenv.PostgresDatabase(t) }},
	}
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// pairURLs makes a fresh, empty database and bucket of the named kinds and
// returns their URLs.
func pairURLs(t *testing.T, db, bucket string) (dbURL, bucketURL string) {
	t.Helper()
	for _, d := range databases {
		if d.name == db {
			dbURL = d.url(t)
		}
	}
	for _, b := range buckets {
		if b.name == bucket {
			bucketURL = b.url(t)
		}
	}
	if dbURL == "" || bucketURL == "" {
		t.Fatalf("no pairing %s/%s", db, bucket)
	}
	return dbURL, bucketURL
}

// openStore opens a fresh Store on the named pairing, closed when t ends.
func openStore(t *testing.T, db, bucket string, opts filestore.Options) *filestore.Service {
	t.Helper()
	opts.Database, opts.Bucket = pairURLs(t, db, bucket)
	return openURLs(t, opts)
}

// openURLs opens a Store on opts' URLs, closed when t ends.
func openURLs(t *testing.T, opts filestore.Options) *filestore.Service {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	st, err := filestore.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open(%s, %s): %v", opts.Database, opts.Bucket, err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// TestConformance runs the suite on every pairing, with small contents
// inline (the default) and, on two pairings, with every content in the
// bucket.
func TestConformance(t *testing.T) {
	for _, d := range databases {
		for _, b := range buckets {
			t.Run(d.name+"/"+b.name, func(t *testing.T) {
				filestoretest.Run(t, func(t *testing.T) filestore.Store {
					return openStore(t, d.name, b.name, filestore.Options{})
				})
			})
		}
	}
	for _, pair := range [][2]string{{"sqlite", "file"}, {"postgres", "s3"}} {
		t.Run(pair[0]+"/"+pair[1]+"/no-inline", func(t *testing.T) {
			filestoretest.Run(t, func(t *testing.T) filestore.Store {
				return openStore(t, pair[0], pair[1], filestore.Options{InlineMax: -1})
			})
		})
	}
}
