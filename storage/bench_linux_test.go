//go:build linux

package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/filestore-go/filestore/internal/fsync"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"golang.org/x/sys/unix"
)

const (
	benchSize  = 256 << 20 // bytes per object in BenchmarkLocalWrite
	benchChunk = 1 << 20   // bytes per Write call
)

// syncfs flushes the filesystem holding dir, so that dirty pages left by one
// iteration do not slow the next (called with the timer stopped).
func syncfs(b *testing.B, dir string) {
	f, err := os.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		b.Fatal(err)
	}
}

// writeAll writes benchSize bytes to w in benchChunk writes, then closes it.
func writeAll(w interface {
	Write([]byte) (int, error)
	Close() error
}, buf []byte) error {
	for n := 0; n < benchSize; n += len(buf) {
		if _, err := w.Write(buf); err != nil {
			_ = w.Close()
			return err
		}
	}
	return w.Close()
}

// BenchmarkLocalWrite compares durable and non-durable ways of writing one
// 256 MiB object to a local directory. Run it with -benchtime=3x: each
// iteration writes 256 MiB.
func BenchmarkLocalWrite(b *testing.B) {
	buf := make([]byte, benchChunk)
	_, _ = rand.Read(buf)
	ctx := context.Background()

	ours := func(noSync bool, tweak func(*localDir)) func(b *testing.B, dir string) {
		return func(b *testing.B, dir string) {
			bk, err := Open(ctx, "file://"+dir, &Options{NoSync: noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer bk.Close()
			if tweak != nil {
				tweak(bk.local)
			}
			for b.Loop() {
				key := bk.NewKey()
				w, err := bk.NewWriter(ctx, key)
				if err != nil {
					b.Fatal(err)
				}
				if err := writeAll(w, buf); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				syncfs(b, dir)
				if err := bk.Delete(ctx, key); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		}
	}
	variants := []struct {
		name string
		run  func(b *testing.B, dir string)
	}{
		{"fileblob-plain-nosync", func(b *testing.B, dir string) {
			fb, err := fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
			if err != nil {
				b.Fatal(err)
			}
			defer fb.Close()
			for i := 0; b.Loop(); i++ {
				key := fmt.Sprintf("o/00/%d", i)
				w, err := fb.NewWriter(ctx, key, &blob.WriterOptions{ContentType: contentType})
				if err != nil {
					b.Fatal(err)
				}
				if err := writeAll(w, buf); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				syncfs(b, dir)
				_ = fb.Delete(ctx, key)
				b.StartTimer()
			}
		}},
		{"os-file-write-fsync", func(b *testing.B, dir string) {
			for i := 0; b.Loop(); i++ {
				path := filepath.Join(dir, fmt.Sprint(i))
				f, err := os.Create(path)
				if err != nil {
					b.Fatal(err)
				}
				for n := 0; n < benchSize; n += len(buf) {
					if _, err := f.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_ = os.Remove(path)
				syncfs(b, dir)
				b.StartTimer()
			}
		}},
		{"storage-sync", ours(false, nil)},
		{"storage-sync-no-writeback", ours(false, func(l *localDir) {
			l.startWB = func(*os.File, int64, int64) error { return nil }
		})},
		{"storage-sync-lag-8MiB", ours(false, func(l *localDir) { l.lag = 8 << 20 })},
		{"storage-sync-lag-none", ours(false, func(l *localDir) { l.lag = 1 << 62 })},
		{"storage-nosync", ours(true, nil)},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			b.SetBytes(benchSize)
			v.run(b, b.TempDir())
		})
	}
}

// BenchmarkLocalConcurrentSmall measures 64 concurrent 4 KiB durable writes
// per op, with directory fsyncs coalesced (the default) or one per commit,
// with keys spread over the 256 key directories (NewKey) or all in one.
// dirsyncs/op counts the directory fsyncs.
func BenchmarkLocalConcurrentSmall(b *testing.B) {
	const writers, size = 64, 4 << 10
	data := make([]byte, size)
	_, _ = rand.Read(data)
	ctx := context.Background()
	variants := []struct {
		name       string
		noCoalesce bool
		oneDir     bool
	}{
		{"coalesced/256-dirs", false, false},
		{"per-commit/256-dirs", true, false},
		{"coalesced/one-dir", false, true},
		{"per-commit/one-dir", true, true},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			dir := b.TempDir()
			bk, err := Open(ctx, "file://"+dir, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer bk.Close()
			bk.local.noCoalesce = v.noCoalesce
			var dirSyncs atomic.Int64
			bk.local.syncDir = func(p string) error {
				dirSyncs.Add(1)
				return fsync.Dir(p)
			}
			key := func() string {
				if !v.oneDir {
					return bk.NewKey()
				}
				var r [16]byte
				_, _ = rand.Read(r[:])
				return "o/00/" + hex.EncodeToString(r[:])
			}
			// Warm up: create every key directory and sync its entry once.
			for i := range 256 {
				k := fmt.Sprintf("o/%02x/warmup", i)
				w, err := bk.NewWriter(ctx, k)
				if err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			dirSyncs.Store(0)
			b.SetBytes(writers * size)
			b.ResetTimer()
			for b.Loop() {
				var wg sync.WaitGroup
				errs := make(chan error, writers)
				for range writers {
					wg.Go(func() {
						w, err := bk.NewWriter(ctx, key())
						if err != nil {
							errs <- err
							return
						}
						if _, err := w.Write(data); err != nil {
							_ = w.Close()
							errs <- err
							return
						}
						if err := w.Close(); err != nil {
							errs <- err
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(dirSyncs.Load())/float64(b.N), "dirsyncs/op")
		})
	}
}
