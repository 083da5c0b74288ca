package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/auth"
	"github.com/filestore-go/filestore/httpapi"
)

// TestFileLifecycle walks one file through every route of the contract
// that changes or reads it, checking each status and body.
func TestFileLifecycle(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	content := []byte("hello, world\n")

	res := e.do("POST", "/v1/files?folder=docs&name=hello.txt", tok, bytes.NewReader(content), "Content-Type", "text/plain")
	if res.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", res.status, res.body)
	}
	f := decodeFile(t, res.body)
	if got, want := res.header.Get("Location"), "/v1/files/"+f.ID; got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	wantFile := &filestore.File{
		ID: f.ID, Name: "hello.txt", Folder: "docs", Size: int64(len(content)),
		SHA256:      sha256Hex(content),
		ContentType: f.ContentType, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt,
		Scan: filestore.ScanInfo{Status: filestore.ScanUnscanned},
	}
	if diff := cmp.Diff(wantFile, f); diff != "" {
		t.Errorf("uploaded File (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(f.ContentType, "text/plain") {
		t.Errorf("content_type %q, want text/plain", f.ContentType)
	}
	// The raw JSON: deleted_at present and null, meta {}, times in UTC.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(res.body, &raw); err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{"deleted_at": "null", "meta": "{}", "scan": `{"status":"unscanned"}`} {
		if got := string(raw[field]); got != want {
			t.Errorf("%s = %s, want %s", field, got, want)
		}
	}
	if !regexp.MustCompile(`^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"$`).Match(raw["created_at"]) {
		t.Errorf("created_at %s is not RFC 3339 UTC", raw["created_at"])
	}

	get := e.do("GET", "/v1/files/"+f.ID, tok, nil)
	if get.status != http.StatusOK {
		t.Fatalf("get: %d %s", get.status, get.body)
	}
	if diff := cmp.Diff(f, decodeFile(t, get.body)); diff != "" {
		t.Errorf("GET file (-upload +get):\n%s", diff)
	}

	content2 := e.do("GET", "/v1/files/"+f.ID+"/content", tok, nil)
	if content2.status != http.StatusOK || !bytes.Equal(content2.body, content) {
		t.Fatalf("content: %d %q", content2.status, content2.body)
	}

	steps := []struct {
		name, method, path, body string
		status                   int
		code                     string // problem code, when an error
		check                    func(t *testing.T, f *filestore.File)
	}{
		{name: "rename", method: "PATCH", path: "/v1/files/{id}", body: `{"name": "greeting.txt"}`, status: 200,
			check: func(t *testing.T, g *filestore.File) { wantPath(t, g, "docs", "greeting.txt") }},
		{name: "move", method: "PATCH", path: "/v1/files/{id}", body: `{"folder": "archive/2026"}`, status: 200,
			check: func(t *testing.T, g *filestore.File) { wantPath(t, g, "archive/2026", "greeting.txt") }},
		{name: "rename and move", method: "PATCH", path: "/v1/files/{id}", body: `{"name": "hello.txt", "folder": "docs"}`, status: 200,
			check: func(t *testing.T, g *filestore.File) { wantPath(t, g, "docs", "hello.txt") }},
		{name: "patch nothing", method: "PATCH", path: "/v1/files/{id}", body: `{}`, status: 400, code: "bad_request"},
		{name: "patch nulls", method: "PATCH", path: "/v1/files/{id}", body: `{"name": null, "folder": null}`, status: 400, code: "bad_request"},
		{name: "patch unknown field", method: "PATCH", path: "/v1/files/{id}", body: `{"filename": "x"}`, status: 400, code: "bad_request"},
		{name: "patch not JSON", method: "PATCH", path: "/v1/files/{id}", body: `name=x`, status: 400, code: "bad_request"},
		{name: "patch two objects", method: "PATCH", path: "/v1/files/{id}", body: `{"name": "a"} {"name": "b"}`, status: 400, code: "bad_request"},
		{name: "patch empty body", method: "PATCH", path: "/v1/files/{id}", body: ``, status: 400, code: "bad_request"},
		{name: "patch invalid name", method: "PATCH", path: "/v1/files/{id}", body: `{"name": "a/b"}`, status: 400, code: "invalid_name"},
		{name: "patch dot-dot", method: "PATCH", path: "/v1/files/{id}", body: `{"name": ".."}`, status: 400, code: "invalid_name"},
		{name: "patch bad folder", method: "PATCH", path: "/v1/files/{id}", body: `{"folder": "/docs"}`, status: 400, code: "invalid_name"},
		{name: "patch onto the other file", method: "PATCH", path: "/v1/files/{id}", body: `{"name": "other.txt"}`, status: 409, code: "conflict"},
		{name: "restore live", method: "POST", path: "/v1/files/{id}/restore", status: 200,
			check: func(t *testing.T, g *filestore.File) { wantPath(t, g, "docs", "hello.txt"); wantLive(t, g, true) }},
		{name: "delete", method: "DELETE", path: "/v1/files/{id}", status: 204},
		{name: "get trashed", method: "GET", path: "/v1/files/{id}", status: 200,
			check: func(t *testing.T, g *filestore.File) { wantLive(t, g, false) }},
		{name: "content of trashed", method: "GET", path: "/v1/files/{id}/content", status: 404, code: "not_found"},
		{name: "head content of trashed", method: "HEAD", path: "/v1/files/{id}/content", status: 404},
		{name: "patch trashed", method: "PATCH", path: "/v1/files/{id}", body: `{"name": "x.txt"}`, status: 404, code: "not_found"},
		{name: "delete trashed", method: "DELETE", path: "/v1/files/{id}", status: 204},
		{name: "take its path", method: "POST", path: "/v1/files?folder=docs&name=hello.txt", body: "taken", status: 201},
		{name: "restore onto taken path", method: "POST", path: "/v1/files/{id}/restore", status: 409, code: "conflict"},
		{name: "upload onto taken path", method: "POST", path: "/v1/files?folder=docs&name=hello.txt", body: "again", status: 409, code: "conflict"},
		{name: "overwrite", method: "POST", path: "/v1/files?folder=docs&name=hello.txt&overwrite=true", body: "overwritten", status: 201,
			check: func(t *testing.T, g *filestore.File) { wantPath(t, g, "docs", "hello.txt"); wantLive(t, g, true) }},
		{name: "bad overwrite", method: "POST", path: "/v1/files?folder=docs&name=hello.txt&overwrite=perhaps", body: "x", status: 400, code: "bad_request"},
		{name: "purge", method: "DELETE", path: "/v1/files/{id}?permanent=true", status: 204},
		{name: "get purged", method: "GET", path: "/v1/files/{id}", status: 404, code: "not_found"},
		{name: "delete purged", method: "DELETE", path: "/v1/files/{id}", status: 404, code: "not_found"},
		{name: "restore purged", method: "POST", path: "/v1/files/{id}/restore", status: 404, code: "not_found"},
		{name: "bad permanent", method: "DELETE", path: "/v1/files/{id}?permanent=yes", status: 400, code: "bad_request"},
		{name: "malformed id", method: "GET", path: "/v1/files/%20..", status: 404, code: "not_found"},
	}
	e.upload(tok, "docs", "other.txt", []byte("other"))
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			var body *bytes.Reader
			if s.body != "" || s.method == "PATCH" || s.method == "POST" {
				body = bytes.NewReader([]byte(s.body))
			}
			path := strings.ReplaceAll(s.path, "{id}", f.ID)
			var res *response
			if body != nil && s.method == "PATCH" {
				res = e.do(s.method, path, tok, body, "Content-Type", "application/json")
			} else if body != nil {
				res = e.do(s.method, path, tok, body)
			} else {
				res = e.do(s.method, path, tok, nil)
			}
			if res.status != s.status {
				t.Fatalf("status %d, want %d; body %s", res.status, s.status, res.body)
			}
			if s.code != "" {
				wantProblem(t, res, s.status, s.code)
			}
			if s.check != nil {
				s.check(t, decodeFile(t, res.body))
			}
			if s.status == 204 && len(res.body) != 0 {
				t.Errorf("204 with body %q", res.body)
			}
		})
	}
}

func wantPath(t *testing.T, f *filestore.File, folder, name string) {
	t.Helper()
	if f.Folder != folder || f.Name != name {
		t.Errorf("path %q/%q, want %q/%q", f.Folder, f.Name, folder, name)
	}
}

func wantLive(t *testing.T, f *filestore.File, live bool) {
	t.Helper()
	if (f.DeletedAt == nil) != live {
		t.Errorf("deleted_at %v, want live=%v", f.DeletedAt, live)
	}
}

// listing is the answer of GET /v1/files.
type listing struct {
	Files      []*filestore.File `json:"files"`
	NextCursor *string           `json:"next_cursor"`
}

func (e *env) list(tok, query string) (*response, listing) {
	e.t.Helper()
	res := e.do("GET", "/v1/files"+query, tok, nil)
	var l listing
	if res.status == http.StatusOK {
		if err := json.Unmarshal(res.body, &l); err != nil {
			e.t.Fatalf("decode listing %s: %v", res.body, err)
		}
	}
	return res, l
}

func paths(l listing) []string {
	out := []string{}
	for _, f := range l.Files {
		out = append(out, f.Folder+"|"+f.Name)
	}
	return out
}

func TestList(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	if res, l := e.list(tok, ""); res.status != 200 || string(bytes.TrimSpace(res.body)) != `{"files":[]}` || l.NextCursor != nil {
		t.Fatalf("empty listing: %d %s", res.status, res.body)
	}
	for _, p := range []struct{ folder, name string }{
		{"", "b.txt"}, {"", "a.txt"}, {"", "Report.PDF"}, {"docs", "z.txt"}, {"docs", "report-2.txt"},
		{"docs/old", "report_1.txt"}, {"pics", "cat.jpg"},
	} {
		e.upload(tok, p.folder, p.name, []byte(p.folder+"/"+p.name))
	}
	trashed := e.upload(tok, "", "gone.txt", []byte("gone"))
	if res := e.do("DELETE", "/v1/files/"+trashed.ID, tok, nil); res.status != 204 {
		t.Fatalf("delete: %d", res.status)
	}
	e.upload(e.token("bob"), "", "bobs.txt", []byte("bob's"))

	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"|Report.PDF", "|a.txt", "|b.txt"}},
		{"?folder=docs", []string{"docs|report-2.txt", "docs|z.txt"}},
		{"?folder=docs&recursive=true", []string{"docs|report-2.txt", "docs|z.txt", "docs/old|report_1.txt"}},
		{"?recursive=true&q=REPORT", []string{"|Report.PDF", "docs|report-2.txt", "docs/old|report_1.txt"}},
		{"?recursive=true&q=_", []string{"docs/old|report_1.txt"}},
		{"?recursive=true&q=%25", []string{}},
		{"?trash=true", []string{"|gone.txt"}},
		{"?folder=nowhere", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			res, l := e.list(tok, tt.query)
			if res.status != 200 {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			if diff := cmp.Diff(tt.want, paths(l)); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if l.NextCursor != nil {
				t.Errorf("next_cursor %q on the only page", *l.NextCursor)
			}
		})
	}

	t.Run("pages", func(t *testing.T) {
		var got []string
		query := "?recursive=true&limit=2"
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("more than 10 pages")
			}
			res, l := e.list(tok, query)
			if res.status != 200 {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			if len(l.Files) > 2 {
				t.Fatalf("page of %d files with limit 2", len(l.Files))
			}
			got = append(got, paths(l)...)
			if l.NextCursor == nil {
				break
			}
			query = "?recursive=true&limit=2&cursor=" + urlQuery(*l.NextCursor)
		}
		want := []string{"|Report.PDF", "|a.txt", "|b.txt", "docs|report-2.txt", "docs|z.txt", "docs/old|report_1.txt", "pics|cat.jpg"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("all pages (-want +got):\n%s", diff)
		}
	})

	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=-1", "?limit=ten", "?cursor=not-a-cursor", "?recursive=maybe", "?trash=2", "?folder=/docs", "?folder=docs/", "?q=a%00b", "?q=%FF", "?cursor=eyJmIjoiIiwibiI6ImEiLCJpIjoieFx1MDAwMCJ9"} {
		t.Run("bad "+q, func(t *testing.T) {
			res, _ := e.list(tok, q)
			code := "bad_request"
			if strings.HasPrefix(q, "?folder") {
				code = "invalid_name"
			}
			wantProblem(t, res, 400, code)
		})
	}
}

func TestAdmin(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice, bob := e.token("alice"), e.token("bob")
	admin := e.token("root", auth.ScopeAdmin)
	e.upload(alice, "", "a.txt", []byte("same bytes"))
	e.upload(bob, "", "b.txt", []byte("same bytes"))
	e.upload(bob, "", "c.txt", []byte("other"))

	res := e.do("GET", "/v1/admin/stats", admin, nil)
	if res.status != 200 {
		t.Fatalf("stats: %d %s", res.status, res.body)
	}
	var stats map[string]int64
	if err := json.Unmarshal(res.body, &stats); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"files": 3, "owners": 2, "logical_bytes": 25, "stored_bytes": 15, "objects": 2}
	if diff := cmp.Diff(want, stats); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}

	res = e.do("POST", "/v1/admin/gc", admin, nil)
	if res.status != 200 {
		t.Fatalf("gc: %d %s", res.status, res.body)
	}
	var gc map[string]int
	if err := json.Unmarshal(res.body, &gc); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"purged_files": 0, "removed_objects": 0, "removed_staging": 0}, gc); diff != "" {
		t.Errorf("gc (-want +got):\n%s", diff)
	}

	for _, r := range []struct{ method, path string }{{"GET", "/v1/admin/stats"}, {"POST", "/v1/admin/gc"}} {
		t.Run("no admin scope "+r.path, func(t *testing.T) {
			res := e.do(r.method, r.path, alice, nil)
			wantProblem(t, res, 403, "forbidden")
			if got, want := res.header.Get("WWW-Authenticate"), `Bearer error="insufficient_scope", scope="admin"`; got != want {
				t.Errorf("WWW-Authenticate %q, want %q", got, want)
			}
		})
	}
	// An admin token alone does not read files.
	wantProblem(t, e.do("GET", "/v1/files", admin, nil), 403, "forbidden")
}

func TestAdminGCPurgesOldTrash(t *testing.T) {
	e := newEnv(t, envOptions{cfg: cfgCollect(&filestore.CollectOptions{TrashRetention: time.Nanosecond})})
	tok := e.token("alice")
	f := e.upload(tok, "", "a.txt", []byte("to be purged"))
	if res := e.do("DELETE", "/v1/files/"+f.ID, tok, nil); res.status != 204 {
		t.Fatalf("delete: %d", res.status)
	}
	res := e.do("POST", "/v1/admin/gc", e.token("root", auth.ScopeAdmin), nil)
	if got, want := strings.TrimSpace(string(res.body)), `{"purged_files":1,"removed_objects":1,"removed_staging":0}`; res.status != 200 || got != want {
		t.Errorf("gc: %d %s, want %s", res.status, got, want)
	}
	if files := e.blobFiles(); len(files) != 0 {
		t.Errorf("bucket still holds %v", files)
	}
}

func TestOperationalRoutes(t *testing.T) {
	e := newEnv(t, envOptions{})
	tests := []struct {
		path, wantType, wantBody string
	}{
		{"/healthz", "application/json", `{"status":"ok"}`},
		{"/readyz", "application/json", `{"status":"ready"}`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res := e.do("GET", tt.path, "", nil)
			if res.status != 200 || res.header.Get("Content-Type") != tt.wantType || strings.TrimSpace(string(res.body)) != tt.wantBody {
				t.Errorf("%d %q %s", res.status, res.header.Get("Content-Type"), res.body)
			}
		})
	}
	t.Run("/metrics", func(t *testing.T) {
		res := e.do("GET", "/metrics", "", nil)
		if res.status != 200 || !strings.HasPrefix(res.header.Get("Content-Type"), "text/plain") {
			t.Fatalf("%d %q", res.status, res.header.Get("Content-Type"))
		}
		for _, name := range []string{"filestore_http_requests_total", "go_goroutines", "process_cpu_seconds_total"} {
			if !bytes.Contains(res.body, []byte("\n"+name)) {
				t.Errorf("metrics lack %s", name)
			}
		}
	})
	t.Run("/v1/openapi.json", func(t *testing.T) {
		res := e.do("GET", "/v1/openapi.json", "", nil)
		var doc struct {
			OpenAPI string `json:"openapi"`
		}
		if err := json.Unmarshal(res.body, &doc); res.status != 200 || err != nil || doc.OpenAPI != "3.1.0" {
			t.Errorf("%d %v %q", res.status, err, doc.OpenAPI)
		}
	})
	t.Run("/readyz when the store is down", func(t *testing.T) {
		if err := e.store.Close(); err != nil {
			t.Fatal(err)
		}
		// The outcome of the last check stands for a second.
		if res := e.do("GET", "/readyz", "", nil); res.status != 200 {
			t.Errorf("readyz within a second of a good check: %d %s", res.status, res.body)
		}
		e.clock.Advance(time.Second)
		wantProblem(t, e.do("GET", "/readyz", "", nil), 503, "unavailable")
		wantProblem(t, e.do("GET", "/v1/files", e.token("alice"), nil), 503, "unavailable")
		if res := e.do("GET", "/healthz", "", nil); res.status != 200 {
			t.Errorf("healthz: %d", res.status)
		}
	})
}

func TestUnmatchedRoutes(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	tests := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/", 404, "not_found", ""},
		{"GET", "/v1", 404, "not_found", ""},
		{"GET", "/v1/nothing", 404, "not_found", ""},
		{"GET", "/v1/files/x/y/z", 404, "not_found", ""},
		// Paths the mux would redirect to their cleaned form.
		{"GET", "/v1//files", 404, "not_found", ""},
		{"GET", "/v1/x/../files", 404, "not_found", ""},
		{"GET", "/v1/./files", 404, "not_found", ""},
		{"POST", "//v1/files?name=r.txt", 404, "not_found", ""},
		{"PUT", "/v1/files", 405, "method_not_allowed", "GET, HEAD, POST"},
		{"DELETE", "/v1/files", 405, "method_not_allowed", "GET, HEAD, POST"},
		{"PUT", "/v1/files/abc", 405, "method_not_allowed", "DELETE, GET, HEAD, PATCH"},
		{"POST", "/v1/files/abc/content", 405, "method_not_allowed", "GET, HEAD"},
		{"GET", "/v1/files/abc/restore", 405, "method_not_allowed", "POST"},
		{"GET", "/v1/admin/gc", 405, "method_not_allowed", "POST"},
		{"POST", "/healthz", 405, "method_not_allowed", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res := e.do(tt.method, tt.path, tok, nil)
			wantProblem(t, res, tt.status, tt.code)
			if got := res.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
			if got := res.header.Get("Location"); got != "" {
				t.Errorf("Location %q, want none", got)
			}
		})
	}
	if _, l := e.list(tok, "?recursive=true"); len(l.Files) != 0 {
		t.Errorf("files stored by unmatched routes: %v", paths(l))
	}
}

func cfgCollect(c *filestore.CollectOptions) httpapi.Config {
	return httpapi.Config{Collect: c}
}

func sha256Hex(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

// pingCounter counts the Store's Pings.
type pingCounter struct {
	filestore.Store
	n atomic.Int64
}

func (p *pingCounter) Ping(ctx context.Context) error {
	p.n.Add(1)
	return p.Store.Ping(ctx)
}

// TestReadyzPingsOncePerSecond: /readyz, which needs no token, asks the
// dependencies at most once a second however often it is called, the
// calls of that second sharing the outcome, good or bad.
func TestReadyzPingsOncePerSecond(t *testing.T) {
	var pc *pingCounter
	e := newEnv(t, envOptions{wrapStore: func(s filestore.Store) filestore.Store {
		pc = &pingCounter{Store: s}
		return pc
	}})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if res := e.do("GET", "/readyz", "", nil); res.status != 200 {
				t.Errorf("readyz: %d %s", res.status, res.body)
			}
		})
	}
	wg.Wait()
	if got := pc.n.Load(); got != 1 {
		t.Errorf("20 calls within a second pinged %d times, want 1", got)
	}
	e.clock.Advance(999 * time.Millisecond)
	e.do("GET", "/readyz", "", nil)
	if got := pc.n.Load(); got != 1 {
		t.Errorf("a call 999ms later pinged again (%d pings), want 1", got)
	}
	e.clock.Advance(time.Millisecond)
	e.do("GET", "/readyz", "", nil)
	if got := pc.n.Load(); got != 2 {
		t.Errorf("a call a second later: %d pings, want 2", got)
	}
}
