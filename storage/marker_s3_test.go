package storage_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/filestore-go/filestore/internal/faults"
	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/filestore-go/filestore/storage"
)

// refuseConditionalMarker answers a conditional write of the marker as an
// S3-compatible server that does not do If-None-Match may: 501 Not
// Implemented.
func refuseConditionalMarker(r *http.Request) (int, string) {
	if r.Method == http.MethodPut && r.Header.Get("If-None-Match") != "" && strings.HasSuffix(r.URL.Path, "/"+storage.MarkerKey) {
		return http.StatusNotImplemented, "NotImplemented"
	}
	return 0, ""
}

// openViaProxy opens a bucket of a fresh S3 test prefix through a
// faults.S3Proxy with refuse (see faults.NewS3Proxy), logging into logs;
// s3URL is the prefix's URL without the proxy. Both close when t ends.
func openViaProxy(t *testing.T, refuse func(r *http.Request) (int, string)) (s3URL string, proxy *faults.S3Proxy, b *storage.Bucket, logs *bytes.Buffer) {
	t.Helper()
	s3URL = testenv.S3URL(t)
	proxy, viaProxy, err := faults.ProxyBucket(s3URL, refuse)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	logs = &bytes.Buffer{}
	b, err = storage.Open(t.Context(), viaProxy, &storage.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return s3URL, proxy, b, logs
}

// TestMarkerWithoutConditionalWrites: an S3 server that answers the
// marker's conditional PutObject with 501 gets it written unconditionally
// when there is none (with a warning), and ErrExists when there is one;
// the marker there is never replaced. Before, the 501 was an error, and a
// Store on such a server never claimed its bucket: /readyz answered 503
// and GC swept nothing, for good.
func TestMarkerWithoutConditionalWrites(t *testing.T) {
	s3URL, proxy, b, logs := openViaProxy(t, refuseConditionalMarker)

	if err := b.CreateMarker(t.Context(), &storage.Marker{Catalog: "first"}); err != nil {
		t.Fatalf("CreateMarker on a server without conditional writes: %v", err)
	}
	if got := proxy.Refused(); got != 1 {
		t.Errorf("conditional writes refused: %d, want 1", got)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "does not implement conditional writes") {
		t.Errorf("no warning about the unconditional write; log:\n%s", logs.String())
	}

	err := b.CreateMarker(t.Context(), &storage.Marker{Catalog: "second"})
	if !errors.Is(err, storage.ErrExists) {
		t.Errorf("second CreateMarker = %v, want ErrExists", err)
	}
	if got := proxy.Refused(); got != 2 {
		t.Errorf("conditional writes refused: %d, want 2", got)
	}

	direct, err := storage.Open(t.Context(), s3URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	m, err := direct.ReadMarker(t.Context())
	if err != nil {
		t.Fatalf("ReadMarker: %v", err)
	}
	if m.Catalog != "first" {
		t.Errorf("marker names %q, want the first one's %q", m.Catalog, "first")
	}
}
