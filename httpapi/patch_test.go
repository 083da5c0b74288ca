package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestPatchInvalidUnicode: a name or folder that is not valid Unicode
// (bytes that are not UTF-8, an escaped surrogate that is not one half of
// a pair) is 400 invalid_name, as on upload, and never stored as U+FFFD;
// the file keeps its path. A U+FFFD the client sends is a character like
// any other.
func TestPatchInvalidUnicode(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	f := e.upload(tok, "", "a.txt", []byte("hello"))
	tests := []struct {
		name, body   string
		status       int
		code         string // problem code, when an error
		folder, file string // the path after a success
	}{
		{"byte FF in name", "{\"name\":\"\xff.txt\"}", 400, "invalid_name", "", ""},
		{"truncated sequence in folder", "{\"folder\":\"docs\xe2\x82\"}", 400, "invalid_name", "", ""},
		{"lone high surrogate", `{"name":"\ud800.txt"}`, 400, "invalid_name", "", ""},
		{"lone low surrogate in folder", `{"folder":"x\udfff"}`, 400, "invalid_name", "", ""},
		{"high surrogate then a letter", `{"name":"\ud83dA.txt"}`, 400, "invalid_name", "", ""},
		{"two high surrogates", `{"name":"\ud83d\ud83d.txt"}`, 400, "invalid_name", "", ""},
		{"high surrogate at the end", `{"name":"a.txt\ud83d"}`, 400, "invalid_name", "", ""},
		{"surrogate pair", `{"name":"\ud83d\ude00.txt"}`, 200, "", "", "\U0001F600.txt"},
		{"escaped U+FFFD", `{"name":"\ufffd.txt"}`, 200, "", "", "\ufffd.txt"},
		{"U+FFFD as UTF-8", "{\"name\":\"b\xef\xbf\xbd.txt\"}", 200, "", "", "b\ufffd.txt"},
		{"escaped letters", `{"name":"\u0064.txt","folder":"\u00e9t\u00e9"}`, 200, "", "été", "d.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := decodeFile(t, e.do("GET", "/v1/files/"+f.ID, tok, nil).body)
			res := e.do("PATCH", "/v1/files/"+f.ID, tok, strings.NewReader(tt.body), "Content-Type", "application/json")
			if tt.code != "" {
				wantProblem(t, res, tt.status, tt.code)
				wantPath(t, decodeFile(t, e.do("GET", "/v1/files/"+f.ID, tok, nil).body), before.Folder, before.Name)
				return
			}
			if res.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", res.status, tt.status, res.body)
			}
			wantPath(t, decodeFile(t, res.body), tt.folder, tt.file)
		})
	}
}

// TestPatchStrictJSON: PATCH takes an object whose keys are exactly "name"
// and "folder", each at most once (400 bad_request otherwise), whatever
// the body's Content-Type; the file keeps its path when refused.
func TestPatchStrictJSON(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	f := e.upload(tok, "", "a.txt", []byte("hello"))
	tests := []struct {
		name, contentType, body string
		status                  int
		code                    string // problem code, when an error
		file                    string // the name after a success
	}{
		{"duplicate key", "application/json", `{"name":"b.txt","name":"c.txt"}`, 400, "bad_request", ""},
		{"duplicate key, one null", "application/json", `{"name":null,"name":"c.txt"}`, 400, "bad_request", ""},
		{"duplicate key through an escape", "application/json", `{"name":"b.txt","\u006eame":"c.txt"}`, 400, "bad_request", ""},
		{"upper-case key", "application/json", `{"NAME":"d.txt"}`, 400, "bad_request", ""},
		{"capitalised key", "application/json", `{"Folder":"x"}`, 400, "bad_request", ""},
		{"key with invalid UTF-8", "application/json", "{\"nam\xff\":\"d.txt\"}", 400, "bad_request", ""},
		{"name a number", "application/json", `{"name":5}`, 400, "bad_request", ""},
		{"an array", "application/json", `[{"name":"d.txt"}]`, 400, "bad_request", ""},
		{"trailing comma", "application/json", `{"name":"d.txt",}`, 400, "bad_request", ""},
		// The body is read as JSON whatever its Content-Type: api.md
		// names none, and curl -d sends a form's.
		{"text/plain", "text/plain", `{"name":"e1.txt"}`, 200, "", "e1.txt"},
		{"form", "application/x-www-form-urlencoded", `{"name":"e2.txt"}`, 200, "", "e2.txt"},
		{"no Content-Type", "", `{"name":"e3.txt"}`, 200, "", "e3.txt"},
		{"malformed Content-Type", "application/json; charset", `{"name":"e4.txt"}`, 200, "", "e4.txt"},
		{"application/json with charset", "application/json; charset=utf-8", `{"name":"f.txt"}`, 200, "", "f.txt"},
		{"upper-case media type", "Application/JSON", `{"name":"g.txt"}`, 200, "", "g.txt"},
		{"merge patch", "application/merge-patch+json", `{"name":"h.txt"}`, 200, "", "h.txt"},
		{"null and a name", "application/json", `{"folder":null,"name":"i.txt"}`, 200, "", "i.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := decodeFile(t, e.do("GET", "/v1/files/"+f.ID, tok, nil).body)
			var header []string
			if tt.contentType != "" {
				header = []string{"Content-Type", tt.contentType}
			}
			res := e.do("PATCH", "/v1/files/"+f.ID, tok, strings.NewReader(tt.body), header...)
			if tt.code != "" {
				wantProblem(t, res, tt.status, tt.code)
				wantPath(t, decodeFile(t, e.do("GET", "/v1/files/"+f.ID, tok, nil).body), before.Folder, before.Name)
				return
			}
			if res.status != http.StatusOK {
				t.Fatalf("status %d, want 200; body %s", res.status, res.body)
			}
			wantPath(t, decodeFile(t, res.body), "", tt.file)
		})
	}
}
