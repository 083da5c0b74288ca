package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/httpapi"
)

// enteringStore signals the name of every Put as it starts, before it
// reads the content.
type enteringStore struct {
	filestore.Store
	entered chan string
}

func (s *enteringStore) Put(ctx context.Context, owner, folder, name string, r io.Reader, opts *filestore.PutOptions) (*filestore.File, error) {
	s.entered <- owner + "/" + name
	return s.Store.Put(ctx, owner, folder, name, r, opts)
}

// newEnteringEnv starts a server with cfg over an enteringStore whose
// channel holds n names.
func newEnteringEnv(t *testing.T, cfg httpapi.Config, n int) (*env, *enteringStore) {
	ss := &enteringStore{entered: make(chan string, n)}
	e := newEnv(t, envOptions{
		cfg:       cfg,
		wrapStore: func(s filestore.Store) filestore.Store { ss.Store = s; return ss },
	})
	return e, ss
}

// openUpload starts an upload of name for tok whose body stays open until
// the returned writer is closed; its status arrives on the channel.
func openUpload(e *env, tok, name string) (*io.PipeWriter, <-chan int) {
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", e.srv.URL+"/v1/files?name="+name, pr)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	status := make(chan int, 1)
	go func() {
		res, err := e.srv.Client().Do(req)
		if err != nil {
			status <- -1
			return
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		status <- res.StatusCode
	}()
	return pw, status
}

// waitEntered waits until n Puts have started and returns their names.
func waitEntered(t *testing.T, ch <-chan string, n int) []string {
	t.Helper()
	var names []string
	timeout := time.After(20 * time.Second)
	for len(names) < n {
		select {
		case s := <-ch:
			names = append(names, s)
		case <-timeout:
			t.Fatalf("%d uploads started, want %d: %v", len(names), n, names)
		}
	}
	return names
}

// TestUploadsPerOwner: with MaxUploadsPerOwner 2, alice's third upload
// while two are in progress is answered 429 rate_limited with Retry-After
// before its body is read (without the request rate's RateLimit fields,
// which said 38 remaining before), and stores nothing; bob's upload is not held
// back by alice's; once one of alice's finishes, her next upload goes
// through. Before, nothing bounded an owner's uploads in progress: 400
// uploads that had sent 200 kB and stalled held 300 MB of filestored's
// memory.
func TestUploadsPerOwner(t *testing.T) {
	e, ss := newEnteringEnv(t, httpapi.Config{MaxUploadsPerOwner: 2, RateUser: 20}, 16)
	alice, bob := e.token("alice"), e.token("bob")
	w1, s1 := openUpload(e, alice, "one")
	w2, s2 := openUpload(e, alice, "two")
	waitEntered(t, ss.entered, 2)

	res := e.do("POST", "/v1/files?name=three", alice, bytes.NewReader([]byte("third")))
	wantProblem(t, res, http.StatusTooManyRequests, "rate_limited")
	if got := res.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
	for _, f := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
		if v := res.header.Get(f); v != "" {
			t.Errorf("%s %q on the cap's 429, want none (the request rate's bucket is not what refused)", f, v)
		}
	}
	var p struct{ Detail string }
	if err := json.Unmarshal(res.body, &p); err != nil || p.Detail != "this owner has 2 uploads in progress, the most allowed at once; retry when one has finished" {
		t.Errorf("detail %q (%v)", p.Detail, err)
	}
	select {
	case name := <-ss.entered:
		t.Errorf("the refused upload reached the Store: %s", name)
	default:
	}
	if res := e.do("POST", "/v1/files?name=b", bob, bytes.NewReader([]byte("bob's"))); res.status != http.StatusCreated {
		t.Errorf("bob's upload while alice has two in progress: %d %s", res.status, res.body)
	}
	waitEntered(t, ss.entered, 1)

	if _, err := w1.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	w1.Close()
	if got := <-s1; got != http.StatusCreated {
		t.Errorf("alice's first upload: %d", got)
	}
	if res := e.do("POST", "/v1/files?name=three", alice, bytes.NewReader([]byte("third"))); res.status != http.StatusCreated {
		t.Errorf("alice's upload after one finished: %d %s", res.status, res.body)
	}
	waitEntered(t, ss.entered, 1)
	w2.Close()
	if got := <-s2; got != http.StatusCreated {
		t.Errorf("alice's second upload: %d", got)
	}

	list := e.do("GET", "/v1/files", alice, nil)
	for _, name := range []string{`"one"`, `"two"`, `"three"`} {
		if !bytes.Contains(list.body, []byte(`"name":`+name)) {
			t.Errorf("alice's listing lacks %s: %s", name, list.body)
		}
	}
	metrics := string(e.do("GET", "/metrics", "", nil).body)
	if !containsLine(metrics, `filestore_rate_limited_total{limiter="uploads"} 1`) {
		t.Errorf("metrics lack 1 uploads rejection:\n%s", grepLines(metrics, "filestore_rate_limited"))
	}
}

// TestUploadsPerOwnerOff: a negative MaxUploadsPerOwner admits any number
// of an owner's uploads at once (here 4 over the default).
func TestUploadsPerOwnerOff(t *testing.T) {
	const n = httpapi.DefaultMaxUploadsPerOwner + 4
	e, ss := newEnteringEnv(t, httpapi.Config{MaxUploadsPerOwner: -1}, n)
	alice := e.token("alice")
	var writers []*io.PipeWriter
	var statuses []<-chan int
	for i := range n {
		w, s := openUpload(e, alice, "f"+strconv.Itoa(i))
		writers, statuses = append(writers, w), append(statuses, s)
	}
	waitEntered(t, ss.entered, n)
	for i, w := range writers {
		w.Close()
		if got := <-statuses[i]; got != http.StatusCreated {
			t.Errorf("upload %d: %d", i, got)
		}
	}
}

// TestUploadsInAll: with MaxUploads 2, a third owner's upload while two
// others' are in progress is answered 503 unavailable with Retry-After and
// without the request rate's RateLimit fields (which her other requests
// carry), before its body is read (it sends none: a handler that waited
// for it would not answer within 10 s), and stores nothing; the owners'
// own caps are not what refused it (no 429, no uploads metric); once one
// finishes, the next upload goes through.
func TestUploadsInAll(t *testing.T) {
	e, ss := newEnteringEnv(t, httpapi.Config{MaxUploads: 2, RateUser: 20}, 16)
	alice, bob, carol := e.token("alice"), e.token("bob"), e.token("carol")
	w1, s1 := openUpload(e, alice, "one")
	w2, s2 := openUpload(e, bob, "two")
	waitEntered(t, ss.entered, 2)

	w3, s3 := openUpload(e, carol, "three") // sends nothing
	select {
	case got := <-s3:
		if got != http.StatusServiceUnavailable {
			t.Fatalf("carol's upload, with the server at its cap and a body that never comes: %d, want 503", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("carol's upload, with the server at its cap, got no answer before its body came")
	}
	w3.Close()
	if l := e.do("GET", "/v1/files", carol, nil); l.header.Get("RateLimit-Remaining") == "" {
		t.Fatalf("carol's listing has no RateLimit-Remaining: the check below would prove nothing")
	}
	res := e.do("POST", "/v1/files?name=three", carol, bytes.NewReader([]byte("third")))
	wantProblem(t, res, http.StatusServiceUnavailable, "unavailable")
	if got := res.header.Get("Retry-After"); got == "" {
		t.Error("no Retry-After on the server cap's 503")
	}
	for _, f := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
		if v := res.header.Get(f); v != "" {
			t.Errorf("%s %q on the server cap's 503, want none", f, v)
		}
	}
	var p struct{ Detail string }
	if err := json.Unmarshal(res.body, &p); err != nil || p.Detail != "the server has 2 uploads in progress, the most it takes at once; retry shortly" {
		t.Errorf("detail %q (%v)", p.Detail, err)
	}
	select {
	case name := <-ss.entered:
		t.Errorf("the refused upload reached the Store: %s", name)
	default:
	}
	if l := e.do("GET", "/v1/files", carol, nil); bytes.Contains(l.body, []byte(`"name":"three"`)) {
		t.Errorf("carol's refused upload is listed: %s", l.body)
	}

	if _, err := w1.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	w1.Close()
	if got := <-s1; got != http.StatusCreated {
		t.Errorf("alice's upload: %d", got)
	}
	if res := e.do("POST", "/v1/files?name=three", carol, bytes.NewReader([]byte("third"))); res.status != http.StatusCreated {
		t.Errorf("carol's upload after one finished: %d %s", res.status, res.body)
	}
	waitEntered(t, ss.entered, 1)
	w2.Close()
	if got := <-s2; got != http.StatusCreated {
		t.Errorf("bob's upload: %d", got)
	}
	metrics := string(e.do("GET", "/metrics", "", nil).body)
	if containsLine(metrics, `filestore_rate_limited_total{limiter="uploads"} 1`) {
		t.Errorf("the server cap's 503 was counted as an owner's 429:\n%s", grepLines(metrics, "filestore_rate_limited"))
	}
}

// TestUploadsCapsOrder: with both caps at one upload, an owner at their own
// cap is answered 429 (their own doing), not the server's 503, while
// another owner gets the 503.
func TestUploadsCapsOrder(t *testing.T) {
	e, ss := newEnteringEnv(t, httpapi.Config{MaxUploads: 1, MaxUploadsPerOwner: 1}, 4)
	alice, bob := e.token("alice"), e.token("bob")
	w, s := openUpload(e, alice, "one")
	waitEntered(t, ss.entered, 1)
	wantProblem(t, e.do("POST", "/v1/files?name=two", alice, bytes.NewReader([]byte("2"))), http.StatusTooManyRequests, "rate_limited")
	wantProblem(t, e.do("POST", "/v1/files?name=b", bob, bytes.NewReader([]byte("b"))), http.StatusServiceUnavailable, "unavailable")
	w.Close()
	if got := <-s; got != http.StatusCreated {
		t.Errorf("alice's first upload: %d", got)
	}
}
