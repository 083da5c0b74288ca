package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/filestore-go/filestore
cpu: Intel(R) Xeon(R) Processor
BenchmarkPut4KiB/c16/sqlite-2         	    2000	    912345 ns/op	      1096 ops/s
BenchmarkPut4KiB/c16/sqlite-2         	    2000	    812345 ns/op	      1231 ops/s
BenchmarkPut4KiB/c16/sqlite-2         	    2000	    712345 ns/op	      1404 ops/s
BenchmarkPutDedup/hash-only-2         	       3	 300000000 ns/op	 894.78 MB/s
BenchmarkPut4KiB/c16/postgres
    bench_put_test.go:40: FILESTORE_TEST_POSTGRES is not set: skipping
PASS
ok  	github.com/filestore-go/filestore	12.3s
`
	got := map[string]map[string][]float64{}
	if err := parseGoBench(strings.NewReader(out), got); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string][]float64{
		"BenchmarkPut4KiB/c16/sqlite": {"ns/op": {912345, 812345, 712345}, "ops/s": {1096, 1231, 1404}},
		"BenchmarkPutDedup/hash-only": {"ns/op": {300000000}, "MB/s": {894.78}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parsed (-want +got):\n%s", diff)
	}
}

func TestReport(t *testing.T) {
	dir := t.TempDir()
	put := func(name string, r result) {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	put("large-bare", result{Mode: "post", Size: 1 << 30, Requests: 3, MBps: 400})
	put("large-sqlite", result{Mode: "upload", Size: 1 << 30, Requests: 3, MBps: 380, PeakRSS: 30 * mib, ServerPID: 7, ServerCPU: 1.5})
	put("large4g-sqlite", result{Mode: "upload", Size: 4 << 30, Requests: 1, MBps: 370, PeakRSS: 40 * mib, ServerPID: 7})
	put("large-tusd", result{Mode: "tus", Size: 1 << 30, Requests: 1, MBps: 500, PeakRSS: 35 * mib, ServerPID: 8})
	put("small-tusd-c16@1", result{Mode: "tus", Size: 4096, Requests: 100, RPS: 1000})
	put("small-tusd-c16@2", result{Mode: "tus", Size: 4096, Requests: 100, RPS: 900})
	put("small-tusd-c16@3", result{Mode: "tus", Size: 4096, Requests: 100, RPS: 3000})
	put("small-tusd-c16@4", result{Mode: "tus", Size: 4096, Requests: 0, Errors: 5}) // failed: left out
	put("small-sqlite-c16", result{Mode: "upload", Size: 4096, Requests: 100, RPS: 1600})
	put("small-sqlite-c64", result{Mode: "upload", Size: 4096, Requests: 100, RPS: 1200})
	put("small-tusd-c64", result{Mode: "tus", Size: 4096, Requests: 100, RPS: 1000})
	put("dedup-sqlite", result{Mode: "upload", Size: 1 << 30, Requests: 0, Errors: 3}) // failed: not measured
	if err := os.WriteFile(filepath.Join(dir, "gobench.txt"), []byte(
		"BenchmarkPutDedup/sqlite-2 3 1 ns/op 700 MB/s\nBenchmarkPutDedup/hash-only-2 3 1 ns/op 1000 MB/s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runReport([]string{"-dir", dir}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for l := range strings.SplitSeq(out.String(), "\n") {
		lines[l] = true
	}
	for _, want := range []string{
		"| filestored vs bare (one fdatasync at the end) | 380.0 MB/s | 400.0 MB/s | 0.95 | ≥ 0.90× | PASS |",
		"| filestored vs bare with overlapped writeback | 380.0 MB/s | not measured | — |  | — |",
		"| filestored vs tusd (no sync) | 380.0 MB/s | 500.0 MB/s | 0.76 |  | — |",
		"| 1 GiB upload (reference: tusd, 1 GiB) | 30.0 MiB | 35.0 MiB | 0.86 | ≤ 35.0 MiB | PASS |",
		"| 4 GiB upload (reference: tusd, 1 GiB) | 40.0 MiB | 35.0 MiB | 1.14 | ≤ 35.0 MiB | **MISS** |",
		"| 4 GiB vs 1 GiB (the same: within 10%) | 40.0 MiB | 30.0 MiB | 1.33 | ≤ 1.10× | **MISS** |",
		"| SQLite, 16 clients | 1600.0 req/s | 1000.0 req/s | 1.60 | ≥ 1.50× | PASS |",
		"| SQLite, 64 clients | 1200.0 req/s | 1000.0 req/s | 1.20 | ≥ 1.50× | **MISS** |",
		"| PostgreSQL, 16 clients | not measured | 1000.0 req/s | — | ≥ 1.50× | — |",
		"| filestored, no digest sent (Content-Length declares the size) | not measured | not measured | — | ≥ 0.80× | — |",
		"| Put 256 MiB already stored, no digest, vs hash only | 700.0 MB/s | 1000.0 MB/s | 0.70 |  | — |",
		"| large-sqlite | upload | 1GiB | 0 | 3 | 0 | 380.0 | 0.0 | 0.00 | 0.00 | 30.0 MiB | 1.50 | 500.00 |  |",
		"| small-tusd-c16@3 | tus | 4KiB | 0 | 100 | 0 | 0.0 | 3000.0 | 0.00 | 0.00 | — | — | — |  |",
	} {
		if !lines[want] {
			t.Errorf("report lacks the line\n%s\nreport:\n%s", want, out.String())
		}
	}
}

func TestReportEmpty(t *testing.T) {
	var out bytes.Buffer
	if err := runReport([]string{"-dir", t.TempDir()}, &out, io.Discard); !errors.Is(err, errNoResults) {
		t.Fatalf("err = %v, want errNoResults", err)
	}
}

// TestReportBaseline: the section comparing this build with a baseline
// build appears only when base-* results exist, with this/baseline ratios.
func TestReportBaseline(t *testing.T) {
	const title = "#### This build against the baseline build"
	tests := []struct {
		name    string
		results map[string]result
		want    []string // lines of the report; none when the section must be absent
	}{
		{
			name: "no baseline",
			results: map[string]result{
				"small-sqlite-c16": {Mode: "upload", Size: 4096, Requests: 100, RPS: 1500},
			},
		},
		{
			name: "baseline measured",
			results: map[string]result{
				"small-sqlite-c16":        {Mode: "upload", Size: 4096, Requests: 100, RPS: 1500},
				"base-small-sqlite-c16@1": {Mode: "upload", Size: 4096, Requests: 100, RPS: 800},
				"base-small-sqlite-c16@2": {Mode: "upload", Size: 4096, Requests: 100, RPS: 500},
				"base-small-sqlite-c16@3": {Mode: "upload", Size: 4096, Requests: 100, RPS: 750},
				"large-sqlite":            {Mode: "upload", Size: 1 << 30, Requests: 3, MBps: 400, PeakRSS: 34 * mib},
				"base-large-sqlite":       {Mode: "upload", Size: 1 << 30, Requests: 3, MBps: 320, PeakRSS: 40 * mib},
			},
			want: []string{
				"| 4 KiB uploads, SQLite, 16 clients | 1500.0 req/s | 750.0 req/s | 2.00 |  | — |",
				"| 1 GiB durable upload, MB/s | 400.0 MB/s | 320.0 MB/s | 1.25 |  | — |",
				"| 1 GiB durable upload, peak RSS | 34.0 MiB | 40.0 MiB | 0.85 |  | — |",
				"| 4 KiB uploads, PostgreSQL, 16 clients | not measured | not measured | — |  | — |",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, r := range tt.results {
				b, err := json.Marshal(r)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var out bytes.Buffer
			if err := runReport([]string{"-dir", dir}, &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			report := out.String()
			if got := strings.Contains(report, title); got != (len(tt.want) > 0) {
				t.Fatalf("section present: %v, want %v; report:\n%s", got, len(tt.want) > 0, report)
			}
			_, section, _ := strings.Cut(report, title)
			lines := map[string]bool{}
			for l := range strings.SplitSeq(section, "\n") {
				lines[l] = true
			}
			for _, want := range tt.want {
				if !lines[want] {
					t.Errorf("baseline section lacks the line\n%s\nreport:\n%s", want, report)
				}
			}
		})
	}
}
