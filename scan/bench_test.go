package scan_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/filestore-go/filestore/scan"
)

// BenchmarkScan measures scanning throughput (MB/s) of 64 MiB of noise
// through the shared clamd, over TCP with several chunk sizes and over the
// unix socket with the default one.
//
//	go test ./scan/ -run '^$' -bench Scan -benchtime 5x
func BenchmarkScan(b *testing.B) {
	const size = 64 << 20
	type target struct {
		env   string
		chunk int
	}
	var targets []target
	for _, chunk := range []int{16 << 10, 64 << 10, 256 << 10, 1 << 20} {
		targets = append(targets, target{testenv.ClamdVar, chunk})
	}
	targets = append(targets, target{testenv.ClamdUnixVar, 0})
	for _, tt := range targets {
		b.Run(fmt.Sprintf("%s/chunk=%d", tt.env, tt.chunk), func(b *testing.B) {
			clam := newClam(b, testenv.Lookup(b, tt.env, "clamd.sh"), &scan.Options{ChunkSize: tt.chunk})
			ctx := context.Background()
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				res, err := clam.Scan(ctx, noiseThen(size, nil))
				if err != nil || res.Signature != "" {
					b.Fatalf("Scan = %+v, %v; want clean", res, err)
				}
			}
		})
	}
}
