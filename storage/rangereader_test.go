package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/filestore-go/filestore/storage"
)

func TestOpenRangeMatchesBytesReader(t *testing.T) {
	const size = 300_000
	data := content(size, 11)
	tests := []struct {
		name  string
		steps []step
	}{
		{"whole", []step{{-1, 0, size}}},
		{"past the end", []step{{-1, 0, size + 10}, {-1, 0, 1}}},
		{"a range", []step{{io.SeekStart, 100_000, 0}, {-1, 0, 4096}}},
		{"a range, then on", []step{{io.SeekStart, 100_000, 0}, {-1, 0, 4096}, {-1, 0, 50_000}, {-1, 0, 10}}},
		{"ranges", []step{{io.SeekStart, 10, 0}, {-1, 0, 100}, {io.SeekStart, 290_000, 0}, {-1, 0, 100}, {io.SeekCurrent, -1000, 0}, {-1, 0, 2000}}},
		{"relative to end", []step{{io.SeekEnd, -1000, 0}, {-1, 0, 4000}}},
		{"at end", []step{{io.SeekEnd, 0, 0}, {-1, 0, 10}}},
		{"beyond end", []step{{io.SeekEnd, 10, 0}, {-1, 0, 10}, {io.SeekStart, 0, 0}, {-1, 0, 3}}},
		{"negative is an error", []step{{io.SeekStart, -1, 0}, {-1, 0, 5}}},
	}
	forEachBackend(t, func(t *testing.T, b *storage.Bucket) {
		key := b.NewKey()
		put(t, b, key, data, 64<<10)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				sameAsBytesReader(t, data, tt.steps, func() (io.ReadSeekCloser, error) { return b.OpenRange(t.Context(), key, size) })
			})
		}
		t.Run("copy", func(t *testing.T) {
			r, err := b.OpenRange(t.Context(), key, size)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var got bytes.Buffer
			// 32 KiB reads, as io.Copy makes them to a ResponseWriter.
			n, err := io.CopyBuffer(&got, struct{ io.Reader }{r}, make([]byte, 32<<10))
			if err != nil || n != size || !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("copied %d bytes (equal %v), %v; want %d, nil", n, bytes.Equal(got.Bytes(), data), err, size)
			}
		})
	})
}

// s3WithObject opens a bucket of its own on the S3 server, closed when t
// ends, and stores data there under the key it returns.
func s3WithObject(t *testing.T, data []byte) (*storage.Bucket, string) {
	t.Helper()
	b, err := storage.Open(t.Context(), testenv.S3URL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	key := b.NewKey()
	put(t, b, key, data, 256<<10)
	return b, key
}

// TestOpenRangeRequests checks, on the S3 server, the requests that
// OpenRange's reads make: one of exactly the bytes a Read after a seek
// asks for, and the rest of the object for a Read that goes on. (Whether
// the connection is kept is the server's to say: versitygw answers every
// GetObject with "Connection: close".)
func TestOpenRangeRequests(t *testing.T) {
	const size = 1 << 20
	data := content(size, 12)
	b, key := s3WithObject(t, data)

	tests := []struct {
		name   string
		steps  []step
		ranges []string
	}{
		{"4 KiB ranges", []step{
			{io.SeekStart, 8192, 0}, {-1, 0, 4096},
			{io.SeekStart, 500_000, 0}, {-1, 0, 4096},
			{io.SeekStart, 0, 0}, {-1, 0, 4096},
			{io.SeekEnd, -4096, 0}, {-1, 0, 4096},
		}, []string{"bytes=8192-12287", "bytes=500000-504095", "bytes=0-4095", "bytes=1044480-1048575"}},
		{"whole", []step{{-1, 0, 32 << 10}, {-1, 0, size - 32<<10}}, []string{"bytes=0-32767", "bytes=32768-1048575"}},
		{"a range and on", []step{{io.SeekStart, 1000, 0}, {-1, 0, 100}, {-1, 0, 100}, {-1, 0, 100}}, []string{"bytes=1000-1099", "bytes=1100-1048575"}},
		{"a read past the end asks for the rest", []step{{io.SeekEnd, -10, 0}, {-1, 0, 4096}}, []string{"bytes=1048566-1048575"}},
		{"seeks alone ask for nothing", []step{{io.SeekStart, 10, 0}, {io.SeekEnd, 0, 0}, {-1, 0, 10}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q testenv.Ranges
			r, err := b.OpenRange(q.Context(t.Context()), key, size)
			if err != nil {
				t.Fatal(err)
			}
			got := run(r, tt.steps)
			if err := r.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if diff := cmp.Diff(run(bytes.NewReader(data), tt.steps), got); diff != "" {
				t.Errorf("the reader differs from bytes.Reader (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.ranges, q.Take()); diff != "" {
				t.Errorf("Range headers sent (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOpenRangeLimitReads: after LimitReads(end), a Read that goes on asks
// the S3 server for the bytes up to end, not for the rest of the object;
// a Read past end is served with a request for the rest.
func TestOpenRangeLimitReads(t *testing.T) {
	const size = 1 << 20
	data := content(size, 14)
	b, key := s3WithObject(t, data)

	var q testenv.Ranges
	r, err := b.OpenRange(q.Context(t.Context()), key, size)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l, ok := r.(interface{ LimitReads(end int64) })
	if !ok {
		t.Fatalf("OpenRange's reader %T has no LimitReads", r)
	}
	if _, err := r.Seek(1000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	l.LimitReads(101_000)
	got := make([]byte, 100_010)
	if _, err := io.ReadFull(r, got[:32768]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, got[32768:]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data[1000:101_010]) {
		t.Error("the bytes read differ from the object's")
	}
	want := []string{"bytes=1000-33767", "bytes=33768-100999", "bytes=101000-1048575"}
	if diff := cmp.Diff(want, q.Take()); diff != "" {
		t.Errorf("Range headers sent (-want +got):\n%s", diff)
	}
}

func TestOpenRangeErrors(t *testing.T) {
	data := content(10_000, 13)
	forEachBackend(t, func(t *testing.T, b *storage.Bucket) {
		key := b.NewKey()
		put(t, b, key, data, 4096)
		probe, err := b.OpenRange(t.Context(), key, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		_, local := probe.(*os.File) // a file:// bucket's reader
		probe.Close()

		t.Run("missing object", func(t *testing.T) {
			r, err := b.OpenRange(t.Context(), b.NewKey(), 100)
			if local {
				if !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("OpenRange of a missing local object: %v; want ErrNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenRange: %v; want no error before the first Read", err)
			}
			defer r.Close()
			if n, err := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Read = %d, %v; want 0, ErrNotFound", n, err)
			}
		})
		t.Run("object shorter than size", func(t *testing.T) {
			if local {
				t.Skip("a local object is its *os.File, which does not know the size given")
			}
			r, err := b.OpenRange(t.Context(), key, int64(len(data))+100)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if !errors.Is(err, storage.ErrShortObject) || storage.IsTransient(err) || !bytes.Equal(got, data) {
				t.Fatalf("ReadAll = %d bytes (equal %v), %v; want the %d bytes and ErrShortObject, not transient", len(got), bytes.Equal(got, data), err, len(data))
			}
			// A read that starts past the object's end.
			if _, err := r.Seek(int64(len(data))+50, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			if n, err := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err, storage.ErrShortObject) {
				t.Fatalf("Read past the object's end = %d, %v; want 0, ErrShortObject", n, err)
			}
		})
		t.Run("cancelled", func(t *testing.T) {
			if local {
				t.Skip("a local object's reads do not observe ctx")
			}
			ctx, cancel := context.WithCancel(t.Context())
			r, err := b.OpenRange(ctx, key, int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			cancel()
			if n, err := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err, context.Canceled) {
				t.Fatalf("Read after cancel = %d, %v; want 0, context.Canceled", n, err)
			}
		})
		t.Run("closed", func(t *testing.T) {
			r, err := b.OpenRange(t.Context(), key, int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Read(make([]byte, 10)); err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := r.Close(); err != nil && !local {
				t.Fatalf("second Close: %v; want nil", err)
			}
			if n, err := r.Read(make([]byte, 10)); n != 0 || err == nil {
				t.Fatalf("Read after Close = %d, %v; want an error", n, err)
			}
		})
		t.Run("arguments", func(t *testing.T) {
			if _, err := b.OpenRange(t.Context(), "../x", 10); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("OpenRange(../x) = %v; want ErrInvalidKey", err)
			}
			if _, err := b.OpenRange(t.Context(), key, -1); !local && !errors.Is(err, storage.ErrInvalidRange) {
				t.Errorf("OpenRange(size -1) = %v; want ErrInvalidRange", err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if _, err := b.OpenRange(ctx, key, 10); !errors.Is(err, context.Canceled) {
				t.Errorf("OpenRange(cancelled) = %v; want context.Canceled", err)
			}
		})
	})
}
