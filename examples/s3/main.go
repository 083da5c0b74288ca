// Command s3 runs filestore on production backends: an S3-compatible
// bucket and PostgreSQL, both named by URLs. It stores a file twice under
// two names (stored once: deduplicated), reads a range back, and cleans
// up.
//
//	FILESTORE_TEST_S3='s3://bucket?endpoint=http%3A%2F%2F127.0.0.1%3A7070&region=us-east-1&use_path_style=true' \
//	FILESTORE_TEST_POSTGRES='postgres://filestore:filestore@127.0.0.1:5432/filestore_test?sslmode=disable' \
//	AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... go run ./examples/s3
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/filestore-go/filestore"
)

func main() {
	bucket, database := os.Getenv("FILESTORE_TEST_S3"), os.Getenv("FILESTORE_TEST_POSTGRES")
	if bucket == "" || database == "" {
		fmt.Fprintln(os.Stderr, "s3: set FILESTORE_TEST_S3 (s3://...) and FILESTORE_TEST_POSTGRES (postgres://...)")
		os.Exit(2)
	}
	if err := run(context.Background(), database, bucket, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "s3:", err)
		os.Exit(1)
	}
}

// run uses the Store at database and bucket and prints what it did.
func run(ctx context.Context, database, bucket string, out io.Writer) (err error) {
	store, err := filestore.Open(ctx, filestore.Options{
		Database: database,
		Bucket:   bucket,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	if err := store.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	// An owner of its own, so that runs never meet.
	var r [6]byte
	_, _ = rand.Read(r[:])
	owner := "example-" + hex.EncodeToString(r[:])

	content := strings.Repeat("filestore on S3 and PostgreSQL. ", 1<<15) // 1 MiB
	a, err := store.Put(ctx, owner, "s3", "a.txt", strings.NewReader(content), nil)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	b, err := store.Put(ctx, owner, "s3", "b.txt", strings.NewReader(content), nil)
	if err != nil {
		return fmt.Errorf("put again: %w", err)
	}
	fmt.Fprintf(out, "stored a.txt and b.txt, %d bytes each, same sha256: %v\n", a.Size, a.SHA256 == b.SHA256)

	_, rc, err := store.Get(ctx, owner, b.ID)
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	if _, err := rc.Seek(int64(len(content))-13, io.SeekStart); err != nil {
		rc.Close()
		return fmt.Errorf("seek: %w", err)
	}
	tail, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	fmt.Fprintf(out, "last bytes of b.txt: %q\n", tail)

	for _, f := range []*filestore.File{a, b} {
		if err := store.Purge(ctx, owner, f.ID); err != nil {
			return fmt.Errorf("purge: %w", err)
		}
	}
	if _, err := store.Stat(ctx, owner, a.ID); !errors.Is(err, filestore.ErrNotFound) {
		return fmt.Errorf("a.txt after purge: %v", err)
	}
	fmt.Fprintln(out, "purged both")
	return nil
}
