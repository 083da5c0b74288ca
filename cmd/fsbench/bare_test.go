package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBareServer(t *testing.T) {
	tests := []struct {
		name      string
		hashOnly  bool
		sync      syncMode
		size      int64
		wantFiles int
	}{
		{"write, sync at the end", false, syncEnd, 3*blockSize + 9, 1},
		{"write, overlapped writeback", false, syncOverlap, 20 << 20, 1},
		{"write, no sync", false, syncNone, 4 << 10, 1},
		{"hash only", true, syncEnd, 2 * blockSize, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			h, err := newBareServer(dir, tt.hashOnly, tt.sync)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			c := newRawClient(hostOf(t, srv.URL), time.Minute)
			defer c.close()
			resp, err := c.do(context.Background(), &request{method: http.MethodPost, target: "/", header: http.Header{},
				body: newBody(newPattern(patternKey).buffer(), 9, tt.size)})
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				SHA256 string `json:"sha256"`
				Size   int64  `json:"size"`
			}
			if resp.status != http.StatusCreated {
				t.Fatalf("status %d: %s", resp.status, resp.body)
			}
			if err := json.Unmarshal(resp.body, &got); err != nil {
				t.Fatal(err)
			}
			want := bodySum(9, tt.size)
			if got.SHA256 != want || got.Size != tt.size {
				t.Fatalf("answer %+v, want sha256 %s size %d", got, want, tt.size)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*"))
			if len(files) != tt.wantFiles {
				t.Fatalf("%d files in the directory, want %d", len(files), tt.wantFiles)
			}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if s := sha256.Sum256(b); hex.EncodeToString(s[:]) != want {
					t.Errorf("%s does not hold the body", f)
				}
			}
		})
	}
}

func TestBareServerRefuses(t *testing.T) {
	if _, err := newBareServer(t.TempDir(), false, "sometimes"); !errors.Is(err, errBadMode) {
		t.Fatalf("newBareServer with sync %q: %v, want errBadMode", "sometimes", err)
	}
	h, err := newBareServer(t.TempDir(), false, syncEnd)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "POST, PUT" {
		t.Fatalf("GET: %d Allow %q, want 405 POST, PUT", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestFileServerRanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	var content bytes.Buffer
	if _, err := newBody(newPattern(patternKey).buffer(), 3, 1<<20).WriteTo(&content); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, content.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fileServer{path: path})
	defer srv.Close()
	c := newRawClient(hostOf(t, srv.URL), time.Minute)
	defer c.close()
	tests := []struct {
		rng        string
		wantStatus int
		want       []byte
	}{
		{"", http.StatusOK, content.Bytes()[:keepBody]},
		{"bytes=4096-8191", http.StatusPartialContent, content.Bytes()[4096:8192]},
		{"bytes=1048570-", http.StatusPartialContent, content.Bytes()[1048570:]},
		{"bytes=2000000-2000001", http.StatusRequestedRangeNotSatisfiable, nil},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.rng != "" {
			h.Set("Range", tt.rng)
		}
		resp, err := c.do(context.Background(), &request{method: http.MethodGet, target: "/x", header: h})
		if err != nil {
			t.Fatal(err)
		}
		if resp.status != tt.wantStatus {
			t.Fatalf("Range %q: status %d, want %d", tt.rng, resp.status, tt.wantStatus)
		}
		if tt.want != nil && !bytes.Equal(resp.body, tt.want) {
			t.Errorf("Range %q: wrong bytes", tt.rng)
		}
	}
}

// runJSON runs an fsbench command with -json and decodes its result.
func runJSON(t *testing.T, args ...string) *result {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(context.Background(), append(args, "-json"), &out, &errb); err != nil {
		t.Fatalf("fsbench %v: %v (%s)", args, err, errb.String())
	}
	var r result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("fsbench %v printed %q: %v", args, out.String(), err)
	}
	return &r
}

func TestPostCommandAgainstBareServer(t *testing.T) {
	dir := t.TempDir()
	h, err := newBareServer(dir, false, syncEnd)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	r := runJSON(t, "post", "-url", srv.URL+"/", "-size", "2MiB", "-count", "3", "-c", "2", "-seed", "5",
		"-pid", itoa(int64(os.Getpid())), "-label", "t")
	if r.Requests != 3 || r.Errors != 0 || r.Bytes != 3*(2<<20) || r.Size != 2<<20 || r.Concurrency != 2 || r.Mode != "post" || r.Label != "t" {
		t.Fatalf("result %+v", r)
	}
	if r.ServerPID != os.Getpid() || r.PeakRSS <= 0 || r.RSSAtStart <= 0 {
		t.Errorf("server figures: pid %d peak %d start %d", r.ServerPID, r.PeakRSS, r.RSSAtStart)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	var got []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		got = append(got, hex.EncodeToString(s[:]))
	}
	want := []string{bodySum(5, 2<<20), bodySum(6, 2<<20), bodySum(7, 2<<20)}
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored bodies (-want +got):\n%s", diff)
	}

	// -same: every body is the one of -seed.
	runJSON(t, "post", "-url", srv.URL+"/", "-size", "4KiB", "-count", "2", "-seed", "70", "-same")
	files, _ = filepath.Glob(filepath.Join(dir, "*"))
	n := 0
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if s := sha256.Sum256(b); hex.EncodeToString(s[:]) == bodySum(70, 4<<10) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d files hold the body of seed 70, want 2", n)
	}
}

func TestUploadCommandRequests(t *testing.T) {
	type seen struct{ target, auth, ctype string }
	got := make(chan seen, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.URL.RequestURI(), r.Header.Get("Authorization"), r.Header.Get("Content-Type")}
		w.Header().Set("Location", "/v1/files/id-"+r.URL.Query().Get("name"))
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	r := runJSON(t, "upload", "-url", srv.URL, "-token", "tok", "-size", "4KiB", "-count", "2", "-name-prefix", "p")
	close(got)
	var all []seen
	for s := range got {
		all = append(all, s)
	}
	slices.SortFunc(all, func(a, b seen) int { return strings.Compare(a.target, b.target) })
	want := []seen{
		{"/v1/files?name=p-0", "Bearer tok", "application/octet-stream"},
		{"/v1/files?name=p-1", "Bearer tok", "application/octet-stream"},
	}
	if diff := cmp.Diff(want, all, cmp.AllowUnexported(seen{})); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if r.Requests != 2 || r.Location != "/v1/files/id-p-0" && r.Location != "/v1/files/id-p-1" {
		t.Errorf("result %+v", r)
	}
}

func TestUploadCommandCountsRefusals(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"code":"conflict"}`, http.StatusConflict)
	}))
	defer srv.Close()
	r := runJSON(t, "upload", "-url", srv.URL, "-size", "1KiB", "-count", "5", "-max-errors", "3")
	if r.Requests != 0 || r.Errors != 3 || r.FirstError != `fsbench: unexpected status: 409 (want 201): {"code":"conflict"}` {
		t.Fatalf("result %+v", r)
	}
}

func TestTusCheck(t *testing.T) {
	k := uploadKinds()["tus"]
	if diff := cmp.Diff(http.Header{
		"Tus-Resumable": {"1.0.0"}, "Upload-Length": {"4096"}, "Content-Type": {"application/offset+octet-stream"},
	}, k.header(&loadFlags{}, 4096)); diff != "" {
		t.Errorf("tus headers (-want +got):\n%s", diff)
	}
	tests := []struct {
		offset string
		ok     bool
	}{{"4096", true}, {"0", false}, {"", false}}
	for _, tt := range tests {
		err := k.check(&response{header: http.Header{"Upload-Offset": {tt.offset}}}, 4096)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, errShort)) {
			t.Errorf("Upload-Offset %q: %v", tt.offset, err)
		}
	}
}

func TestDownloadCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newBody(newPattern(patternKey).buffer(), 3, 5<<20).WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fileServer{path: path})
	defer srv.Close()

	whole := runJSON(t, "download", "-url", srv.URL+"/f", "-count", "2")
	if whole.Requests != 2 || whole.Errors != 0 || whole.Bytes != 2*(5<<20) || whole.Size != 5<<20 || whole.Mode != "download" {
		t.Errorf("whole: %+v", whole)
	}
	ranges := runJSON(t, "download", "-url", srv.URL+"/f", "-range", "4KiB", "-count", "40", "-c", "4")
	if ranges.Requests != 40 || ranges.Errors != 0 || ranges.Bytes != 40*4096 || ranges.Size != 4096 || ranges.Mode != "download-range" {
		t.Errorf("ranges: %+v", ranges)
	}
}

func TestLoopbackOnly(t *testing.T) {
	tests := []struct {
		give string
		ok   bool
	}{
		{"127.0.0.1:80", true}, {"[::1]:8080", true}, {"localhost:1", true}, {"127.0.0.2:9", true},
		{"10.0.0.1:80", false}, {"example.com:80", false}, {"0.0.0.0:80", false}, {":8080", false},
	}
	for _, tt := range tests {
		err := checkLoopback(tt.give)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, errNotLocal)) {
			t.Errorf("checkLoopback(%q) = %v, want ok=%v", tt.give, err, tt.ok)
		}
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"post", "-url", "http://192.0.2.1:80/", "-count", "1"}, &out, &errb); !errors.Is(err, errNotLocal) {
		t.Errorf("post to 192.0.2.1: %v, want errNotLocal", err)
	}
}

func TestRunUsageErrors(t *testing.T) {
	tests := [][]string{
		nil,
		{"nonsense"},
		{"post", "-url", "http://127.0.0.1:1/"}, // no bound
		{"post", "-url", "ftp://127.0.0.1:1/", "-count", "1"},    // not http
		{"post", "-url", "http://127.0.0.1:1/", "-size", "lots"}, // bad size
		{"report"},                              // no -dir
		{"serve-bare", "-mode", "write"},        // no -dir
		{"serve-file", "-file", "/nonexistent"}, // no file
	}
	for _, args := range tests {
		var out, errb bytes.Buffer
		err := run(context.Background(), args, &out, &errb)
		if !errors.Is(err, errUsage) && !errors.Is(err, errNoBound) {
			t.Errorf("fsbench %q: %v, want a usage error", args, err)
		}
	}
}

func TestUploadCommandDigest(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // digests sent, sorted
	}{
		{"same body", []string{"-seed", "10", "-same"}, []string{bodySum(10, 5000), bodySum(10, 5000)}},
		{"distinct bodies", []string{"-seed", "10"}, []string{bodySum(10, 5000), bodySum(11, 5000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 10)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := sha256.New()
				_, _ = io.Copy(h, r.Body)
				if hex.EncodeToString(h.Sum(nil)) != r.Header.Get("X-Content-SHA256") {
					http.Error(w, "digest mismatch", http.StatusBadRequest)
					return
				}
				got <- r.Header.Get("X-Content-SHA256")
				w.WriteHeader(http.StatusCreated)
			}))
			defer srv.Close()
			r := runJSON(t, append([]string{"upload", "-url", srv.URL, "-size", "5000B", "-count", "2", "-digest"}, tt.args...)...)
			close(got)
			var all []string
			for d := range got {
				all = append(all, d)
			}
			slices.Sort(all)
			slices.Sort(tt.want)
			if diff := cmp.Diff(tt.want, all); diff != "" || r.Requests != 2 {
				t.Errorf("%d requests; digests (-want +got):\n%s", r.Requests, diff)
			}
		})
	}
}
