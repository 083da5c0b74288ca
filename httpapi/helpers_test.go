package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/auth"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/httpapi"
	"github.com/filestore-go/filestore/internal/testenv"
)

// newFakeClock returns a settable clock at the tests' usual start.
func newFakeClock() *testenv.Clock {
	return testenv.NewClock(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
}

// logSink is a slog.Handler that keeps every record's attributes and
// signals each request line on a channel.
type logSink struct {
	mu       sync.Mutex
	records  []map[string]any
	requests chan map[string]any
}

func newLogSink() *logSink { return &logSink{requests: make(chan map[string]any, 1000)} }

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }

func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"msg": r.Message, "level": r.Level.String()}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Any()
		return true
	})
	s.mu.Lock()
	s.records = append(s.records, m)
	s.mu.Unlock()
	if r.Message == "request" {
		select {
		case s.requests <- m:
		default:
		}
	}
	return nil
}

func (s *logSink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *logSink) WithGroup(string) slog.Handler      { return s }

// waitRequest returns the next request log line whose route is route.
func (s *logSink) waitRequest(t *testing.T, route string) map[string]any {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m := <-s.requests:
			if m["route"] == route {
				return m
			}
		case <-timeout:
			t.Fatalf("no request log line for %s", route)
			return nil
		}
	}
}

// env is a running server over a real Store (SQLite and, unless
// envOptions.bucket says otherwise, a file:// bucket in a temporary
// directory).
type env struct {
	t      testing.TB
	srv    *httptest.Server
	store  *filestore.Service
	dir    string
	secret []byte
	clock  *testenv.Clock
	logs   *logSink
	h      *httpapi.Handler
}

type envOptions struct {
	cfg   httpapi.Config                  // Auth, Logger, Now filled in when nil
	store filestore.Options               // Database, Bucket and Logger filled in
	http  func(s *http.Server)            // adjusts the server before it starts
	auth  func(c *auth.Config)            // adjusts the verifier's config
	wrap  func(http.Handler) http.Handler // wraps the Handler
	// wrapStore wraps the Store that the Handler serves.
	wrapStore func(filestore.Store) filestore.Store
	// listener replaces the test server's listener.
	listener net.Listener
	// bucket replaces the file:// bucket in the test's directory.
	bucket string
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, clock: newFakeClock(), logs: newLogSink()}
	sec, err := auth.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	e.secret = []byte(sec)

	so := o.store
	so.Database = "sqlite://" + filepath.Join(dir, "filestore.db")
	so.Bucket = "file://" + filepath.Join(dir, "blobs")
	if o.bucket != "" {
		so.Bucket = o.bucket
	}
	if so.Logger == nil {
		so.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := filestore.Open(ctx, so)
	if err != nil {
		t.Fatalf("filestore.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e.store = st

	cfg := o.cfg
	if cfg.Auth == nil {
		ac := auth.Config{Secret: e.secret}
		if o.auth != nil {
			o.auth(&ac)
		}
		v, err := auth.New(ac)
		if err != nil {
			t.Fatalf("auth.New: %v", err)
		}
		t.Cleanup(func() { _ = v.Close() })
		cfg.Auth = httpapi.JWT(v)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(e.logs)
	}
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	var served filestore.Store = st
	if o.wrapStore != nil {
		served = o.wrapStore(st)
	}
	h, err := httpapi.New(served, cfg)
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	e.h = h
	var handler http.Handler = h
	if o.wrap != nil {
		handler = o.wrap(h)
	}
	e.srv = httptest.NewUnstartedServer(handler)
	if o.http != nil {
		o.http(e.srv.Config)
	}
	if o.listener != nil {
		e.srv.Listener.Close()
		e.srv.Listener = o.listener
	}
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

// token mints a token for sub with scopes (none given: the default
// files:read files:write).
func (e *env) token(sub string, scopes ...string) string {
	e.t.Helper()
	var sc []string
	if len(scopes) > 0 {
		sc = scopes
	}
	tok, err := auth.Mint(e.secret, sub, sc, time.Hour, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// response is an answer read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with the bearer token tok ("" for none) and reads the
// answer.
func (e *env) do(method, path, tok string, body io.Reader, header ...string) *response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) *response {
	e.t.Helper()
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}
}

// upload stores content as folder/name for the token's owner with a raw
// body and returns the File.
func (e *env) upload(tok, folder, name string, content []byte) *filestore.File {
	e.t.Helper()
	res := e.do("POST", "/v1/files?folder="+urlQuery(folder)+"&name="+urlQuery(name), tok, bytes.NewReader(content))
	if res.status != http.StatusCreated {
		e.t.Fatalf("upload %s/%s: %d %s", folder, name, res.status, res.body)
	}
	return decodeFile(e.t, res.body)
}

func urlQuery(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", "#", "%23", " ", "%20", "?", "%3F", "=", "%3D").Replace(s)
}

func decodeFile(t testing.TB, b []byte) *filestore.File {
	t.Helper()
	var f filestore.File
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("decode File %s: %v", b, err)
	}
	return &f
}

// problemBody is a problem answer without its request id.
type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
}

// problemOf decodes a problem answer, checking its media type and that it
// carries the response's X-Request-Id.
func problemOf(t testing.TB, res *response) problemBody {
	t.Helper()
	if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, res.body)
	}
	var p struct {
		problemBody
		Detail    string `json:"detail"`
		RequestID string `json:"request_id"`
	}
	dec := json.NewDecoder(bytes.NewReader(res.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decode problem %s: %v", res.body, err)
	}
	if p.RequestID == "" || p.RequestID != res.header.Get("X-Request-Id") {
		t.Errorf("problem request_id %q, X-Request-Id %q", p.RequestID, res.header.Get("X-Request-Id"))
	}
	if p.Detail == "" {
		t.Errorf("problem without detail: %s", res.body)
	}
	return p.problemBody
}

// wantProblem checks res is the problem (status, code), and that a 503
// carries Retry-After: 5.
func wantProblem(t testing.TB, res *response, status int, code string) {
	t.Helper()
	want := problemBody{Type: "about:blank", Title: http.StatusText(status), Status: status, Code: code}
	if res.status != status {
		t.Errorf("status %d, want %d; body %s", res.status, status, res.body)
	}
	if diff := cmp.Diff(want, problemOf(t, res)); diff != "" {
		t.Errorf("problem (-want +got):\n%s", diff)
	}
	if got := res.header.Get("Retry-After"); status == http.StatusServiceUnavailable && got != "5" {
		t.Errorf("a 503 with Retry-After %q, want 5", got)
	}
}

// detailOf returns the detail of a problem answer.
func detailOf(t testing.TB, res *response) string {
	t.Helper()
	var p struct {
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(res.body, &p); err != nil {
		t.Fatalf("decode problem %s: %v", res.body, err)
	}
	return p.Detail
}

// blobFiles lists the regular files under the bucket directory.
func (e *env) blobFiles() []string {
	e.t.Helper()
	return filestoretest.BucketFiles(e.t, filepath.Join(e.dir, "blobs"))
}

// markerScanner is a Scanner that flags content containing marker,
// streaming (it keeps only the last len(marker)-1 bytes).
type markerScanner struct{ marker []byte }

func (s markerScanner) Scan(ctx context.Context, r io.Reader) (*filestore.ScanResult, error) {
	res := &filestore.ScanResult{Engine: "marker", Version: "1"}
	buf := make([]byte, 32<<10)
	var tail []byte
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := r.Read(buf)
		window := append(tail, buf[:n]...)
		if bytes.Contains(window, s.marker) {
			res.Signature = "Test.Marker"
		}
		if keep := len(s.marker) - 1; len(window) > keep {
			tail = append([]byte(nil), window[len(window)-keep:]...)
		} else {
			tail = window
		}
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			return nil, fmt.Errorf("marker scanner: %w", err)
		}
	}
}

// containsLine reports whether text has line as one of its lines.
func containsLine(text, line string) bool {
	return slices.Contains(strings.Split(text, "\n"), line)
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for l := range strings.SplitSeq(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
