package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"
)

// result is the summary of one load, printed as a line of text or as JSON
// (-json) for the report.
type result struct {
	Label       string  `json:"label,omitempty"`
	Mode        string  `json:"mode"`
	URL         string  `json:"url"`
	Size        int64   `json:"size"` // bytes per request
	Concurrency int     `json:"concurrency"`
	Requests    int64   `json:"requests"` // successful ones
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	Bytes       int64   `json:"bytes"`
	Seconds     float64 `json:"seconds"`
	MBps        float64 `json:"mb_per_s"` // 10^6 bytes per second
	RPS         float64 `json:"req_per_s"`
	P50Ms       float64 `json:"p50_ms"`
	P90Ms       float64 `json:"p90_ms"`
	P99Ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	// Of the server process given with -pid: its peak resident set during
	// the load (VmHWM, after resetting it at the start) and the CPU time it
	// used.
	ServerPID  int     `json:"server_pid,omitempty"`
	RSSAtStart int64   `json:"rss_at_start_bytes,omitempty"`
	PeakRSS    int64   `json:"peak_rss_bytes,omitempty"`
	ServerCPU  float64 `json:"server_cpu_s,omitempty"`

	StartedAt string `json:"started_at"`         // RFC 3339
	LoadAvg   string `json:"loadavg,omitempty"`  // /proc/loadavg at the end
	Location  string `json:"location,omitempty"` // of the last successful upload
}

// summarize fills r's counts, rates and percentiles from t.
func (r *result) summarize(t *tally) {
	r.Requests = int64(len(t.latencies))
	r.Errors = t.errors
	if t.firstErr != nil {
		r.FirstError = t.firstErr.Error()
	}
	r.Bytes = t.bytes
	r.Seconds = t.elapsed.Seconds()
	if r.Seconds > 0 {
		r.MBps = float64(t.bytes) / r.Seconds / 1e6
		r.RPS = float64(r.Requests) / r.Seconds
	}
	lat := slices.Clone(t.latencies)
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	r.P50Ms = ms(percentile(lat, 50))
	r.P90Ms = ms(percentile(lat, 90))
	r.P99Ms = ms(percentile(lat, 99))
	if len(lat) > 0 {
		r.MaxMs = ms(lat[len(lat)-1])
	}
}

// percentile returns the p-th percentile (nearest rank) of sorted, or 0 for
// an empty slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// Nearest rank: the smallest value with at least p% of values <= it.
	rank := int(float64(len(sorted))*p/100 + 0.999999999)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// write prints r as one JSON object, or as a line of text.
func (r *result) write(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	_, err := fmt.Fprintf(w, "%s %s size=%s c=%d: %d ok, %d errors in %.2fs: %.1f MB/s, %.1f req/s; latency p50 %.2fms p90 %.2fms p99 %.2fms max %.2fms",
		r.Mode, r.URL, formatSize(r.Size), r.Concurrency, r.Requests, r.Errors, r.Seconds, r.MBps, r.RPS, r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs)
	if err == nil && r.ServerPID != 0 {
		_, err = fmt.Fprintf(w, "; server pid %d peak RSS %.1f MiB, CPU %.2fs", r.ServerPID, float64(r.PeakRSS)/(1<<20), r.ServerCPU)
	}
	if err == nil && r.FirstError != "" {
		_, err = fmt.Fprintf(w, "; first error: %s", r.FirstError)
	}
	if err == nil {
		_, err = fmt.Fprintln(w)
	}
	return err
}
