package httpapi

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/filestore-go/filestore"
)

// metrics are the Handler's Prometheus collectors.
type metrics struct {
	requests    *prometheus.CounterVec   // by route and status code
	duration    *prometheus.HistogramVec // by route
	uploadBytes prometheus.Counter       // request body bytes read by uploads
	uploadSizes prometheus.Histogram     // sizes of stored files
	scans       *prometheus.CounterVec   // by verdict
	rateLimited *prometheus.CounterVec   // by limiter
	inFlight    prometheus.Gauge
}

// DedupCounter is an optional interface of a Store (filestore.Service has
// it): the number of uploads whose content was already stored. When the
// Store has it, /metrics serves it as filestore_dedup_hits_total.
type DedupCounter interface {
	DedupHits() uint64
}

// registerDedupHits serves store's dedup hits in reg, if it counts them.
func registerDedupHits(reg *prometheus.Registry, store filestore.Store) error {
	dc, ok := store.(DedupCounter)
	if !ok {
		return nil
	}
	err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "filestore_dedup_hits_total",
		Help: "Uploads whose content was already stored (no new bytes kept), counted by this process's Store.",
	}, func() float64 { return float64(dc.DedupHits()) }))
	if err != nil {
		return fmt.Errorf("httpapi: register metrics: %w", err)
	}
	return nil
}

// UploadMemoryReporter is an optional interface of a Store (filestore.Service
// has it): the memory that uploads to S3 hold now, and how many wait for
// their share (filestore.Options.S3UploadMemory). When the Store has it,
// /metrics serves them as filestore_s3_upload_memory_held_bytes and
// filestore_s3_uploads_waiting.
type UploadMemoryReporter interface {
	UploadMemory() (held int64, waiting int)
}

// registerUploadMemory serves store's S3 upload memory in reg, if it
// reports it.
func registerUploadMemory(reg *prometheus.Registry, store filestore.Store) error {
	um, ok := store.(UploadMemoryReporter)
	if !ok {
		return nil
	}
	for _, g := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "filestore_s3_upload_memory_held_bytes",
			Help: "Memory that uploads to S3 hold now for their parts, out of the S3 upload memory budget (0 on other buckets or with no budget).",
		}, func() float64 { held, _ := um.UploadMemory(); return float64(held) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "filestore_s3_uploads_waiting",
			Help: "Uploads to S3 waiting for their share of the S3 upload memory budget (or of their owner's half of it).",
		}, func() float64 { _, waiting := um.UploadMemory(); return float64(waiting) }),
	} {
		if err := reg.Register(g); err != nil {
			return fmt.Errorf("httpapi: register metrics: %w", err)
		}
	}
	return nil
}

// routeUnmatched is the route label of requests that matched no route.
const routeUnmatched = "unmatched"

// NewRegistry returns a new private registry holding the Go and process
// collectors: Config.Registry's default, for a caller that adds metrics of
// its own to what /metrics serves.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	// A new registry has no collector these could clash with.
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// newMetrics registers the Handler's collectors in reg, or in a
// NewRegistry when reg is nil.
func newMetrics(reg *prometheus.Registry) (*metrics, *prometheus.Registry, error) {
	if reg == nil {
		reg = NewRegistry()
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "filestore_http_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "filestore_http_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its answer, by route pattern.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"route"}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "filestore_upload_bytes_total",
			Help: "Request body bytes read by uploads, stored or not.",
		}),
		uploadSizes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "filestore_upload_size_bytes",
			Help:    "Sizes of the files stored by uploads.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 12), // 1 KiB .. 4 GiB
		}),
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "filestore_scan_verdicts_total",
			Help: "Scan outcomes of uploads: clean, infected, unscanned (no scanner, or let in without a verdict), unavailable (refused, scanner down).",
		}, []string{"verdict"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "filestore_rate_limited_total",
			Help: "Requests refused with 429, by limiter (ip or owner; uploads, downloads: an owner over its uploads, or downloads of content, in progress).",
		}, []string{"limiter"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "filestore_http_requests_in_flight",
			Help: "Requests being served.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.uploadBytes, m.uploadSizes, m.scans, m.rateLimited, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, nil, fmt.Errorf("httpapi: register metrics: %w", err)
		}
	}
	return m, reg, nil
}

// observe counts one answered request.
func (m *metrics) observe(route string, status int, d time.Duration) {
	if route == "" {
		route = routeUnmatched
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// observeUpload counts the scan verdict and size of an upload from Put's
// result.
func (m *metrics) observeUpload(f *filestore.File, err error) {
	switch {
	case err == nil:
		m.scans.WithLabelValues(string(f.Scan.Status)).Inc()
		m.uploadSizes.Observe(float64(f.Size))
	case errors.Is(err, filestore.ErrInfected):
		m.scans.WithLabelValues("infected").Inc()
	case errors.Is(err, filestore.ErrScannerUnavailable):
		m.scans.WithLabelValues("unavailable").Inc()
	}
}
