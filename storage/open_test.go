package storage_test

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/filestore-go/filestore/storage"
)

func TestOpenRejectsBadURLs(t *testing.T) {
	urls := []string{
		"%zz",
		"ftp://host/dir",
		"data/blobs",
		"file://host/dir",
		"file:rel/dir",
		"file://",
		"file:///tmp/x?create_dir=1",
		"file:///tmp/x?prefix=../escape/",
		"mem://?metadata=skip",
		"s3://bucket?bogus=1",
		"s3://bucket?use_path_style=maybe",
		// The error must not show a secret the URL carries.
		"s3://bucket?region=us-east-1&aws_secret_access_key=SUPERSECRET1",
		"s3://bucket?endpoint=http%3A%2F%2Fu%3ASUPERSECRET2%40127.0.0.1%3A1&bogus=1",
		"ftp://u:SUPERSECRET3@host/dir?token=SUPERSECRET4",
		"s3://bucket?region=%zz&aws_secret_access_key=SUPERSECRET5",
		"s3://bucket?region=x&aws_secret_access_key=SUPERSECRET6\n", // a file's newline
		"s3://u:SUPERSECRET7@bucket\t",
	}
	for _, u := range urls {
		t.Run(u, func(t *testing.T) {
			b, err := storage.Open(t.Context(), u, nil)
			if !errors.Is(err, storage.ErrInvalidURL) {
				if b != nil {
					b.Close()
				}
				t.Errorf("Open(%q) = %v, want ErrInvalidURL", u, err)
			}
			if err != nil && regexp.MustCompile(`SUPERSECRET\d`).MatchString(err.Error()) {
				t.Errorf("Open(%q) error shows a secret: %v", u, err)
			}
		})
	}
}

func TestOpenLocalPaths(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	tests := []struct {
		name, url, wantDir string
	}{
		{"absolute", "file://" + filepath.Join(dir, "abs"), filepath.Join(dir, "abs")},
		{"localhost", "file://localhost" + filepath.Join(dir, "lh"), filepath.Join(dir, "lh")},
		{"relative", "file://./rel/blobs", filepath.Join(dir, "rel", "blobs")},
		{"prefix", "file://" + filepath.Join(dir, "p") + "?prefix=tenant%2F", filepath.Join(dir, "p", "tenant")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := storage.Open(t.Context(), tt.url, nil)
			if err != nil {
				t.Fatalf("Open(%q): %v", tt.url, err)
			}
			defer b.Close()
			key := b.NewKey()
			put(t, b, key, []byte("x"), 1)
			if _, err := os.Stat(filepath.Join(tt.wantDir, filepath.FromSlash(key))); err != nil {
				t.Errorf("object not at %s: %v", tt.wantDir, err)
			}
		})
	}
}

func TestNewKey(t *testing.T) {
	b, err := storage.Open(t.Context(), "mem://", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	re := regexp.MustCompile(`^o/([0-9a-f]{2})/([0-9a-f]{32})$`)
	seen := make(map[string]bool)
	for range 1000 {
		k := b.NewKey()
		m := re.FindStringSubmatch(k)
		if m == nil || m[2][:2] != m[1] {
			t.Fatalf("NewKey() = %q, want o/<xx>/<32 hex starting with xx>", k)
		}
		if seen[k] {
			t.Fatalf("NewKey() repeated %q", k)
		}
		seen[k] = true
	}
}

func TestPingMissingBucket(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "b")
		b, err := storage.Open(t.Context(), "file://"+dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		if err := b.Ping(t.Context()); !errors.Is(err, storage.ErrNoBucket) {
			t.Errorf("Ping of removed directory = %v, want ErrNoBucket", err)
		}
	})
	t.Run("s3", func(t *testing.T) {
		u, err := url.Parse(testenv.S3URL(t))
		if err != nil {
			t.Fatal(err)
		}
		u.Host = "filestore-no-such-bucket"
		b, err := storage.Open(t.Context(), u.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if err := b.Ping(t.Context()); !errors.Is(err, storage.ErrNoBucket) {
			t.Errorf("Ping of missing S3 bucket = %v, want ErrNoBucket", err)
		}
		// Reads and writes say that the bucket is missing, not the object
		// (S3's NoSuchBucket, which gocloud reports as not found, made a
		// write fail with ErrNotFound: "no such file" over HTTP).
		for _, size := range []int{10, 6 << 20} { // one request, and multipart
			w, err := b.NewWriter(t.Context(), b.NewKey())
			if err == nil {
				if _, err = w.Write(make([]byte, size)); err == nil {
					err = w.Close()
				} else {
					_ = w.Close()
				}
			}
			if !errors.Is(err, storage.ErrNoBucket) || errors.Is(err, storage.ErrNotFound) {
				t.Errorf("writing %d bytes to a missing S3 bucket: %v; want ErrNoBucket, not ErrNotFound", size, err)
			}
		}
		if _, err := b.NewReader(t.Context(), b.NewKey()); !errors.Is(err, storage.ErrNoBucket) || errors.Is(err, storage.ErrNotFound) {
			t.Errorf("reading from a missing S3 bucket: %v; want ErrNoBucket, not ErrNotFound", err)
		}
	})
}
