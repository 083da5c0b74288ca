//go:build linux

package filestore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/internal/testenv"
)

// Library-level benchmarks of Put (no HTTP), each beside a reference
// measured in the same run; scripts/bench.sh runs them and docs/benchmarks.md
// reports them. Run with a fixed count so the setup runs once or twice:
//
//	go test -run '^$' -bench 'BenchmarkPut4KiB' -benchtime 2000x .
//	go test -run '^$' -bench 'BenchmarkPutLarge|BenchmarkPutDedup' -benchtime 3x .
//
// PostgreSQL sub-benchmarks need FILESTORE_TEST_POSTGRES (else they skip).

// benchBlock is the unit of generated content: a pseudo-random MiB whose
// first 16 bytes are replaced by a stamp (the stream's seed and the block's
// index), so streams and blocks differ at the cost of a 16-byte copy.
const benchBlock = 1 << 20

// genReader is a generated stream of size bytes for seed.
type genReader struct {
	pat  []byte // shared, read-only pattern
	seed uint64
	size int64
	off  int64
	blk  [16]byte
}

// benchPattern returns the 1 MiB pattern of generated streams.
func benchPattern() []byte {
	p := make([]byte, benchBlock)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(p) // never fails
	return p
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	i, in := g.off/benchBlock, g.off%benchBlock
	n := copy(p, g.pat[in:min(benchBlock, in+g.size-g.off)])
	if in < 16 {
		binary.LittleEndian.PutUint64(g.blk[0:], g.seed)
		binary.LittleEndian.PutUint64(g.blk[8:], uint64(i))
		copy(p[:n], g.blk[in:])
	}
	g.off += int64(n)
	return n, nil
}

// openBench opens a Store over a local directory and the given database
// ("" for SQLite in the same temporary directory).
func openBench(b *testing.B, database string, inlineMax int64) *filestore.Service {
	b.Helper()
	return openBenchOn(b, database, "", inlineMax)
}

// openBenchOn is openBench on bucket (a gocloud URL; "" for a local
// directory in the temporary directory).
func openBenchOn(b *testing.B, database, bucket string, inlineMax int64) *filestore.Service {
	b.Helper()
	dir := b.TempDir()
	if database == "" {
		database = "sqlite://" + filepath.Join(dir, "filestore.db")
	}
	if bucket == "" {
		bucket = "file://" + filepath.Join(dir, "blobs")
	}
	st, err := filestore.Open(context.Background(), filestore.Options{
		Database: database, Bucket: bucket, Logger: quietLogger(),
		InlineMax: inlineMax,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return st
}

// runConcurrent runs op(i) for i in [0, b.N) on exactly c goroutines, times
// the whole, and reports operations per second.
func runConcurrent(b *testing.B, c int, op func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c)
	b.ResetTimer()
	for range c {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if err := op(int(i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// stamped4KiB returns 4 KiB of content unique to i.
func stamped4KiB(pat []byte, i int) []byte {
	p := make([]byte, 4<<10)
	copy(p, pat)
	binary.LittleEndian.PutUint64(p, uint64(i)+1)
	return p
}

// BenchmarkPut4KiB: durable Puts of distinct 4 KiB contents from 16 and 64
// goroutines into a local directory, with SQLite and with PostgreSQL; the
// reference ("bare") creates a file in one directory, writes the 4 KiB and
// fdatasyncs it, from as many goroutines (no name, no database, no
// directory fsync).
func BenchmarkPut4KiB(b *testing.B) {
	pat := benchPattern()
	for _, c := range []int{16, 64} {
		b.Run("c"+strconv.Itoa(c), func(b *testing.B) {
			b.Run("bare", func(b *testing.B) {
				dir := b.TempDir()
				runConcurrent(b, c, func(i int) error {
					f, err := os.Create(filepath.Join(dir, strconv.Itoa(i)))
					if err != nil {
						return err
					}
					if _, err := f.Write(stamped4KiB(pat, i)); err != nil {
						f.Close()
						return err
					}
					if err := unix.Fdatasync(int(f.Fd())); err != nil {
						f.Close()
						return err
					}
					return f.Close()
				})
			})
			put := func(b *testing.B, st *filestore.Service) {
				runConcurrent(b, c, func(i int) error {
					_, err := st.Put(context.Background(), "bench", "", "f"+strconv.Itoa(i), bytes.NewReader(stamped4KiB(pat, i)), nil)
					return err
				})
			}
			// By default 4 KiB is stored in its object row; -noinline makes
			// it a file of its own (Options.InlineMax -1), as every upload
			// larger than 64 KiB is.
			b.Run("sqlite", func(b *testing.B) { put(b, openBench(b, "", 0)) })
			b.Run("sqlite-noinline", func(b *testing.B) { put(b, openBench(b, "", -1)) })
			b.Run("postgres", func(b *testing.B) { put(b, openBench(b, testenv.PostgresDatabase(b), 0)) })
			b.Run("postgres-noinline", func(b *testing.B) { put(b, openBench(b, testenv.PostgresDatabase(b), -1)) })
		})
	}
}

// largeSize is the size of the large uploads of BenchmarkPutLarge and
// BenchmarkPutDedup (the HTTP benchmarks of scripts/bench.sh use 1 GiB).
const largeSize = 256 << 20

// hashChunk is the read size of the references, the same as Put's.
const hashChunk = 128 << 10

// BenchmarkPutLarge: one durable Put of 256 MiB of generated content into a
// local directory with SQLite, against the reference ("bare"): the same
// stream read in 128 KiB chunks, hashed, written to a new file and
// fdatasynced once at the end.
func BenchmarkPutLarge(b *testing.B) {
	pat := benchPattern()
	b.Run("bare", func(b *testing.B) {
		dir := b.TempDir()
		buf := make([]byte, hashChunk)
		b.SetBytes(largeSize)
		for i := 0; b.Loop(); i++ {
			path := filepath.Join(dir, "f"+strconv.Itoa(i))
			if err := bareWrite(path, &genReader{pat: pat, seed: uint64(i), size: largeSize}, buf); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := os.Remove(path); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("sqlite", func(b *testing.B) {
		st := openBench(b, "", 0)
		b.SetBytes(largeSize)
		for i := 0; b.Loop(); i++ {
			f, err := st.Put(context.Background(), "bench", "", "large"+strconv.Itoa(i), &genReader{pat: pat, seed: uint64(i), size: largeSize}, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := st.Purge(context.Background(), "bench", f.ID); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
}

// bareWrite hashes r into a new file at path in chunks of len(buf) and
// fdatasyncs it once at the end.
func bareWrite(path string, r io.Reader, buf []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	for {
		n, rerr := io.ReadFull(r, buf)
		h.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			return err
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return err
	}
	_ = h.Sum(nil)
	return f.Close()
}

// BenchmarkPutDedup: Put of 256 MiB whose content is already stored (the
// dedup path) into a local directory with SQLite, with neither digest nor
// size, with the expected digest, and with the size declared
// (PutOptions.Size, compared with the stored copy), against the reference
// ("hash-only"): the same stream read in 128 KiB chunks and hashed. The
// sqlite-s3 pair does the first and the last on the S3 bucket of
// FILESTORE_TEST_S3 (staged, uploaded and dropped, against read back and
// compared); they skip without it, or fail when CI=true.
func BenchmarkPutDedup(b *testing.B) {
	pat := benchPattern()
	gen := func() *genReader { return &genReader{pat: pat, seed: 7, size: largeSize} }
	b.Run("hash-only", func(b *testing.B) {
		buf := make([]byte, hashChunk)
		b.SetBytes(largeSize)
		for b.Loop() {
			h := sha256.New()
			r := gen()
			for {
				n, err := io.ReadFull(r, buf)
				h.Write(buf[:n])
				if err != nil {
					break
				}
			}
			_ = h.Sum(nil)
		}
	})
	// Without a digest or a size, with the digest, and with the size
	// declared (PutOptions.Size: compared with the stored copy).
	for _, v := range []struct{ bucket, announce string }{{"", ""}, {"", "digest"}, {"", "size"}, {"s3", ""}, {"s3", "size"}} {
		announce := v.announce
		name := "sqlite"
		if v.bucket != "" {
			name += "-" + v.bucket
		}
		if announce != "" {
			name += "-" + announce
		}
		b.Run(name, func(b *testing.B) {
			bucket := ""
			if v.bucket == "s3" {
				bucket = testenv.S3URL(b)
			}
			st := openBenchOn(b, "", bucket, 0)
			first, err := st.Put(context.Background(), "bench", "", "original", gen(), nil)
			if err != nil {
				b.Fatal(err)
			}
			opts := &filestore.PutOptions{}
			switch announce {
			case "digest":
				opts.SHA256 = first.SHA256
			case "size":
				opts.Size = largeSize
			}
			b.SetBytes(largeSize)
			for i := 0; b.Loop(); i++ {
				f, err := st.Put(context.Background(), "bench", "", "copy"+strconv.Itoa(i), gen(), opts)
				if err != nil {
					b.Fatal(err)
				}
				if f.SHA256 != first.SHA256 {
					b.Fatalf("stored %s, want %s", f.SHA256, first.SHA256)
				}
				b.StopTimer()
				if err := st.Purge(context.Background(), "bench", f.ID); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkPutDedupSmall: uploads of 1 MiB already stored, announced by
// their digest or by their size (compared), on SQLite and PostgreSQL,
// where the pins of the stored object (taken before, released after) are
// a larger share than at largeSize. No reference: compare builds.
func BenchmarkPutDedupSmall(b *testing.B) {
	pat := benchPattern()
	const size = 1 << 20
	gen := func() *genReader { return &genReader{pat: pat, seed: 7, size: size} }
	for _, db := range []string{"sqlite", "postgres"} {
		for _, announce := range []string{"digest", "size"} {
			b.Run(db+"-"+announce, func(b *testing.B) {
				dbURL := ""
				if db == "postgres" {
					dbURL = testenv.PostgresDatabase(b)
				}
				st := openBenchOn(b, dbURL, "", 0)
				first, err := st.Put(context.Background(), "bench", "", "original", gen(), nil)
				if err != nil {
					b.Fatal(err)
				}
				opts := &filestore.PutOptions{}
				if announce == "digest" {
					opts.SHA256 = first.SHA256
				} else {
					opts.Size = size
				}
				b.SetBytes(size)
				for i := 0; b.Loop(); i++ {
					if _, err := st.Put(context.Background(), "bench", "", "copy"+strconv.Itoa(i), gen(), opts); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
