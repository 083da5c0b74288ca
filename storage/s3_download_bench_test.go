package storage_test

import (
	"context"
	"io"
	"testing"

	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/filestore-go/filestore/storage"
)

// BenchmarkS3Download reads a 64 MiB object from FILESTORE_TEST_S3 in
// 32 KiB reads (what io.Copy to an http.ResponseWriter does): what the
// stall bound of S3 connections costs a download (storage/stall.go).
func BenchmarkS3Download(b *testing.B) {
	const size = 64 << 20
	ctx := context.Background()
	bk, err := storage.Open(ctx, testenv.S3URL(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer bk.Close()
	key := writeObject(ctx, b, bk, size)
	defer bk.Delete(ctx, key)
	buf := make([]byte, 32<<10)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		r, err := bk.NewReader(ctx, key)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf)
		r.Close()
		if err != nil || n != size {
			b.Fatal(n, err)
		}
	}
}
