package httpapi_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
)

// TestPreconditionsOnFileRoutes: If-Match, If-None-Match and
// If-Unmodified-Since on the routes that change a file by id are evaluated
// against the file's ETag and Last-Modified before the change, as a
// download evaluates them: when they fail the answer is 412
// precondition_failed and the file is as it was. A field given as several
// lines is one list.
func TestPreconditionsOnFileRoutes(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	routes := []struct {
		name, method, path, body string
		trashed                  bool // the route is tried on a trashed file
		status                   int  // its answer when the preconditions hold
	}{
		{"rename", "PATCH", "/v1/files/{id}", `{"name": "renamed-{id}.txt"}`, false, 200},
		{"delete", "DELETE", "/v1/files/{id}", "", false, 204},
		{"delete trashed", "DELETE", "/v1/files/{id}", "", true, 204},
		{"purge", "DELETE", "/v1/files/{id}?permanent=true", "", false, 204},
		{"purge trashed", "DELETE", "/v1/files/{id}?permanent=true", "", true, 204},
		{"restore", "POST", "/v1/files/{id}/restore", "", true, 200},
	}
	conditions := []struct {
		name string
		// header is pairs of field name and value; {etag}, {past} and
		// {modified} stand for the file's ETag, an hour before its
		// Last-Modified, and its Last-Modified.
		header []string
		holds  bool
	}{
		{"If-Match its ETag", []string{"If-Match", "{etag}"}, true},
		{"If-Match another", []string{"If-Match", `"0000"`}, false},
		{"If-Match any", []string{"If-Match", "*"}, true},
		{"If-Match its weak ETag", []string{"If-Match", "W/{etag}"}, false},
		{"If-Match list", []string{"If-Match", `"0000", {etag}`}, true},
		{"If-Match two lines", []string{"If-Match", `"0000"`, "If-Match", "{etag}"}, true},
		{"If-Match two lines, neither", []string{"If-Match", `"0000"`, "If-Match", `"1111"`}, false},
		{"If-None-Match any", []string{"If-None-Match", "*"}, false},
		{"If-None-Match its ETag", []string{"If-None-Match", "{etag}"}, false},
		{"If-None-Match its weak ETag", []string{"If-None-Match", "W/{etag}"}, false},
		{"If-None-Match another", []string{"If-None-Match", `"0000"`}, true},
		{"If-None-Match two lines", []string{"If-None-Match", `"0000"`, "If-None-Match", "{etag}"}, false},
		{"If-Unmodified-Since before", []string{"If-Unmodified-Since", "{past}"}, false},
		{"If-Unmodified-Since its time", []string{"If-Unmodified-Since", "{modified}"}, true},
		{"If-Unmodified-Since malformed", []string{"If-Unmodified-Since", "yesterday"}, true},
		{"If-Match wins over If-Unmodified-Since", []string{"If-Match", "{etag}", "If-Unmodified-Since", "{past}"}, true},
		{"If-Match and If-None-Match", []string{"If-Match", "{etag}", "If-None-Match", "{etag}"}, false},
	}
	n := 0
	for _, rt := range routes {
		for _, c := range conditions {
			n++
			name := fmt.Sprintf("f%d.txt", n)
			t.Run(rt.name+"/"+c.name, func(t *testing.T) {
				f := e.upload(tok, "", name, []byte(name))
				if rt.trashed {
					if res := e.do("DELETE", "/v1/files/"+f.ID, tok, nil); res.status != 204 {
						t.Fatalf("delete: %d %s", res.status, res.body)
					}
				}
				before := e.stat(tok, f.ID)
				r := strings.NewReplacer("{etag}", `"`+f.SHA256+`"`, "{id}", f.ID,
					"{past}", f.CreatedAt.Add(-time.Hour).UTC().Format(http.TimeFormat),
					"{modified}", f.CreatedAt.UTC().Format(http.TimeFormat))
				header := make([]string, len(c.header))
				for i, v := range c.header {
					header[i] = r.Replace(v)
				}
				var body *strings.Reader
				if rt.body != "" {
					body = strings.NewReader(r.Replace(rt.body))
					header = append(header, "Content-Type", "application/json")
				}
				var res *response
				if body != nil {
					res = e.do(rt.method, r.Replace(rt.path), tok, body, header...)
				} else {
					res = e.do(rt.method, r.Replace(rt.path), tok, nil, header...)
				}
				if c.holds {
					if res.status != rt.status {
						t.Fatalf("status %d, want %d; body %s", res.status, rt.status, res.body)
					}
					return
				}
				wantProblem(t, res, 412, "precondition_failed")
				after := e.stat(tok, f.ID)
				if after == nil || after.Name != before.Name || (after.DeletedAt == nil) != (before.DeletedAt == nil) {
					t.Errorf("after a 412 the file is %+v, was %+v", after, before)
				}
			})
		}
	}

	// They are evaluated before PATCH looks at its body (RFC 9110 13.2.1).
	g := e.upload(tok, "", "body.txt", []byte("body"))
	wantProblem(t, e.do("PATCH", "/v1/files/"+g.ID, tok, strings.NewReader("not JSON"), "If-Match", `"0000"`), 412, "precondition_failed")

	// Preconditions do not turn the answer of an unknown id, or of a
	// trashed file that PATCH does not change, into 412.
	f := e.upload(tok, "", "gone.txt", []byte("gone"))
	e.do("DELETE", "/v1/files/"+f.ID, tok, nil)
	for _, tt := range []struct{ method, path, body string }{
		{"PATCH", "/v1/files/" + f.ID, `{"name": "x.txt"}`},
		{"PATCH", "/v1/files/unknown", `{"name": "x.txt"}`},
		{"DELETE", "/v1/files/unknown", ""},
		{"DELETE", "/v1/files/unknown?permanent=true", ""},
		{"POST", "/v1/files/unknown/restore", ""},
	} {
		res := e.do(tt.method, tt.path, tok, strings.NewReader(tt.body), "If-Match", `"0000"`, "Content-Type", "application/json")
		wantProblem(t, res, 404, "not_found")
	}
}

// stat returns the caller's file id, or nil when it is not found.
func (e *env) stat(tok, id string) *filestore.File {
	e.t.Helper()
	res := e.do("GET", "/v1/files/"+id, tok, nil)
	switch res.status {
	case http.StatusOK:
		return decodeFile(e.t, res.body)
	case http.StatusNotFound:
		return nil
	}
	e.t.Fatalf("stat %s: %d %s", id, res.status, res.body)
	return nil
}

// TestUploadPreconditions: If-None-Match: * uploads only to a free path
// (412 instead of 409 when it is taken, even with overwrite=true, and the
// live file stays); If-Match, If-None-Match with ETags and
// If-Unmodified-Since, which the server cannot check against the file at
// the path atomically, are 400 and nothing is stored.
func TestUploadPreconditions(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	old := e.upload(tok, "", "taken.txt", []byte("old"))
	etag := `"` + old.SHA256 + `"`

	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("file", "taken.txt")
	fw.Write([]byte("multipart"))
	mw.Close()

	tests := []struct {
		name, path string
		body       []byte
		header     []string
		status     int
		code       string // problem code, when an error
	}{
		{"create-only to a free path", "/v1/files?name=free.txt", []byte("new"), []string{"If-None-Match", "*"}, 201, ""},
		{"create-only to a taken path", "/v1/files?name=taken.txt", []byte("new"), []string{"If-None-Match", "*"}, 412, "precondition_failed"},
		{"create-only overwrite", "/v1/files?name=taken.txt&overwrite=true", []byte("new"), []string{"If-None-Match", " * "}, 412, "precondition_failed"},
		{"create-only multipart", "/v1/files?overwrite=true", mp.Bytes(), []string{"If-None-Match", "*", "Content-Type", mw.FormDataContentType()}, 412, "precondition_failed"},
		{"If-Match", "/v1/files?name=taken.txt&overwrite=true", []byte("new"), []string{"If-Match", etag}, 400, "bad_request"},
		{"If-Match any", "/v1/files?name=taken.txt&overwrite=true", []byte("new"), []string{"If-Match", "*"}, 400, "bad_request"},
		{"If-None-Match an ETag", "/v1/files?name=other.txt", []byte("new"), []string{"If-None-Match", etag}, 400, "bad_request"},
		{"If-None-Match any twice", "/v1/files?name=other.txt", []byte("new"), []string{"If-None-Match", "*", "If-None-Match", "*"}, 400, "bad_request"},
		{"If-Unmodified-Since", "/v1/files?name=other.txt", []byte("new"), []string{"If-Unmodified-Since", old.CreatedAt.UTC().Format(http.TimeFormat)}, 400, "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("POST", tt.path, tok, bytes.NewReader(tt.body), tt.header...)
			if tt.code != "" {
				wantProblem(t, res, tt.status, tt.code)
			} else if res.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", res.status, tt.status, res.body)
			}
			if g := e.stat(tok, old.ID); g == nil || g.DeletedAt != nil {
				t.Errorf("the file at the path is now %+v, want it live", g)
			}
		})
	}
	_, l := e.list(tok, "")
	if got, want := strings.Join(paths(l), " "), "|free.txt |taken.txt"; got != want {
		t.Errorf("files %s, want %s", got, want)
	}
}

// TestDownloadConditionalFieldLines: If-Match and If-None-Match sent as
// several field lines are one list (RFC 9110 5.3), on GET and HEAD.
func TestDownloadConditionalFieldLines(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	f := e.upload(tok, "", "a.txt", []byte("hello"))
	etag := `"` + f.SHA256 + `"`
	tests := []struct {
		name   string
		header []string
		status int
	}{
		{"If-Match, the second matches", []string{"If-Match", `"x"`, "If-Match", etag}, 200},
		{"If-Match, the first matches", []string{"If-Match", etag, "If-Match", `"x"`}, 200},
		{"If-Match, neither matches", []string{"If-Match", `"x"`, "If-Match", `"y"`}, 412},
		{"If-None-Match, the second matches", []string{"If-None-Match", `"x"`, "If-None-Match", etag}, 304},
		{"If-None-Match, neither matches", []string{"If-None-Match", `"x"`, "If-None-Match", `"y"`}, 200},
	}
	for _, tt := range tests {
		for _, method := range []string{"GET", "HEAD"} {
			t.Run(method+" "+tt.name, func(t *testing.T) {
				res := e.do(method, "/v1/files/"+f.ID+"/content", tok, nil, tt.header...)
				if res.status != tt.status {
					t.Fatalf("status %d, want %d; body %s", res.status, tt.status, res.body)
				}
				if tt.status == 200 && method == "GET" && string(res.body) != "hello" {
					t.Errorf("body %q", res.body)
				}
			})
		}
	}
}
