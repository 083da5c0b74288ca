package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime/multipart"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"gocloud.dev/blob/memblob"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/auth"
	"github.com/filestore-go/filestore/httpapi"
)

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestRequestID(t *testing.T) {
	e := newEnv(t, envOptions{})
	long := strings.Repeat("r", 128)
	tests := []struct {
		name, give string
		echoed     bool
	}{
		{"simple", "abc-123", true},
		{"uuid", "0193f1b2-7c3a-7d4e-9a61-2f0c5e8b1a77", true},
		{"punctuation", "a!b~c{}", true},
		{"128 chars", long, true},
		{"129 chars", long + "r", false},
		{"space", "a b", false},
		{"non-ASCII", "café", false},
		{"tab", "a\tb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("GET", "/v1/files/nope", "", nil, "X-Request-Id", tt.give) // a 401 problem
			got := res.header.Get("X-Request-Id")
			if tt.echoed && got != tt.give {
				t.Errorf("X-Request-Id %q, want %q echoed", got, tt.give)
			}
			if !tt.echoed && !hex32.MatchString(got) {
				t.Errorf("X-Request-Id %q, want a new one", got)
			}
			problemOf(t, res) // checks request_id == X-Request-Id
			if line := e.logs.waitRequest(t, "GET /v1/files/{id}"); line["request_id"] != got {
				t.Errorf("logged request_id %v, want %q", line["request_id"], got)
			}
		})
	}
	t.Run("without header", func(t *testing.T) {
		a := e.do("GET", "/healthz", "", nil).header.Get("X-Request-Id")
		b := e.do("GET", "/healthz", "", nil).header.Get("X-Request-Id")
		if !hex32.MatchString(a) || a == b {
			t.Errorf("request ids %q, %q: want two new ones", a, b)
		}
	})
}

func TestTraceparent(t *testing.T) {
	e := newEnv(t, envOptions{})
	const traceID, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	tests := []struct {
		name, give string
		kept       bool
		flags      string
	}{
		{"sampled", "00-" + traceID + "-" + parent + "-01", true, "01"},
		{"not sampled", "00-" + traceID + "-" + parent + "-00", true, "00"},
		{"future version with more fields", "cc-" + traceID + "-" + parent + "-01-what-the-future-holds", true, "01"},
		{"absent", "", false, "00"},
		{"upper case", "00-" + strings.ToUpper(traceID) + "-" + parent + "-01", false, "00"},
		{"zero trace id", "00-" + strings.Repeat("0", 32) + "-" + parent + "-01", false, "00"},
		{"zero parent id", "00-" + traceID + "-" + strings.Repeat("0", 16) + "-01", false, "00"},
		{"version ff", "ff-" + traceID + "-" + parent + "-01", false, "00"},
		{"version 00 with more fields", "00-" + traceID + "-" + parent + "-01-x", false, "00"},
		{"short", "00-" + traceID[:31] + "-" + parent + "-01", false, "00"},
		{"bad separator", "00_" + traceID + "-" + parent + "-01", false, "00"},
		{"not hex", "00-" + traceID[:31] + "g-" + parent + "-01", false, "00"},
	}
	re := regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("GET", "/healthz", "", nil, "traceparent", tt.give)
			m := re.FindStringSubmatch(res.header.Get("Traceparent"))
			if m == nil {
				t.Fatalf("traceparent %q is not valid", res.header.Get("Traceparent"))
			}
			if tt.kept != (m[1] == traceID) {
				t.Errorf("trace id %s, kept=%v want %v", m[1], m[1] == traceID, tt.kept)
			}
			if m[2] == parent || m[2] == strings.Repeat("0", 16) {
				t.Errorf("span id %s: want a new non-zero one", m[2])
			}
			if m[3] != tt.flags {
				t.Errorf("flags %s, want %s", m[3], tt.flags)
			}
			if line := e.logs.waitRequest(t, "GET /healthz"); line["trace_id"] != m[1] {
				t.Errorf("logged trace_id %v, want %s", line["trace_id"], m[1])
			}
		})
	}
}

// TestRequestLog checks the one line logged per request.
func TestRequestLog(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	e.do("POST", "/v1/files?name=a.txt", tok, strings.NewReader("12345"), "X-Request-Id", "rid-1",
		"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	line := e.logs.waitRequest(t, "POST /v1/files")
	if _, ok := line["duration"]; !ok {
		t.Error("no duration")
	}
	delete(line, "duration")
	bytesOut := line["bytes_out"].(int64)
	if bytesOut < 100 {
		t.Errorf("bytes_out %d", bytesOut)
	}
	delete(line, "bytes_out")
	want := map[string]any{
		"msg": "request", "level": "INFO", "method": "POST", "route": "POST /v1/files", "path": "/v1/files",
		"status": int64(201), "bytes_in": int64(5), "owner": "alice", "client_ip": "127.0.0.1",
		"request_id": "rid-1", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	if diff := cmp.Diff(want, line); diff != "" {
		t.Errorf("log line (-want +got):\n%s", diff)
	}

	e.do("GET", "/v1/files/nope", tok, nil, "X-Request-Id", "rid-2")
	line = e.logs.waitRequest(t, "GET /v1/files/{id}")
	if line["status"] != int64(404) || line["error"] == nil || line["owner"] != "alice" {
		t.Errorf("error line: %v", line)
	}
}

// faultyStore injects panics into a real Store.
type faultyStore struct {
	filestore.Store
}

func (faultyStore) Stats(context.Context) (*filestore.Stats, error) {
	panic("injected panic")
}

func (s faultyStore) Get(ctx context.Context, owner, id string) (*filestore.File, io.ReadSeekCloser, error) {
	f, rc, err := s.Store.Get(ctx, owner, id)
	if err != nil {
		return nil, nil, err
	}
	return f, &panicReader{ReadSeekCloser: rc}, nil
}

// panicReader panics on its second Read: the first is the Handler's read
// of the content's start before the answer's header (which it reads
// because panicReader is no io.ReaderAt), the second one after the
// answer has begun.
type panicReader struct {
	io.ReadSeekCloser
	reads int
}

func (p *panicReader) Read(b []byte) (int, error) {
	if p.reads++; p.reads == 1 {
		return p.ReadSeekCloser.Read(b)
	}
	panic("injected panic mid-body")
}

func TestPanicRecovery(t *testing.T) {
	base := newEnv(t, envOptions{})
	sink := newLogSink()
	v, err := auth.New(auth.Config{Secret: base.secret})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	h, err := httpapi.New(faultyStore{base.store}, httpapi.Config{Auth: httpapi.JWT(v), Logger: slog.New(sink)})
	if err != nil {
		t.Fatal(err)
	}
	base.srv.Config.Handler = h
	res := base.do("GET", "/v1/admin/stats", base.token("root", auth.ScopeAdmin), nil)
	wantProblem(t, res, 500, "internal")
	if strings.Contains(string(res.body), "injected") {
		t.Errorf("the 500 leaks the panic: %s", res.body)
	}
	line := sink.waitRequest(t, "GET /v1/admin/stats")
	if line["status"] != int64(500) || line["level"] != "ERROR" {
		t.Errorf("log line %v", line)
	}
	var panicLine map[string]any
	sink.mu.Lock()
	for _, r := range sink.records {
		if r["msg"] == "panic" {
			panicLine = r
		}
	}
	sink.mu.Unlock()
	if panicLine == nil || !strings.Contains(panicLine["stack"].(string), "faultyStore") {
		t.Errorf("panic line with stack: %v", panicLine)
	}

	// A panic after the answer has begun aborts the connection.
	tok := base.token("alice")
	// Larger than what the Handler reads before the header.
	f := base.upload(tok, "", "a.bin", randomBytes(100<<10, 5))
	req, _ := http.NewRequest("GET", base.srv.URL+"/v1/files/"+f.ID+"/content", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := base.srv.Client().Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("a panic mid-body gave a complete answer")
	}
	// The server goes on serving.
	if res := base.do("GET", "/healthz", "", nil); res.status != 200 {
		t.Errorf("healthz after panics: %d", res.status)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	marker := "EVIL-MARKER"
	e := newEnv(t, envOptions{
		cfg:   httpapi.Config{Registry: reg},
		store: filestore.Options{Scanner: markerScanner{marker: []byte(marker)}},
	})
	tok := e.token("alice")
	f := e.upload(tok, "", "a.txt", []byte("0123456789"))
	e.upload(tok, "", "copy.txt", []byte("0123456789")) // stored once: a dedup hit
	e.do("POST", "/v1/files?name=b.txt", tok, strings.NewReader("xx"+marker))
	e.do("GET", "/v1/files/"+f.ID+"/content", tok, nil)
	e.do("GET", "/v1/files/"+f.ID+"/content", tok, nil, "Range", "bytes=0-1")
	e.do("GET", "/nowhere", tok, nil)

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				got[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		`filestore_http_requests_total{code=201,route=POST /v1/files}`:                    2,
		`filestore_http_requests_total{code=422,route=POST /v1/files}`:                    1,
		`filestore_http_requests_total{code=200,route=GET /v1/files/{id}/content}`:        1,
		`filestore_http_requests_total{code=206,route=GET /v1/files/{id}/content}`:        1,
		`filestore_http_requests_total{code=404,route=unmatched}`:                         1,
		`filestore_http_request_duration_seconds{route=POST /v1/files}_count`:             3,
		`filestore_http_request_duration_seconds{route=GET /v1/files/{id}/content}_count`: 2,
		`filestore_http_request_duration_seconds{route=unmatched}_count`:                  1,
		`filestore_upload_bytes_total{}`:                                                  10 + 10 + 2 + float64(len(marker)),
		`filestore_upload_size_bytes{}_count`:                                             2,
		`filestore_scan_verdicts_total{verdict=clean}`:                                    2,
		`filestore_dedup_hits_total{}`:                                                    1,
		`filestore_scan_verdicts_total{verdict=infected}`:                                 1,
	}
	for k := range got {
		if !strings.HasPrefix(k, "filestore_") {
			delete(got, k)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}

	// The registry is private: a second Handler on it conflicts, and
	// Handlers with their own registries do not.
	if _, err := httpapi.New(e.store, httpapi.Config{Auth: noAuth, Registry: reg}); err == nil {
		t.Error("a second Handler registered in the same registry")
	}
	for range 2 {
		if _, err := httpapi.New(e.store, httpapi.Config{Auth: noAuth}); err != nil {
			t.Errorf("Handlers with private registries: %v", err)
		}
	}
}

// noAuth refuses every request.
var noAuth = httpapi.AuthenticatorFunc(func(*http.Request) (*auth.Caller, error) { return nil, auth.ErrNoToken })

func TestNewErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	tests := []struct {
		name  string
		store filestore.Store
		cfg   httpapi.Config
	}{
		{"no store", nil, httpapi.Config{Auth: noAuth}},
		{"no auth", e.store, httpapi.Config{}},
		{"JWT of nil", e.store, httpapi.Config{Auth: httpapi.JWT(nil)}},
		{"JWT of a nil *auth.Verifier", e.store, httpapi.Config{Auth: httpapi.JWT((*auth.Verifier)(nil))}},
		{"nil AuthenticatorFunc", e.store, httpapi.Config{Auth: httpapi.AuthenticatorFunc(nil)}},
		{"negative size", e.store, httpapi.Config{Auth: noAuth, MaxSize: -1}},
		{"negative rate", e.store, httpapi.Config{Auth: noAuth, RateIP: -1}},
		{"NaN rate", e.store, httpapi.Config{Auth: noAuth, RateUser: math.NaN()}},
		{"infinite rate", e.store, httpapi.Config{Auth: noAuth, RateIP: math.Inf(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := httpapi.New(tt.store, tt.cfg)
			if err == nil || h != nil {
				t.Errorf("New = %v, %v; want an error", h, err)
			}
		})
	}
	for _, tt := range tests {
		if _, err := httpapi.New(tt.store, tt.cfg); !errors.Is(err, httpapi.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", tt.name, err)
		}
	}
}

// TestMetricsDedupOwnContentOnly checks that the dedup counter, which
// /metrics serves without a token, counts only uploads of content the
// owner already had: an upload of content only another owner has must not
// move it (design invariant 8), whether the content is inline or in the
// bucket, with or without its digest.
func TestMetricsDedupOwnContentOnly(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, envOptions{cfg: httpapi.Config{Registry: reg}})
	hits := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "filestore_dedup_hits_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		t.Fatal("no filestore_dedup_hits_total")
		return 0
	}
	alice, bob := e.token("alice"), e.token("bob")
	small := []byte("salary: 123456")
	large := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB, over the inline size
	large2 := bytes.Repeat([]byte("fedcba9876543210"), 8<<10)
	sum := sha256.Sum256(large2)
	digest := hex.EncodeToString(sum[:])
	e.upload(alice, "", "s.txt", small)
	e.upload(alice, "", "l.bin", large)
	e.upload(alice, "", "l2.bin", large2)

	steps := []struct {
		name   string
		tok    string
		body   []byte
		header []string
		want   float64 // the counter after the upload
	}{
		{"bob, inline content only alice has", bob, small, nil, 0},
		{"bob, bucket content only alice has", bob, large, nil, 0},
		{"bob, bucket content only alice has, with its digest", bob, large2, []string{"X-Content-SHA256", digest}, 0},
		{"alice, her own inline content", alice, small, nil, 1},
		{"alice, her own bucket content", alice, large, nil, 2},
		{"alice, her own bucket content, with its digest", alice, large2, []string{"X-Content-SHA256", digest}, 3},
		{"bob, content he now has", bob, small, nil, 4},
	}
	for i, st := range steps {
		res := e.do("POST", fmt.Sprintf("/v1/files?name=f%d", i), st.tok, bytes.NewReader(st.body), st.header...)
		if res.status != 201 {
			t.Fatalf("%s: upload answered %d %s", st.name, res.status, res.body)
		}
		if got := hits(); got != st.want {
			t.Errorf("%s: filestore_dedup_hits_total = %v, want %v", st.name, got, st.want)
		}
	}
}

// TestJSONNotStored checks that every JSON answer (a file, a listing, an
// upload's 201, the operational routes) tells caches not to store it and
// browsers not to sniff it: they hold one owner's names, digests and
// photos' places.
func TestJSONNotStored(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	admin := e.token("root", auth.ScopeAdmin)
	up := e.do("POST", "/v1/files?name=a.txt", tok, strings.NewReader("content"))
	f := decodeFile(t, up.body)
	tests := []struct {
		name string
		res  *response
	}{
		{"upload", up},
		{"stat", e.do("GET", "/v1/files/"+f.ID, tok, nil)},
		{"list", e.do("GET", "/v1/files", tok, nil)},
		{"rename", e.do("PATCH", "/v1/files/"+f.ID, tok, strings.NewReader(`{"name":"b.txt"}`), "Content-Type", "application/json")},
		{"stats", e.do("GET", "/v1/admin/stats", admin, nil)},
		{"healthz", e.do("GET", "/healthz", "", nil)},
		{"readyz", e.do("GET", "/readyz", "", nil)},
	}
	for _, tt := range tests {
		if tt.res.status >= 300 {
			t.Errorf("%s: status %d %s", tt.name, tt.res.status, tt.res.body)
			continue
		}
		got := [2]string{tt.res.header.Get("Cache-Control"), tt.res.header.Get("X-Content-Type-Options")}
		if want := [2]string{"no-store", "nosniff"}; got != want {
			t.Errorf("%s: Cache-Control, X-Content-Type-Options = %q, want %q", tt.name, got, want)
		}
	}
}

// TestLogHandlerNamesRequest: a Store whose logger goes through
// httpapi.LogHandler writes its own lines with the request_id of the
// request they happened in, and the request's line keeps a single one.
func TestLogHandlerNamesRequest(t *testing.T) {
	sink := newLogSink()
	logger := slog.New(httpapi.LogHandler(sink))
	e := newEnv(t, envOptions{
		cfg:   httpapi.Config{Logger: logger},
		store: filestore.Options{Logger: logger, Scanner: downScanner{}, ScanPolicy: filestore.FailOpen},
	})
	res := e.do("POST", "/v1/files?name=a.txt", e.token("alice"), strings.NewReader("content"))
	if res.status != 201 {
		t.Fatalf("upload: %d %s", res.status, res.body)
	}
	id := res.header.Get("X-Request-Id")
	line := sink.waitRequest(t, "POST /v1/files")
	if line["request_id"] != id {
		t.Errorf("request line request_id %v, want %s", line["request_id"], id)
	}
	sink.mu.Lock()
	records := slices.Clone(sink.records)
	sink.mu.Unlock()
	var found bool
	for _, m := range records {
		if m["msg"] == "filestore: scanner unavailable, stored unscanned (fail-open)" {
			found = true
			if m["request_id"] != id {
				t.Errorf("the Store's line %v has request_id %v, want %s", m["msg"], m["request_id"], id)
			}
		}
	}
	if !found {
		t.Errorf("no fail-open line among %v", records)
	}
	// Outside a request, nothing is added.
	logger.Info("outside")
	sink.mu.Lock()
	m := sink.records[len(sink.records)-1]
	sink.mu.Unlock()
	if m["msg"] != "outside" || m["request_id"] != nil {
		t.Errorf("line outside a request: %v", m)
	}
}

// memoryStore reports fixed S3 upload memory figures.
type memoryStore struct {
	filestore.Store
	held    int64
	waiting int
}

func (s *memoryStore) UploadMemory() (int64, int) { return s.held, s.waiting }

// TestMetricsS3UploadMemory: /metrics serves a Store's S3 upload memory, as
// it stands when scraped, and has no such gauges for a Store without it.
func TestMetricsS3UploadMemory(t *testing.T) {
	gauges := func(reg *prometheus.Registry) map[string]float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			if strings.HasPrefix(mf.GetName(), "filestore_s3_") {
				got[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return got
	}
	ms := &memoryStore{held: 90 << 20, waiting: 3}
	reg := prometheus.NewRegistry()
	newEnv(t, envOptions{cfg: httpapi.Config{Registry: reg}, wrapStore: func(s filestore.Store) filestore.Store { ms.Store = s; return ms }})
	want := map[string]float64{"filestore_s3_upload_memory_held_bytes": 90 << 20, "filestore_s3_uploads_waiting": 3}
	if diff := cmp.Diff(want, gauges(reg)); diff != "" {
		t.Errorf("gauges (-want +got):\n%s", diff)
	}
	ms.held, ms.waiting = 0, 0
	want = map[string]float64{"filestore_s3_upload_memory_held_bytes": 0, "filestore_s3_uploads_waiting": 0}
	if diff := cmp.Diff(want, gauges(reg)); diff != "" {
		t.Errorf("gauges after the uploads ended (-want +got):\n%s", diff)
	}

	type plainStore struct{ filestore.Store }
	reg = prometheus.NewRegistry()
	newEnv(t, envOptions{cfg: httpapi.Config{Registry: reg}, wrapStore: func(s filestore.Store) filestore.Store { return plainStore{s} }})
	if got := gauges(reg); len(got) != 0 {
		t.Errorf("gauges of a Store without UploadMemory: %v, want none", got)
	}
}

// TestLogHandlerErrorMessages: an error logged through httpapi.LogHandler
// over a text handler is written as its message, on one line, without
// the stack frame a gocloud.dev error prints under %+v: as an attribute,
// in a group, and in the attributes of Logger.With.
func TestLogHandlerErrorMessages(t *testing.T) {
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	_, notFound := bucket.NewReader(context.Background(), "missing", nil)
	if notFound == nil {
		t.Fatal("memblob found an object that was never written")
	}
	const msg = `"blob (key \"missing\") (code=NotFound): blob not found"`
	tests := []struct {
		name string
		log  func(*slog.Logger)
		want string
	}{
		{"attribute", func(l *slog.Logger) { l.Warn("read", "err", notFound) },
			"level=WARN msg=read err=" + msg + "\n"},
		{"wrapped", func(l *slog.Logger) { l.Warn("read", "err", fmt.Errorf("storage: read: %w", notFound)) },
			`level=WARN msg=read err="storage: read: blob (key \"missing\") (code=NotFound): blob not found"` + "\n"},
		{"group", func(l *slog.Logger) { l.Warn("read", slog.Group("op", "key", "missing", "err", notFound)) },
			"level=WARN msg=read op.key=missing op.err=" + msg + "\n"},
		{"with", func(l *slog.Logger) { l.With("err", notFound).Warn("read", "try", 2) },
			"level=WARN msg=read err=" + msg + " try=2\n"},
		{"not an error", func(l *slog.Logger) { l.Info("n", "n", 3, "s", []string{"a"}) },
			"level=INFO msg=n n=3 s=[a]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			text := slog.NewTextHandler(&buf, &slog.HandlerOptions{
				ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
					if len(groups) == 0 && a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				},
			})
			tt.log(slog.New(httpapi.LogHandler(text)))
			if diff := cmp.Diff(tt.want, buf.String()); diff != "" {
				t.Errorf("log line (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRequestLogBounded: the path and the error of a request's log line,
// which the client chooses, are cut to 1 KiB and 2 KiB (at a rune
// boundary) with the full length noted, so that a 60 KB request cannot
// make a line that log collectors split.
func TestRequestLogBounded(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	const boundary = "B"
	malformed := "--" + boundary + "\r\nX" + strings.Repeat("\x01", 60000) + "\r\n\r\nhello\r\n--" + boundary + "--\r\n"
	_, mimeErr := multipart.NewReader(strings.NewReader(malformed), boundary).NextPart()
	if mimeErr == nil {
		t.Fatal("mime/multipart accepts a header line without a colon")
	}
	multipartErr := "bad_request: the multipart body is malformed: " + mimeErr.Error()
	b1014, b1013 := strings.Repeat("b", 1014), strings.Repeat("b", 1013)
	tests := []struct {
		name, method, path string
		body               string
		header             []string
		route              string
		wantStatus         int64
		wantPath           string
		wantError          string
	}{
		{
			name: "long path", method: "GET", path: "/v1/files/" + strings.Repeat("b", 60000),
			route: "GET /v1/files/{id}", wantStatus: 404,
			wantPath:  "/v1/files/" + b1014 + "... (60010 bytes in all)",
			wantError: "filestore: not found",
		},
		{
			// "é" is two bytes; the 1024th byte is the first of one.
			name: "cut before a rune", method: "GET", path: "/v1/files/" + b1013 + strings.Repeat("é", 600),
			route: "GET /v1/files/{id}", wantStatus: 404,
			wantPath:  "/v1/files/" + b1013 + "... (2223 bytes in all)",
			wantError: "filestore: not found",
		},
		{
			name: "multipart header quoted into the error", method: "POST", path: "/v1/files",
			body: malformed, header: []string{"Content-Type", "multipart/form-data; boundary=" + boundary},
			route: "POST /v1/files", wantStatus: 400, wantPath: "/v1/files",
			wantError: multipartErr[:2048] + fmt.Sprintf("... (%d bytes in all)", len(multipartErr)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(tt.method, tt.path, tok, strings.NewReader(tt.body), tt.header...)
			if int64(res.status) != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", res.status, tt.wantStatus, res.body)
			}
			line := e.logs.waitRequest(t, tt.route)
			got := map[string]any{"path": line["path"], "error": line["error"]}
			want := map[string]any{"path": tt.wantPath, "error": tt.wantError}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("log line (-want +got):\n%s", diff)
			}
		})
	}
}
