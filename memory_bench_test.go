package filestore_test

import (
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
)

// BenchmarkPutMemory puts a generated stream of 64 MiB and of 1 GiB
// through Put to a local directory with SQLite, and reports the peak heap
// (sampled) and the peak RSS of the process during the upload. Invariant 2
// of design.md: both sizes must use about the same memory.
//
//	go test -run '^$' -bench BenchmarkPutMemory -benchtime 1x .
func BenchmarkPutMemory(b *testing.B) {
	for _, size := range []int64{64 << 20, 1 << 30} {
		b.Run(strconv.FormatInt(size>>20, 10)+"MiB", func(b *testing.B) {
			dir := b.TempDir()
			st, err := filestore.Open(context.Background(), filestore.Options{
				Database: "sqlite://" + filepath.Join(dir, "db"), Bucket: "file://" + filepath.Join(dir, "blobs"),
				Logger: quietLogger(),
			})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			b.SetBytes(size)
			var peakHeap, peakRSS uint64
			for i := 0; b.Loop(); i++ {
				runtime.GC()
				resetPeakRSS()
				stop := sampleHeap(&peakHeap)
				src := io.LimitReader(rand.NewChaCha8([32]byte{byte(i)}), size)
				f, err := st.Put(context.Background(), "bench", "", "big"+strconv.Itoa(i), src, nil)
				stop()
				if err != nil {
					b.Fatal(err)
				}
				if f.Size != size {
					b.Fatalf("stored %d bytes, want %d", f.Size, size)
				}
				peakRSS = max(peakRSS, readPeakRSS())
				if err := st.Purge(context.Background(), "bench", f.ID); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(peakRSS)/(1<<20), "peak-RSS-MiB")
		})
	}
}

// sampleHeap records the largest live heap seen every 5 ms until stop.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			*peak = max(*peak, s[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// resetPeakRSS resets the kernel's peak RSS (VmHWM) of this process.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// readPeakRSS returns VmHWM of this process in bytes (0 if unknown).
func readPeakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
