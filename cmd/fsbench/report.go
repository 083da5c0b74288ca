package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// errNoResults: the report found nothing to report.
var errNoResults = errors.New("fsbench: no results")

// mib is a mebibyte, for the RSS limits.
const mib = 1 << 20

// verdict kinds of a check.
const (
	atLeast = iota // figure/reference >= bound
	atMost         // figure/reference <= bound
	limit          // figure <= bound (absolute; the reference is shown)
	info           // no target: the ratio is shown
)

// check is one row of the report: a figure, its reference measured in the
// same run, and the target. Figures are result names (the JSON files of the
// results directory, written by the load commands with -json; NAME@N.json
// is round N of NAME, and a figure is the median of its rounds) or,
// prefixed with "go:", benchmark names of gobench.txt (go test -bench
// output, the median of its lines).
type check struct {
	what, figure, ref string
	metric            string // "MB/s", "req/s", "peak RSS", or a go test -bench unit
	kind              int
	bound             float64
}

// section is a table of the report, one per target of issue 6.
type section struct {
	title  string
	checks []check
}

// sections are the targets, with the names bench.sh gives its results.
func sections() []section {
	return []section{
		{"1 GiB durable upload, local directory + SQLite (target: at least 0.9 of the bare hash+write+fdatasync server)", []check{
			{"filestored vs bare (one fdatasync at the end)", "large-sqlite", "large-bare", "MB/s", atLeast, 0.9},
			{"filestored vs bare with overlapped writeback", "large-sqlite", "large-bare-overlap", "MB/s", info, 0},
			{"filestored vs tusd (no sync)", "large-sqlite", "large-tusd", "MB/s", info, 0},
		}},
		{"Peak RSS of filestored during 1 GiB and 4 GiB uploads (target: at most 35 MiB, tusd's, and the same for both)", []check{
			{"1 GiB upload (reference: tusd, 1 GiB)", "large-sqlite", "large-tusd", "peak RSS", limit, 35 * mib},
			{"4 GiB upload (reference: tusd, 1 GiB)", "large4g-sqlite", "large-tusd", "peak RSS", limit, 35 * mib},
			{"4 GiB vs 1 GiB (the same: within 10%)", "large4g-sqlite", "large-sqlite", "peak RSS", atMost, 1.1},
		}},
		{"4 KiB durable uploads per second (target: at least 1.5 times tusd's rate, same client)", []check{
			{"SQLite, 16 clients", "small-sqlite-c16", "small-tusd-c16", "req/s", atLeast, 1.5},
			{"SQLite, 64 clients", "small-sqlite-c64", "small-tusd-c64", "req/s", atLeast, 1.5},
			{"PostgreSQL, 16 clients", "small-postgres-c16", "small-tusd-c16", "req/s", atLeast, 1.5},
			{"PostgreSQL, 64 clients", "small-postgres-c64", "small-tusd-c64", "req/s", atLeast, 1.5},
		}},
		{"1 GiB upload of content already stored (target: at least 0.8 of a server that only hashes)", []check{
			{"filestored, the client sends X-Content-SHA256", "dedup-sqlite-digest", "dedup-hash", "MB/s", atLeast, 0.8},
			{"filestored, no digest sent (Content-Length declares the size)", "dedup-sqlite", "dedup-hash", "MB/s", atLeast, 0.8},
		}},
		{"Downloads of the 1 GiB file (target: at least 0.9 of plain http.ServeContent of the same file)", []check{
			{"whole file, 1 client", "download-sqlite", "download-file", "MB/s", atLeast, 0.9},
			{"4 KiB random ranges, 16 clients", "range-sqlite", "range-file", "req/s", atLeast, 0.9},
		}},
		{"Library level, no HTTP (go test -bench; no target, the reference is measured in the same run)", []check{
			{"Put 4 KiB, SQLite, 16 goroutines vs write+fdatasync", "go:BenchmarkPut4KiB/c16/sqlite", "go:BenchmarkPut4KiB/c16/bare", "ops/s", info, 0},
			{"Put 4 KiB, SQLite, 64 goroutines vs write+fdatasync", "go:BenchmarkPut4KiB/c64/sqlite", "go:BenchmarkPut4KiB/c64/bare", "ops/s", info, 0},
			{"Put 4 KiB, PostgreSQL, 16 goroutines vs write+fdatasync", "go:BenchmarkPut4KiB/c16/postgres", "go:BenchmarkPut4KiB/c16/bare", "ops/s", info, 0},
			{"Put 4 KiB, PostgreSQL, 64 goroutines vs write+fdatasync", "go:BenchmarkPut4KiB/c64/postgres", "go:BenchmarkPut4KiB/c64/bare", "ops/s", info, 0},
			{"Put 4 KiB inline vs as a file of its own (InlineMax -1), SQLite, 16 goroutines", "go:BenchmarkPut4KiB/c16/sqlite", "go:BenchmarkPut4KiB/c16/sqlite-noinline", "ops/s", info, 0},
			{"Put 4 KiB inline vs as a file of its own (InlineMax -1), SQLite, 64 goroutines", "go:BenchmarkPut4KiB/c64/sqlite", "go:BenchmarkPut4KiB/c64/sqlite-noinline", "ops/s", info, 0},
			{"Put 4 KiB inline vs as a file of its own (InlineMax -1), PostgreSQL, 16 goroutines", "go:BenchmarkPut4KiB/c16/postgres", "go:BenchmarkPut4KiB/c16/postgres-noinline", "ops/s", info, 0},
			{"Put 4 KiB inline vs as a file of its own (InlineMax -1), PostgreSQL, 64 goroutines", "go:BenchmarkPut4KiB/c64/postgres", "go:BenchmarkPut4KiB/c64/postgres-noinline", "ops/s", info, 0},
			{"Put 256 MiB durable vs hash+write+fdatasync", "go:BenchmarkPutLarge/sqlite", "go:BenchmarkPutLarge/bare", "MB/s", info, 0},
			{"Put 256 MiB already stored, with its digest, vs hash only", "go:BenchmarkPutDedup/sqlite-digest", "go:BenchmarkPutDedup/hash-only", "MB/s", info, 0},
			{"Put 256 MiB already stored, no digest, vs hash only", "go:BenchmarkPutDedup/sqlite", "go:BenchmarkPutDedup/hash-only", "MB/s", info, 0},
			{"Put 256 MiB already stored, size declared (no digest), vs hash only", "go:BenchmarkPutDedup/sqlite-size", "go:BenchmarkPutDedup/hash-only", "MB/s", info, 0},
			{"Put 256 MiB already stored on S3 (versitygw), size declared (compared) vs no digest (staged)", "go:BenchmarkPutDedup/sqlite-s3-size", "go:BenchmarkPutDedup/sqlite-s3", "MB/s", info, 0},
		}},
	}
}

// baselineSection compares this build with the baseline build that
// bench.sh measures, interleaved, when BASELINE is set (results base-*).
func baselineSection() section {
	return section{"This build against the baseline build (bench.sh BASELINE=..., interleaved in the same run; no target: the ratio is this build's figure over the baseline's)", []check{
		{"1 GiB durable upload, MB/s", "large-sqlite", "base-large-sqlite", "MB/s", info, 0},
		{"1 GiB durable upload, peak RSS", "large-sqlite", "base-large-sqlite", "peak RSS", info, 0},
		{"4 KiB uploads, SQLite, 16 clients", "small-sqlite-c16", "base-small-sqlite-c16", "req/s", info, 0},
		{"4 KiB uploads, SQLite, 64 clients", "small-sqlite-c64", "base-small-sqlite-c64", "req/s", info, 0},
		{"4 KiB uploads, PostgreSQL, 16 clients", "small-postgres-c16", "base-small-postgres-c16", "req/s", info, 0},
		{"4 KiB uploads, PostgreSQL, 64 clients", "small-postgres-c64", "base-small-postgres-c64", "req/s", info, 0},
		{"1 GiB of stored content, with its digest", "dedup-sqlite-digest", "base-dedup-sqlite-digest", "MB/s", info, 0},
		{"1 GiB of stored content, no digest", "dedup-sqlite", "base-dedup-sqlite", "MB/s", info, 0},
		{"whole-file download", "download-sqlite", "base-download-sqlite", "MB/s", info, 0},
		{"4 KiB random ranges, 16 clients", "range-sqlite", "base-range-sqlite", "req/s", info, 0},
	}}
}

// hasBaseline reports whether f has results of a baseline build.
func (f *figures) hasBaseline() bool {
	for n := range f.runs {
		if strings.HasPrefix(n, "base-") {
			return true
		}
	}
	return false
}

// figures holds what the results directory measured.
type figures struct {
	loads map[string]*result              // by file name without .json
	runs  map[string][]*result            // by figure name: the file name up to any "@" (NAME@2.json is round 2 of NAME)
	bench map[string]map[string][]float64 // benchmark name (no -N suffix) -> unit -> values
}

// value returns the metric of a figure, and whether it was measured.
func (f *figures) value(name, metric string) (float64, bool) {
	if b, ok := strings.CutPrefix(name, "go:"); ok {
		vs := f.bench[b][metric]
		if len(vs) == 0 {
			return 0, false
		}
		return median(vs), true
	}
	var vs []float64
	for _, r := range f.runs[name] {
		if r.Requests == 0 {
			continue
		}
		switch metric {
		case "MB/s":
			vs = append(vs, r.MBps)
		case "req/s":
			vs = append(vs, r.RPS)
		case "peak RSS":
			if r.PeakRSS > 0 {
				vs = append(vs, float64(r.PeakRSS))
			}
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	return median(vs), true
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// loadFigures reads every *.json result and gobench.txt in dir.
func loadFigures(dir string) (*figures, error) {
	f := &figures{loads: map[string]*result{}, runs: map[string][]*result{}, bench: map[string]map[string][]float64{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("fsbench: report: %w", err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("fsbench: report: %w", err)
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("fsbench: report: %s: %w", e.Name(), err)
		}
		f.loads[name] = &r
		base, _, _ := strings.Cut(name, "@")
		f.runs[base] = append(f.runs[base], &r)
	}
	gb, err := os.Open(filepath.Join(dir, "gobench.txt"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("fsbench: report: %w", err)
	default:
		defer gb.Close()
		if err := parseGoBench(gb, f.bench); err != nil {
			return nil, fmt.Errorf("fsbench: report: gobench.txt: %w", err)
		}
	}
	if len(f.loads) == 0 && len(f.bench) == 0 {
		return nil, fmt.Errorf("%w in %s", errNoResults, dir)
	}
	return f, nil
}

// parseGoBench adds the metrics of go test -bench output to into, by
// benchmark name without its -GOMAXPROCS suffix.
func parseGoBench(r io.Reader, into map[string]map[string][]float64) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		if _, err := strconv.ParseInt(fields[1], 10, 64); err != nil {
			continue // not a result line
		}
		name := fields[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		if into[name] == nil {
			into[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				break
			}
			into[name][fields[i+1]] = append(into[name][fields[i+1]], v)
		}
	}
	return sc.Err()
}

// formatMetric writes v in the metric's unit.
func formatMetric(v float64, metric string) string {
	if metric == "peak RSS" {
		return fmt.Sprintf("%.1f MiB", v/mib)
	}
	return fmt.Sprintf("%.1f %s", v, metric)
}

// writeReport writes the markdown tables of f to w.
func writeReport(w io.Writer, f *figures) error {
	bw := bufio.NewWriter(w)
	all := sections()
	if f.hasBaseline() {
		all = append(all, baselineSection())
	}
	for _, s := range all {
		fmt.Fprintf(bw, "#### %s\n\n", s.title)
		fmt.Fprintln(bw, "| figure | measured | reference | ratio | target | verdict |")
		fmt.Fprintln(bw, "|---|---:|---:|---:|---|---|")
		for _, c := range s.checks {
			v, okv := f.value(c.figure, c.metric)
			r, okr := f.value(c.ref, c.metric)
			cell := func(x float64, ok bool) string {
				if !ok {
					return "not measured"
				}
				return formatMetric(x, c.metric)
			}
			ratio, verdict := "—", "—"
			if okv && okr && r > 0 {
				ratio = fmt.Sprintf("%.2f", v/r)
			}
			target := ""
			switch c.kind {
			case atLeast:
				target = fmt.Sprintf("≥ %.2f×", c.bound)
			case atMost:
				target = fmt.Sprintf("≤ %.2f×", c.bound)
			case limit:
				target = "≤ " + formatMetric(c.bound, c.metric)
			}
			if okv && (okr || c.kind == limit) {
				pass := false
				switch c.kind {
				case atLeast:
					pass = r > 0 && v/r >= c.bound
				case atMost:
					pass = r > 0 && v/r <= c.bound
				case limit:
					pass = v <= c.bound
				}
				switch {
				case c.kind == info:
				case pass:
					verdict = "PASS"
				default:
					verdict = "**MISS**"
				}
			}
			fmt.Fprintf(bw, "| %s | %s | %s | %s | %s | %s |\n", c.what, cell(v, okv), cell(r, okr), ratio, target, verdict)
		}
		fmt.Fprintln(bw)
	}
	if len(f.loads) > 0 {
		fmt.Fprintln(bw, "#### Every load run")
		fmt.Fprintln(bw)
		fmt.Fprintln(bw, "| result | mode | size | clients | requests | errors | MB/s | req/s | p50 ms | p99 ms | server peak RSS | server CPU s | server CPU ms/req | load average |")
		fmt.Fprintln(bw, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
		names := make([]string, 0, len(f.loads))
		for n := range f.loads {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			r := f.loads[n]
			rss := "—"
			if r.PeakRSS > 0 {
				rss = fmt.Sprintf("%.1f MiB", float64(r.PeakRSS)/mib)
			}
			cpu, perReq := "—", "—"
			if r.ServerPID != 0 {
				cpu = fmt.Sprintf("%.2f", r.ServerCPU)
				if r.Requests > 0 {
					perReq = fmt.Sprintf("%.2f", r.ServerCPU*1000/float64(r.Requests))
				}
			}
			fmt.Fprintf(bw, "| %s | %s | %s | %d | %d | %d | %.1f | %.1f | %.2f | %.2f | %s | %s | %s | %s |\n",
				n, r.Mode, formatSize(r.Size), r.Concurrency, r.Requests, r.Errors, r.MBps, r.RPS, r.P50Ms, r.P99Ms, rss, cpu, perReq, r.LoadAvg)
		}
		fmt.Fprintln(bw)
	}
	return bw.Flush()
}

// runReport is the report command: the markdown tables of a results
// directory.
func runReport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "results directory written by scripts/bench.sh (required)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *dir == "" {
		return fmt.Errorf("%w: -dir is required", errUsage)
	}
	f, err := loadFigures(*dir)
	if err != nil {
		return err
	}
	return writeReport(stdout, f)
}
