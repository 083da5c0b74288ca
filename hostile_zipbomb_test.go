package filestore_test

import (
	"archive/zip"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"runtime"
	"testing"

	"github.com/filestore-go/filestore"
	"github.com/google/go-cmp/cmp"
)

// bombWriter counts and hashes the compressed bytes on their way to Put,
// and samples the heap as the bomb is built.
type bombWriter struct {
	w    io.Writer
	n    int64
	h    hash.Hash
	peak uint64 // highest HeapInuse seen
}

func (b *bombWriter) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	b.n += int64(n)
	b.h.Write(p[:n])
	return n, err
}

func (b *bombWriter) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.peak = max(b.peak, ms.HeapInuse)
}

// writeZeros writes n zero bytes to w from one small buffer, calling every
// after each 8 MiB (so that even a -short run samples while it works).
func writeZeros(w io.Writer, n int64, every func()) error {
	buf := make([]byte, 1<<20)
	for done := int64(0); done < n; done += int64(len(buf)) {
		if _, err := w.Write(buf[:min(int64(len(buf)), n-done)]); err != nil {
			return err
		}
		if done%(8<<20) == 0 {
			every()
		}
	}
	return nil
}

// TestHostileZipBomb: a gzip and a zip of 1 GiB of zeros (64 MiB in -short
// mode), generated while Put reads them so that nothing large is ever in
// memory, are stored as they are: the stored size, digest and byte counts
// are the compressed ones, nothing is expanded, and the heap stays small.
func TestHostileZipBomb(t *testing.T) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 64 << 20
	}
	tests := []struct {
		name, file, contentType string
		compress                func(w io.Writer, n int64, every func()) error
	}{
		{"gzip", "bomb.gz", "application/x-gzip", func(w io.Writer, n int64, every func()) error {
			zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
			if err != nil {
				return err
			}
			if err := writeZeros(zw, n, every); err != nil {
				return err
			}
			return zw.Close()
		}},
		{"zip", "bomb.zip", "application/zip", func(w io.Writer, n int64, every func()) error {
			zw := zip.NewWriter(w)
			zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
			f, err := zw.Create("zeros.bin")
			if err != nil {
				return err
			}
			if err := writeZeros(f, n, every); err != nil {
				return err
			}
			return zw.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, "sqlite", "file", filestore.Options{})
			ctx := context.Background()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base := ms.HeapInuse

			pr, pw := io.Pipe()
			bw := &bombWriter{w: pw, h: sha256.New()}
			done := make(chan struct{})
			go func() {
				defer close(done)
				pw.CloseWithError(tt.compress(bw, size, bw.sample))
			}()
			f, err := st.Put(ctx, "alice", "", tt.file, pr, nil)
			pr.CloseWithError(io.ErrClosedPipe) // unblocks the generator if Put failed
			<-done
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if bw.n > size/100 {
				t.Fatalf("the bomb is %d bytes for %d of zeros: not a bomb", bw.n, size)
			}
			stats, err := st.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			type stored struct {
				Size, LogicalBytes, StoredBytes int64
				SHA256, ContentType             string
			}
			want := stored{bw.n, bw.n, bw.n, hex.EncodeToString(bw.h.Sum(nil)), tt.contentType}
			got := stored{f.Size, stats.LogicalBytes, stats.StoredBytes, f.SHA256, f.ContentType}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("stored bomb (-want +got):\n%s", diff)
			}
			checkContentHash(t, st, "alice", f.ID, bw.n, want.SHA256)
			if grew := int64(bw.peak) - int64(base); grew > 32<<20 {
				t.Errorf("heap in use grew by %d MiB while %d MiB of zeros were compressed into Put", grew>>20, size>>20)
			}
			t.Logf("%d MiB of zeros -> %d bytes stored; heap in use grew by at most %d KiB", size>>20, bw.n, max(int64(bw.peak)-int64(base), 0)>>10)
		})
	}
}

// checkContentHash reads owner's file id and checks its size and digest.
func checkContentHash(t *testing.T, st filestore.Store, owner, id string, size int64, sum string) {
	t.Helper()
	_, rd, err := st.Get(context.Background(), owner, id)
	if err != nil {
		t.Fatalf("Get %s: %v", id, err)
	}
	defer rd.Close()
	h := sha256.New()
	n, err := io.Copy(h, rd)
	if got := hex.EncodeToString(h.Sum(nil)); err != nil || n != size || got != sum {
		t.Fatalf("file %s reads %d bytes hashing to %s (%v); want %d bytes hashing to %s", id, n, got, err, size, sum)
	}
}
