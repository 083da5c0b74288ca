package httpapi_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/auth"
)

// formWith is a multipart/form-data body of one file part, a.txt holding
// "hello", delimited by boundary.
func formWith(boundary string) []byte {
	return []byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--" + boundary + "--\r\n")
}

// TestUploadMalformedBoundary: a multipart upload whose boundary parameter
// is malformed, or whose body is delimited otherwise than it says, is
// refused with 400 bad_request and stores nothing; RFC 2046's longest
// boundary (70 characters) and every character it allows work.
func TestUploadMalformedBoundary(t *testing.T) {
	e := newEnv(t, envOptions{cfg: cfgCollect(&filestore.CollectOptions{StagingTTL: time.Nanosecond})})
	admin := e.token("root", auth.ScopeAdmin)
	const form = "multipart/form-data; boundary="
	long70 := strings.Repeat("b", 70)
	allowed := `0aZ'()+_,-./:=? x` // bchars of RFC 2046, a space inside
	tests := []struct {
		name        string
		contentType string
		body        []byte
		status      int
		code        string
	}{
		{"boundary of 70 characters", form + long70, formWith(long70), 201, ""},
		{"every character RFC 2046 allows", form + `"` + allowed + `"`, formWith(allowed), 201, ""},
		{"empty quoted boundary", form + `""`, formWith(""), 400, "bad_request"},
		{"boundary without a value", form, formWith(""), 400, "bad_request"},
		{"unterminated quoted boundary", form + `"abc`, formWith("abc"), 400, "bad_request"},
		{"two boundary parameters", form + "B; boundary=C", formWith("B"), 400, "bad_request"},
		{"boundary not in the body", form + "OTHER", formWith("B"), 400, "bad_request"},
		{"body delimited by a longer boundary", form + "B", formWith("BX"), 400, "bad_request"},
		{"body delimited by a prefix of the boundary", form + "BOUNDARY", formWith("BOUND"), 400, "bad_request"},
		{"boundary of 8 KiB", form + strings.Repeat("b", 8<<10), formWith(strings.Repeat("b", 8<<10)), 400, "bad_request"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := e.token("boundary" + string(rune('a'+i)))
			before := e.blobFiles()
			res := e.do("POST", "/v1/files", tok, bytes.NewReader(tt.body), "Content-Type", tt.contentType)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			if tt.code == "" {
				f := decodeFile(t, res.body)
				stored := e.do("GET", "/v1/files/"+f.ID+"/content", tok, nil)
				if f.Name != "a.txt" || string(stored.body) != "hello" {
					t.Errorf("stored %q as %q, want \"hello\" as a.txt", stored.body, f.Name)
				}
				return
			}
			wantProblem(t, res, tt.status, tt.code)
			if _, l := e.list(tok, "?recursive=true"); len(l.Files) != 0 {
				t.Errorf("a refused upload left files %v", paths(l))
			}
			if gc := e.do("POST", "/v1/admin/gc", admin, nil); gc.status != 200 {
				t.Fatalf("gc: %d %s", gc.status, gc.body)
			}
			if after := e.blobFiles(); len(after) != len(before) {
				t.Errorf("a refused upload left bytes: %d files in the bucket, %d before", len(after), len(before))
			}
		})
	}
}
