package storage

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/filestore-go/filestore/internal/testenv"
)

// BenchmarkS3UploadMemoryFreed runs 16 uploads of 64 MiB at once to the
// real S3 server of FILESTORE_TEST_S3 with a WriteMemory of 64 MiB (two
// writers), with the shares of closed writers given back at Close (as
// before) and once a collection has freed their parts (see
// writeMemory.free). It reports the peak heap above the baseline
// (peak-heap-MiB, live and unswept objects, sampled every millisecond),
// that peak over the budget (heap/budget), the peak bytes that the budget
// counts held (peak-held-MiB) and the collections forced per run
// (forced-GCs). Run it with -benchtime=2x.
func BenchmarkS3UploadMemoryFreed(b *testing.B) {
	rawURL := testenv.S3URL(b)
	ctx := context.Background()
	block := make([]byte, 1<<20)
	_, _ = rand.Read(block)
	const uploads, size, budget = 16, 64 << 20, 64 << 20
	for _, v := range []struct {
		name    string
		atClose bool
	}{{"released-at-close", true}, {"released-after-collection", false}} {
		b.Run(v.name, func(b *testing.B) {
			bk, err := Open(ctx, rawURL, &Options{WriteMemory: budget})
			if err != nil {
				b.Fatal(err)
			}
			defer bk.Close()
			if v.atClose {
				bk.s3.memory.collect = nil
			}
			b.SetBytes(uploads * size)
			var held int64
			var forced uint64
			worst := benchUploadsAtOnce(ctx, b, bk, uploads, size, block, func() func() {
				gcs := forcedGCs()
				stopHeld := heldPeak(bk, &held)
				return func() {
					stopHeld()
					forced = max(forced, forcedGCs()-gcs)
				}
			})
			b.ReportMetric(float64(worst)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(worst)/budget, "heap/budget")
			b.ReportMetric(float64(held)/(1<<20), "peak-held-MiB")
			b.ReportMetric(float64(forced), "forced-GCs")
		})
	}
}

// heldPeak records in *peak the most bytes of WriteMemory that b's writers
// held, sampled every millisecond until stop is called.
func heldPeak(b *Bucket, peak *int64) (stop func()) {
	return every(time.Millisecond, func() {
		h, _ := b.UploadMemory()
		*peak = max(*peak, h)
	})
}
