package storage_test

import (
	"context"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/filestore-go/filestore/storage"
)

// BenchmarkLocalRangeRead measures what http.ServeContent costs the bucket
// for one 4 KiB range of a 64 MiB local object: open, seek to the end for
// the size and back, seek to the range, read it, close. NewReader's
// *blob.Reader reopens the file on the first Read after a Seek; Open's
// *os.File only seeks.
func BenchmarkLocalRangeRead(b *testing.B) {
	const size, rangeSize = 64 << 20, 4 << 10
	ctx := context.Background()
	bk, err := storage.Open(ctx, "file://"+b.TempDir(), &storage.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer bk.Close()
	key := writeObject(ctx, b, bk, size)

	variants := []struct {
		name string
		open func(ctx context.Context, key string) (io.ReadSeekCloser, error)
	}{
		{"NewReader", func(ctx context.Context, key string) (io.ReadSeekCloser, error) { return bk.NewReader(ctx, key) }},
		{"Open", bk.Open},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			buf := make([]byte, rangeSize)
			b.SetBytes(rangeSize)
			b.ReportAllocs()
			for b.Loop() {
				off := r.Int64N(size/rangeSize) * rangeSize
				rd, err := v.open(ctx, key)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := rd.Seek(0, io.SeekEnd); err != nil || n != size {
					b.Fatalf("Seek to end = %d, %v", n, err)
				}
				if _, err := rd.Seek(0, io.SeekStart); err != nil {
					b.Fatal(err)
				}
				if _, err := rd.Seek(off, io.SeekStart); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(rd, buf); err != nil {
					b.Fatal(err)
				}
				if err := rd.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// writeObject stores size bytes (a whole number of MiB) of content under a
// new key of bk and returns the key.
func writeObject(ctx context.Context, b *testing.B, bk *storage.Bucket, size int) string {
	b.Helper()
	key := bk.NewKey()
	w, err := bk.NewWriter(ctx, key)
	if err != nil {
		b.Fatal(err)
	}
	chunk := content(1<<20, 5)
	for range size / len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return key
}
