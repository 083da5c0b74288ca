package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// comparableAnswer is an answer without what differs between any two
// requests (date, request id, trace).
type comparableAnswer struct {
	Status int
	Header http.Header
	Body   map[string]any
}

func comparableOf(t *testing.T, res *response) comparableAnswer {
	t.Helper()
	h := res.header.Clone()
	for _, k := range []string{"Date", "X-Request-Id", "Traceparent"} {
		h.Del(k)
	}
	var body map[string]any
	if len(res.body) > 0 {
		if err := json.Unmarshal(res.body, &body); err != nil {
			t.Fatalf("body %q: %v", res.body, err)
		}
		delete(body, "request_id")
	}
	return comparableAnswer{Status: res.status, Header: h, Body: body}
}

// TestIsolation: for a file of owner A, every route called by owner B
// answers exactly as for an id that does not exist.
func TestIsolation(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice, bob := e.token("alice"), e.token("bob")
	live := e.upload(alice, "private", "diary.txt", []byte("dear diary"))
	trashed := e.upload(alice, "private", "old.txt", []byte("old"))
	if res := e.do("DELETE", "/v1/files/"+trashed.ID, alice, nil); res.status != 204 {
		t.Fatalf("delete: %d", res.status)
	}
	// An id of the same shape that nobody has.
	missing := live.ID[:len(live.ID)-4] + strings.Map(func(r rune) rune {
		if r == 'f' {
			return '0'
		}
		return 'f'
	}, live.ID[len(live.ID)-4:])

	routes := []struct {
		method, path, body string
	}{
		{"GET", "/v1/files/{id}", ""},
		{"GET", "/v1/files/{id}/content", ""},
		{"HEAD", "/v1/files/{id}/content", ""},
		{"GET", "/v1/files/{id}/content?inline=true", ""},
		{"PATCH", "/v1/files/{id}", `{"name": "mine.txt"}`},
		{"PATCH", "/v1/files/{id}", `{"folder": "private"}`},
		{"POST", "/v1/files/{id}/restore", ""},
		{"DELETE", "/v1/files/{id}", ""},
		{"DELETE", "/v1/files/{id}?permanent=true", ""},
	}
	// Every route that takes an id is called: the OpenAPI document lists
	// each route of the router (TestOpenAPIMatchesRouter), so a route added
	// to both fails here until it joins the table.
	called := map[string]bool{}
	for _, rt := range routes {
		called[rt.method+" "+strings.Split(rt.path, "?")[0]] = true
	}
	for _, rt := range idRoutes(t, e) {
		if !called[rt] {
			t.Errorf("route %s takes an id but is not called across owners", rt)
		}
	}

	for _, victim := range []struct {
		name string
		id   string
	}{{"live", live.ID}, {"trashed", trashed.ID}} {
		for _, rt := range routes {
			t.Run(victim.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				call := func(id string) comparableAnswer {
					var body *bytes.Reader
					if rt.body != "" {
						body = bytes.NewReader([]byte(rt.body))
					}
					path := strings.ReplaceAll(rt.path, "{id}", id)
					var res *response
					if body != nil {
						res = e.do(rt.method, path, bob, body, "Content-Type", "application/json")
					} else {
						res = e.do(rt.method, path, bob, nil)
					}
					return comparableOf(t, res)
				}
				foreign, none := call(victim.id), call(missing)
				if diff := cmp.Diff(none, foreign); diff != "" {
					t.Errorf("another owner's id answers differently from a missing one (-missing +foreign):\n%s", diff)
				}
				if foreign.Status != 404 {
					t.Errorf("status %d, want 404", foreign.Status)
				}
			})
		}
	}

	for _, q := range []string{"?recursive=true", "?recursive=true&trash=true", "?folder=private", "?folder=private&trash=true", "?recursive=true&q=diary"} {
		if _, l := e.list(bob, q); len(l.Files) != 0 {
			t.Errorf("bob lists %s: %v", q, paths(l))
		}
	}
	// Nothing bob did changed alice's files.
	for _, f := range []struct {
		id      string
		deleted bool
	}{{live.ID, false}, {trashed.ID, true}} {
		res := e.do("GET", "/v1/files/"+f.id, alice, nil)
		got := decodeFile(t, res.body)
		if res.status != 200 || got.Folder != "private" || (got.DeletedAt != nil) != f.deleted {
			t.Errorf("alice's file after bob: %d %+v", res.status, got)
		}
	}
}

// idRoutes returns "METHOD path" of every route in the OpenAPI document
// whose path has an {id}.
func idRoutes(t *testing.T, e *env) []string {
	t.Helper()
	res := e.do("GET", "/v1/openapi.json", "", nil)
	var doc struct {
		Paths map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(res.body, &doc); res.status != 200 || err != nil {
		t.Fatalf("openapi.json: %d, %v", res.status, err)
	}
	var out []string
	for path, ops := range doc.Paths {
		if !strings.Contains(path, "{id}") {
			continue
		}
		for method := range ops {
			switch m := strings.ToUpper(method); m {
			case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE":
				out = append(out, m+" "+path)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("openapi.json lists no route with an {id}")
	}
	return out
}
