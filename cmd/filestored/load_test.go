package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
)

// loadClient sends requests to filestored servers with a bearer token per
// owner.
type loadClient struct {
	http   *http.Client
	tokens map[string]string // by owner
}

// do sends a request as owner and returns the answer's status and body; a
// request that gets no answer fails t and returns 0.
func (c *loadClient) do(t *testing.T, addr, owner, method, path string, body []byte) (int, []byte) {
	req, err := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	req.Header.Set("Authorization", "Bearer "+c.tokens[owner])
	if method == "PATCH" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, path, err)
		return 0, nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// mixedLoad is a concurrent load on servers that share a catalogue and a
// bucket: uploads of overlapping content by several owners, downloads,
// renames, deletes, restores and purges of what was uploaded, through
// servers picked at random, and GC (as "ops", an admin) through each in
// turn.
type mixedLoad struct {
	addrs    []string
	owners   []string
	contents [][]byte
	workers  int
	duration time.Duration
	maxOps   int    // per worker
	seed     uint64 // of the workers' choices
}

// loadUpload is an upload the server acknowledged (201).
type loadUpload struct {
	owner, id string
	content   int // index in mixedLoad.contents
}

// loadOutcome is what a mixedLoad did.
type loadOutcome struct {
	acked  []loadUpload
	purged map[string]bool // ids purged with 204
	ops    map[string]int  // answers by "operation status"
}

// run drives the load until its duration has passed (or each worker has
// done maxOps operations) and returns what it did. An upload not answered
// 201, another operation answered 5xx, or a GC not answered 200 fails t
// (404 is a lost race with another worker's purge); so does a run in
// which some operation never succeeded.
func (l *mixedLoad) run(t *testing.T, c *loadClient) *loadOutcome {
	t.Helper()
	out := &loadOutcome{purged: map[string]bool{}, ops: map[string]int{}}
	var mu sync.Mutex
	count := func(op string, status int) {
		mu.Lock()
		out.ops[fmt.Sprintf("%s %d", op, status)]++
		mu.Unlock()
	}
	check := func(op, addr string, status int, body []byte) {
		count(op, status)
		if status >= 500 {
			t.Errorf("%s through %s: %d %s", op, addr, status, body)
		}
	}
	deadline := time.Now().Add(l.duration)
	var wg sync.WaitGroup
	for w := range l.workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), l.seed))
			for i := 0; time.Now().Before(deadline) && i < l.maxOps; i++ {
				addr := l.addrs[r.IntN(len(l.addrs))]
				mu.Lock()
				var u loadUpload
				have := len(out.acked) > 0
				if have {
					u = out.acked[r.IntN(len(out.acked))]
				}
				mu.Unlock()
				switch op := r.IntN(10); {
				case op < 4 || !have:
					ci := r.IntN(len(l.contents))
					owner := l.owners[r.IntN(len(l.owners))]
					status, body := c.do(t, addr, owner, "POST", fmt.Sprintf("/v1/files?folder=w%d&name=f%d", w, i), l.contents[ci])
					count("upload", status)
					if status != http.StatusCreated {
						t.Errorf("upload through %s: %d %s", addr, status, body)
						return
					}
					var f filestore.File
					if err := json.Unmarshal(body, &f); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					out.acked = append(out.acked, loadUpload{owner, f.ID, ci})
					mu.Unlock()
				case op < 6:
					status, body := c.do(t, addr, u.owner, "GET", "/v1/files/"+u.id+"/content", nil)
					check("download", addr, status, body)
					if status == http.StatusOK && !bytes.Equal(body, l.contents[u.content]) {
						t.Errorf("download of %s through %s: %d bytes differ from content %d", u.id, addr, len(body), u.content)
					}
				case op == 6:
					status, body := c.do(t, addr, u.owner, "PATCH", "/v1/files/"+u.id, fmt.Appendf(nil, `{"name": "renamed-%d-%d"}`, w, i))
					check("rename", addr, status, body)
				case op == 7:
					status, body := c.do(t, addr, u.owner, "DELETE", "/v1/files/"+u.id, nil)
					check("delete", addr, status, body)
				case op == 8:
					status, body := c.do(t, addr, u.owner, "POST", "/v1/files/"+u.id+"/restore", nil)
					check("restore", addr, status, body)
				default:
					status, body := c.do(t, addr, u.owner, "DELETE", "/v1/files/"+u.id+"?permanent=true", nil)
					check("purge", addr, status, body)
					if status == http.StatusNoContent {
						mu.Lock()
						out.purged[u.id] = true
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; time.Now().Before(deadline); i++ {
			addr := l.addrs[i%len(l.addrs)]
			status, body := c.do(t, addr, "ops", "POST", "/v1/admin/gc", nil)
			count("gc", status)
			if status != http.StatusOK {
				t.Errorf("gc through %s: %d %s", addr, status, body)
				return
			}
		}
	})
	wg.Wait()
	t.Logf("%d uploads acknowledged, %d purged; answers: %v", len(out.acked), len(out.purged), out.ops)
	if t.Failed() {
		t.FailNow()
	}
	for _, done := range []string{"purge 204", "download 200", "rename 200", "gc 200", "delete 204", "restore 200"} {
		if out.ops[done] == 0 {
			t.Fatalf("the run exercised too little (no %q): %v", done, out.ops)
		}
	}
	return out
}

// readBack checks that every acknowledged upload was purged or reads back
// byte for byte through each of addrs (restoring it first if it is in the
// trash), and returns those that read back.
func (o *loadOutcome) readBack(t *testing.T, c *loadClient, contents [][]byte, addrs []string) []loadUpload {
	t.Helper()
	var readable []loadUpload
	for _, u := range o.acked {
		status, body := c.do(t, addrs[0], u.owner, "GET", "/v1/files/"+u.id, nil)
		if status == http.StatusNotFound {
			if !o.purged[u.id] {
				t.Errorf("acknowledged upload %s of %s is gone but was not purged", u.id, u.owner)
			}
			continue
		}
		var f filestore.File
		if status != http.StatusOK || json.Unmarshal(body, &f) != nil {
			t.Fatalf("stat %s: %d %s", u.id, status, body)
		}
		if f.DeletedAt != nil {
			if status, body := c.do(t, addrs[len(addrs)-1], u.owner, "POST", "/v1/files/"+u.id+"/restore", nil); status != http.StatusOK {
				t.Fatalf("restore %s: %d %s", u.id, status, body)
			}
		}
		for _, addr := range addrs {
			if status, body := c.do(t, addr, u.owner, "GET", "/v1/files/"+u.id+"/content", nil); status != http.StatusOK || !bytes.Equal(body, contents[u.content]) {
				t.Errorf("file %s through %s: %d, %d bytes; want content %d", u.id, addr, status, len(body), u.content)
			}
		}
		readable = append(readable, u)
	}
	t.Logf("%d files readable byte for byte through each of the %d servers", len(readable), len(addrs))
	return readable
}
