package httpapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestQueryStrict: a malformed query string, or a parameter the route reads
// given twice, is 400 bad_request with a log line, and nothing is stored,
// moved or deleted. Before, url.Values dropped a malformed pair: the file of
// "?name=a&folder=docs;x" went to the root folder, "?trash=true;" listed
// the live files, and "?name=a&name=b" stored a. Parameters a route does
// not read stay ignored, even repeated.
func TestQueryStrict(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	kept := e.upload(tok, "docs", "kept.txt", []byte("kept"))
	e.logs.waitRequest(t, "POST /v1/files")
	blobs := len(e.blobFiles())

	tests := []struct {
		name, method, path, detail string
	}{
		{"upload, bad escape in folder", "POST", "/v1/files?name=a.txt&folder=%zz", "percent sign"},
		{"upload, semicolon in folder", "POST", "/v1/files?name=a.txt&folder=docs;x", "semicolon"},
		{"upload, semicolon after overwrite", "POST", "/v1/files?name=kept.txt&folder=docs&overwrite=true;", "semicolon"},
		{"upload, name twice", "POST", "/v1/files?name=a.txt&name=b.txt", "name parameter is given more than once"},
		{"upload, folder twice", "POST", "/v1/files?name=a.txt&folder=docs&folder=other", "folder parameter is given more than once"},
		{"upload, too many parameters", "POST", "/v1/files?name=a.txt" + strings.Repeat("&x=1", 100), "more than 100 parameters"},
		{"multipart upload, folder twice", "POST", "/v1/files?folder=docs&folder=other", "folder parameter is given more than once"},
		{"list, semicolon", "GET", "/v1/files?trash=true;", "semicolon"},
		{"list, folder twice", "GET", "/v1/files?folder=docs&folder=other", "folder parameter is given more than once"},
		{"list, bad escape in q", "GET", "/v1/files?q=%g0", "percent sign"},
		{"download, inline twice", "GET", "/v1/files/" + kept.ID + "/content?inline=true&inline=false", "inline parameter is given more than once"},
		{"download, bad escape", "GET", "/v1/files/" + kept.ID + "/content?inline=%", "percent sign"},
		{"delete, permanent twice", "DELETE", "/v1/files/" + kept.ID + "?permanent=false&permanent=true", "permanent parameter is given more than once"},
		{"delete, semicolon", "DELETE", "/v1/files/" + kept.ID + "?permanent=true;", "semicolon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res *response
			route := tt.method + " /v1/files"
			switch {
			case tt.method == "POST" && strings.HasPrefix(tt.name, "multipart"):
				body := "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.txt\"\r\n\r\nmultipart\r\n--b--\r\n"
				res = e.do("POST", tt.path, tok, strings.NewReader(body), "Content-Type", "multipart/form-data; boundary=b")
			case tt.method == "POST":
				res = e.do("POST", tt.path, tok, bytes.NewReader([]byte("new content")))
			case tt.method == "GET" && strings.Contains(tt.path, "/content"):
				res = e.do("GET", tt.path, tok, nil)
				route = "GET /v1/files/{id}/content"
			case tt.method == "DELETE":
				res = e.do("DELETE", tt.path, tok, nil)
				route = "DELETE /v1/files/{id}"
			default:
				res = e.do(tt.method, tt.path, tok, nil)
			}
			wantProblem(t, res, http.StatusBadRequest, "bad_request")
			if d := detailOf(t, res); !strings.Contains(d, tt.detail) {
				t.Errorf("detail %q, want it to say %q", d, tt.detail)
			}
			line := e.logs.waitRequest(t, route)
			if got := fmt.Sprint(line["status"]); got != "400" {
				t.Errorf("log line status %s, want 400: %v", got, line)
			}
		})
	}

	// Nothing stored, moved or deleted.
	res, all := e.list(tok, "?recursive=true")
	if res.status != http.StatusOK || len(all.Files) != 1 || all.Files[0].ID != kept.ID || all.Files[0].Folder != "docs" {
		t.Fatalf("after the refused requests the owner has %d %s, want only %s in docs", res.status, res.body, kept.ID)
	}
	if _, trash := e.list(tok, "?trash=true"); len(trash.Files) != 0 {
		t.Errorf("trash holds %d files, want none", len(trash.Files))
	}
	if got := len(e.blobFiles()); got != blobs {
		t.Errorf("bucket holds %d files, want %d as before", got, blobs)
	}

	// HEAD: the same 400, headers only.
	if res := e.do("HEAD", "/v1/files/"+kept.ID+"/content?inline=1&inline=0", tok, nil); res.status != http.StatusBadRequest || len(res.body) != 0 {
		t.Errorf("HEAD with inline twice: %d with %d body bytes, want 400 and none", res.status, len(res.body))
	}

	// Parameters no route reads are ignored, repeated or not.
	res = e.do("POST", "/v1/files?name=b.txt&folder=docs&utm=1&utm=2", tok, strings.NewReader("b"))
	if res.status != http.StatusCreated {
		t.Fatalf("upload with an unknown repeated parameter: %d %s, want 201", res.status, res.body)
	}
	if res, l := e.list(tok, "?folder=docs&x=1&x=2"); res.status != http.StatusOK || len(l.Files) != 2 {
		t.Errorf("list with an unknown repeated parameter: %d, %d files, want 200 and 2", res.status, len(l.Files))
	}
	if res := e.do("GET", "/v1/files/"+kept.ID+"/content?inline=true&v=1&v=2", tok, nil); res.status != http.StatusOK || string(res.body) != "kept" {
		t.Errorf("download with an unknown repeated parameter: %d %q, want 200 kept", res.status, res.body)
	}
}
