package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/httpapi"
)

// openCountingStore counts the Gets that opened an object's content.
type openCountingStore struct {
	filestore.Store
	opens atomic.Int64
}

func (s *openCountingStore) Get(ctx context.Context, owner, id string) (*filestore.File, io.ReadSeekCloser, error) {
	f, rc, err := s.Store.Get(ctx, owner, id)
	if err == nil {
		s.opens.Add(1)
	}
	return f, rc, err
}

// stalledWriter is a ResponseWriter whose client stops reading: its first
// Write signals writing and then blocks until release is closed, and then
// fails as a write to a client that went away does.
type stalledWriter struct {
	header  http.Header
	writing chan struct{}
	release chan struct{}
	wrote   bool
}

func (w *stalledWriter) Header() http.Header { return w.header }
func (w *stalledWriter) WriteHeader(int)     {}

func (w *stalledWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.wrote = true
		close(w.writing)
	}
	<-w.release
	return 0, errors.New("stalledWriter: the client went away")
}

// heldDownload is a GET of content whose handler is blocked writing the
// body to a client that stopped reading.
type heldDownload struct {
	release chan struct{}
	done    chan struct{} // closed when the handler has returned
}

// end lets the handler's write fail, as when the client goes away, and
// waits until the handler has returned.
func (d *heldDownload) end(t *testing.T) {
	t.Helper()
	select {
	case <-d.release:
	default:
		close(d.release)
	}
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatal("a released download's handler did not return")
	}
}

// holdDownload starts a GET of file id's content for tok through the
// Handler itself, and returns once the handler is writing the body, which
// it cannot finish until the download is ended (at the latest when t
// ends).
func holdDownload(t *testing.T, e *env, tok, id string) *heldDownload {
	t.Helper()
	w := &stalledWriter{header: make(http.Header), writing: make(chan struct{}), release: make(chan struct{})}
	d := &heldDownload{release: w.release, done: make(chan struct{})}
	req := httptest.NewRequest("GET", "/v1/files/"+id+"/content", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	go func() {
		defer close(d.done)
		e.h.ServeHTTP(w, req)
	}()
	t.Cleanup(func() { d.end(t) })
	select {
	case <-w.writing:
	case <-d.done:
		t.Fatalf("a download to hold ended before writing its body: %v", w.header)
	case <-time.After(20 * time.Second):
		t.Fatal("a download to hold did not start writing its body")
	}
	return d
}

// rateFields lists the RateLimit fields h has.
func rateFields(h http.Header) []string {
	var got []string
	for _, f := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
		if h.Get(f) != "" {
			got = append(got, f)
		}
	}
	return got
}

// downloadsRefused is the value of the rate_limited counter's downloads
// label in metrics, "" when it has none.
func downloadsRefused(metrics string) string {
	const prefix = `filestore_rate_limited_total{limiter="downloads"} `
	for l := range strings.SplitSeq(metrics, "\n") {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return v
		}
	}
	return ""
}

// TestDownloadsGate: with the owners in held having a GET of content each
// blocked on a client that stopped reading, a request of owner is answered
// as want: one over the owner's cap 429 rate_limited with Retry-After: 1,
// one over the server's 503 unavailable, each without the RateLimit fields
// of the request rate's bucket (which had tokens) and without the object
// being opened; another owner, a HEAD, and a cap turned off are served.
// Once the first held download ends (its client gone), the same request is
// served. Before, nothing bounded the downloads in progress: 400 slow GETs
// held 800 more file descriptors and 800 more goroutines of filestored,
// and one token's could reach its descriptor limit in minutes.
func TestDownloadsGate(t *testing.T) {
	const full = "RateLimit-Limit RateLimit-Remaining RateLimit-Reset"
	ownerFull := func(n string) string {
		return "this owner has " + n + " downloads in progress, the most allowed at once; retry when one has finished"
	}
	manyAlice := strings.Fields(strings.Repeat("alice ", httpapi.DefaultMaxDownloadsPerOwner))
	tests := []struct {
		name           string
		cfg            httpapi.Config
		held           []string // owners of the downloads held open
		method, owner  string
		wantStatus     int
		wantCode       string // "" for a 200
		wantDetail     string
		wantRetryAfter string
		wantRateFields string
		wantRefused    string // the downloads rate_limited counter; "" for none
	}{
		{"owner at cap", httpapi.Config{MaxDownloadsPerOwner: 2},
			[]string{"alice", "alice"}, "GET", "alice", 429, "rate_limited", ownerFull("2"), "1", "", "1"},
		{"another owner", httpapi.Config{MaxDownloadsPerOwner: 2},
			[]string{"alice", "alice"}, "GET", "bob", 200, "", "", "", full, ""},
		{"HEAD of an owner at cap", httpapi.Config{MaxDownloadsPerOwner: 2},
			[]string{"alice", "alice"}, "HEAD", "alice", 200, "", "", "", full, ""},
		{"default owner cap", httpapi.Config{},
			manyAlice, "GET", "alice", 429, "rate_limited", ownerFull("64"), "1", "", "1"},
		{"owner cap off", httpapi.Config{MaxDownloadsPerOwner: -1},
			append(manyAlice, "alice"), "GET", "alice", 200, "", "", "", full, ""},
		{"server at cap", httpapi.Config{MaxDownloads: 2},
			[]string{"alice", "bob"}, "GET", "carol", 503, "unavailable",
			"the server has 2 downloads in progress, the most it takes at once; retry shortly", "5", "", ""},
		{"both caps: the owner's own is a 429", httpapi.Config{MaxDownloads: 1, MaxDownloadsPerOwner: 1},
			[]string{"alice"}, "GET", "alice", 429, "rate_limited", ownerFull("1"), "1", "", "1"},
		{"both caps: another owner's is a 503", httpapi.Config{MaxDownloads: 1, MaxDownloadsPerOwner: 1},
			[]string{"alice"}, "GET", "bob", 503, "unavailable",
			"the server has 1 downloads in progress, the most it takes at once; retry shortly", "5", "", ""},
	}
	content := randomBytes(100<<10, 11)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.RateUser = 1000 // RateLimit fields on every answer, and no 429 of its own here
			cs := &openCountingStore{}
			e := newEnv(t, envOptions{cfg: cfg, wrapStore: func(s filestore.Store) filestore.Store { cs.Store = s; return cs }})
			toks, ids := map[string]string{}, map[string]string{}
			for _, o := range []string{"alice", "bob", "carol"} {
				toks[o] = e.token(o)
				ids[o] = e.upload(toks[o], "", "f.bin", content).ID
			}
			var held []*heldDownload
			for _, o := range tt.held {
				held = append(held, holdDownload(t, e, toks[o], ids[o]))
			}
			if got := cs.opens.Load(); got != int64(len(tt.held)) {
				t.Fatalf("%d objects opened by %d held downloads", got, len(tt.held))
			}

			path := "/v1/files/" + ids[tt.owner] + "/content"
			res := e.do(tt.method, path, toks[tt.owner], nil)
			if res.status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %.200q", res.status, tt.wantStatus, res.body)
			}
			if tt.wantCode != "" {
				wantProblem(t, res, tt.wantStatus, tt.wantCode)
				if got := detailOf(t, res); got != tt.wantDetail {
					t.Errorf("detail %q, want %q", got, tt.wantDetail)
				}
			}
			if got := res.header.Get("Retry-After"); got != tt.wantRetryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.wantRetryAfter)
			}
			if got := strings.Join(rateFields(res.header), " "); got != tt.wantRateFields {
				t.Errorf("RateLimit fields %q, want %q", got, tt.wantRateFields)
			}
			wantOpens := int64(len(tt.held))
			if tt.wantCode == "" {
				wantOpens++
			}
			if got := cs.opens.Load(); got != wantOpens {
				t.Errorf("%d objects opened, want %d (a refused download opens none)", got, wantOpens)
			}
			metrics := string(e.do("GET", "/metrics", "", nil).body)
			if got := downloadsRefused(metrics); got != tt.wantRefused {
				t.Errorf("downloads refused by the owner cap: %q, want %q\n%s", got, tt.wantRefused, grepLines(metrics, "filestore_rate_limited"))
			}

			held[0].end(t)
			res = e.do(tt.method, path, toks[tt.owner], nil)
			if res.status != http.StatusOK {
				t.Fatalf("after a held download ended: %d %s", res.status, res.body)
			}
			if tt.method == "GET" && !bytes.Equal(res.body, content) {
				t.Errorf("after a held download ended: %d bytes, not the content's %d", len(res.body), len(content))
			}
		})
	}
}

// TestDownloadsReleased: every way a GET of content ends gives its place
// back: served in full, a 304, a 404 of an id the owner does not have, a
// client gone mid-body, several ranges. With MaxDownloadsPerOwner 1, each
// next GET is served, and none is refused.
func TestDownloadsReleased(t *testing.T) {
	e := newEnv(t, envOptions{cfg: httpapi.Config{MaxDownloadsPerOwner: 1}})
	tok := e.token("alice")
	f := e.upload(tok, "", "f.bin", randomBytes(100<<10, 12))
	path := "/v1/files/" + f.ID + "/content"
	steps := []struct {
		name string
		do   func() int
		want int
	}{
		{"full GET", func() int { return e.do("GET", path, tok, nil).status }, 200},
		{"conditional GET", func() int { return e.do("GET", path, tok, nil, "If-None-Match", `"`+f.SHA256+`"`).status }, 304},
		{"GET of no such file", func() int {
			return e.do("GET", "/v1/files/0193f1b2-7c3a-7d4e-9a61-2f0c5e8b1a77/content", tok, nil).status
		}, 404},
		{"client gone, then a GET", func() int {
			holdDownload(t, e, tok, f.ID).end(t)
			return e.do("GET", path, tok, nil).status
		}, 200},
		{"range GET", func() int { return e.do("GET", path, tok, nil, "Range", "bytes=0-9,20-29").status }, 206},
		{"last GET", func() int { return e.do("GET", path, tok, nil).status }, 200},
	}
	for _, s := range steps {
		if got := s.do(); got != s.want {
			t.Fatalf("%s: %d, want %d", s.name, got, s.want)
		}
	}
	if got := downloadsRefused(string(e.do("GET", "/metrics", "", nil).body)); got != "" {
		t.Errorf("downloads refused: %s, want none", got)
	}
}
