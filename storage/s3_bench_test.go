package storage

import (
	"context"
	"crypto/rand"
	"io"
	"net/url"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"

	"github.com/filestore-go/filestore/internal/testenv"
)

const s3BenchSize = 256 << 20

// stream is an endless reader of pseudo-random bytes (a 1 MiB random block
// repeated), standing in for an upload of unknown size.
type stream struct {
	block []byte
	off   int
}

func (s *stream) Read(p []byte) (int, error) {
	n := copy(p, s.block[s.off:])
	s.off = (s.off + n) % len(s.block)
	return n, nil
}

// heapPeak samples the bytes of heap objects (live and not yet swept) every
// millisecond until stop is called, which returns the peak.
func heapPeak() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	end := every(time.Millisecond, func() {
		metrics.Read(sample)
		peak = max(peak, sample[0].Value.Uint64())
	})
	return func() uint64 {
		end()
		return peak
	}
}

// every calls f at once and then every d until stop is called, which
// returns once f has returned for the last time.
func every(d time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			f()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// heapAfterGC returns the bytes of heap objects right after a collection.
func heapAfterGC() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// BenchmarkS3UploadMemory uploads 256 MiB from a stream to the real S3
// server of FILESTORE_TEST_S3 and reports the peak heap above the baseline
// (peak-heap-MiB), for this package's writer settings and for gocloud's
// defaults. Run it with -benchtime=2x.
func BenchmarkS3UploadMemory(b *testing.B) {
	rawURL := testenv.S3URL(b)
	ctx := context.Background()
	block := make([]byte, 1<<20)
	_, _ = rand.Read(block)

	variants := []struct {
		name string
		open func(b *testing.B) *Bucket
	}{
		{"storage", func(b *testing.B) *Bucket {
			bk, err := Open(ctx, rawURL, nil)
			if err != nil {
				b.Fatal(err)
			}
			return bk
		}},
		{"gocloud-defaults", func(b *testing.B) *Bucket {
			// The same bucket without this package's writer settings.
			u, err := url.Parse(rawURL)
			if err != nil {
				b.Fatal(err)
			}
			q := u.Query()
			prefix := q.Get("prefix")
			q.Del("prefix")
			q.Set("response_checksum_validation", "when_required")
			u.RawQuery = q.Encode()
			plain, err := new(s3blob.URLOpener).OpenBucketURL(ctx, u)
			if err != nil {
				b.Fatal(err)
			}
			return New(blob.PrefixedBucket(plain, prefix), nil)
		}},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			bk := v.open(b)
			defer bk.Close()
			buf := make([]byte, 256<<10)
			b.SetBytes(s3BenchSize)
			var worst uint64
			for b.Loop() {
				b.StopTimer()
				base := heapAfterGC()
				key := bk.NewKey()
				stop := heapPeak()
				b.StartTimer()

				w, err := bk.NewWriter(ctx, key)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyBuffer(w, io.LimitReader(&stream{block: block}, s3BenchSize), buf); err != nil {
					_ = w.Close()
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}

				b.StopTimer()
				if peak := stop(); peak > base {
					worst = max(worst, peak-base)
				}
				if err := bk.Delete(ctx, key); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(worst)/(1<<20), "peak-heap-MiB")
		})
	}
}

// BenchmarkS3ConcurrentUploadMemory runs 32 uploads of 8 MiB at once to the
// real S3 server of FILESTORE_TEST_S3 and reports the peak heap above the
// baseline (peak-heap-MiB) and the throughput, with no WriteMemory limit, the
// default (256 MiB, 8 writers) and 120 MiB (4 writers). Run it with
// -benchtime=3x.
func BenchmarkS3ConcurrentUploadMemory(b *testing.B) {
	rawURL := testenv.S3URL(b)
	ctx := context.Background()
	block := make([]byte, 1<<20)
	_, _ = rand.Read(block)
	const uploads, size = 32, 8 << 20
	for _, v := range []struct {
		name  string
		limit int64
	}{{"no-limit", -1}, {"default", 0}, {"120MiB", 120 << 20}} {
		b.Run(v.name, func(b *testing.B) {
			bk, err := Open(ctx, rawURL, &Options{WriteMemory: v.limit})
			if err != nil {
				b.Fatal(err)
			}
			defer bk.Close()
			b.SetBytes(uploads * size)
			worst := benchUploadsAtOnce(ctx, b, bk, uploads, size, block, nil)
			b.ReportMetric(float64(worst)/(1<<20), "peak-heap-MiB")
		})
	}
}

// benchUploadsAtOnce runs b.Loop: each round uploads size bytes to
// uploads new keys at once (see uploadAll), timed, then deletes them.
// around, if not nil, is called before each round's uploads and the
// function it returns after them. It returns the highest peak of heap
// objects above the baseline (after a collection) of a round.
func benchUploadsAtOnce(ctx context.Context, b *testing.B, bk *Bucket, uploads int, size int64, block []byte, around func() (after func())) uint64 {
	var worst uint64
	for b.Loop() {
		b.StopTimer()
		base := heapAfterGC()
		keys := make([]string, uploads)
		for i := range keys {
			keys[i] = bk.NewKey()
		}
		after := func() {}
		if around != nil {
			after = around()
		}
		stop := heapPeak()
		b.StartTimer()
		uploadAll(ctx, b, bk, keys, block, size)
		b.StopTimer()
		if peak := stop(); peak > base {
			worst = max(worst, peak-base)
		}
		after()
		for _, k := range keys {
			_ = bk.Delete(ctx, k)
		}
		b.StartTimer()
	}
	return worst
}

// uploadAll writes size bytes of a stream of block (see stream) to each of
// keys, all at once, in 128 KiB writes, and returns when all are closed;
// failures fail b.
func uploadAll(ctx context.Context, b *testing.B, bk *Bucket, keys []string, block []byte, size int64) {
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Go(func() {
			w, err := bk.NewWriter(ctx, key)
			if err != nil {
				b.Error(err)
				return
			}
			buf := make([]byte, 128<<10)
			if _, err := io.CopyBuffer(w, io.LimitReader(&stream{block: block, off: i}, size), buf); err != nil {
				b.Error(err)
			}
			if err := w.Close(); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
}
