package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/filestore-go/filestore/filestoretest"
)

// TestHostileHeaders sends requests with hostile headers to a running
// filestored (its http.Server with MaxHeaderBytes 64 KiB, then the
// handler): headers over the limit, in one line or in thousands, are
// refused with 431 by the HTTP layer; a Range header of thousands of
// ranges (over httpapi's MaxRanges, 100, even when they ask for fewer
// bytes than the file holds), or of overlapping ranges that ask for more
// bytes than the file holds, gets the whole content once (200), never a
// multipart answer of thousands of parts; a token with a huge JOSE header,
// or a huge token, is 401 invalid_token. After each, the server answers an
// ordinary request.
func TestHostileHeaders(t *testing.T) {
	s := startServer(t)
	tok := s.token(t, "--sub", "alice")
	content := filestoretest.Content(7, 8<<10)
	status, body := s.request(t, "POST", "/v1/files?name=data.bin", tok, bytes.NewReader(content))
	if status != http.StatusCreated {
		t.Fatalf("upload: %d %s", status, body)
	}
	var f struct{ ID string }
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}
	path := "/v1/files/" + f.ID + "/content"
	b64 := base64.RawURLEncoding.EncodeToString
	ranges := func(n int, spec string) string {
		return "bytes=" + strings.TrimSuffix(strings.Repeat(spec+",", n), ",")
	}
	var distinct []string // 4000 one-byte ranges, 4000 bytes of the 8192
	for i := range 4000 {
		distinct = append(distinct, fmt.Sprintf("%d-%d", 2*i, 2*i))
	}
	manyLines := http.Header{}
	for i := range 5000 {
		manyLines.Set(fmt.Sprintf("X-Pad-%d", i), "padding")
	}

	type answer struct {
		Status       int
		Bytes        int    // length of the body
		Whole        bool   // the body is the whole content
		ContentRange string // Content-Range header
		WWW          string // WWW-Authenticate header
	}
	whole := answer{Status: 200, Bytes: len(content), Whole: true}
	tests := []struct {
		name   string
		header http.Header
		auth   string // Authorization header; "" for alice's token
		want   answer
	}{
		{name: "one header of 100 KiB", header: http.Header{"X-Pad": {strings.Repeat("p", 100<<10)}},
			want: answer{Status: 431, Bytes: len("431 Request Header Fields Too Large")}},
		{name: "5000 header lines", header: manyLines,
			want: answer{Status: 431, Bytes: len("431 Request Header Fields Too Large")}},
		{name: "Range of 100 KiB", header: http.Header{"Range": {ranges(20000, "0-0")}},
			want: answer{Status: 431, Bytes: len("431 Request Header Fields Too Large")}},
		{name: "4000 distinct ranges of one byte", header: http.Header{"Range": {"bytes=" + strings.Join(distinct, ",")}}, want: whole},
		{name: "5000 times the first byte", header: http.Header{"Range": {ranges(5000, "0-0")}}, want: whole},
		{name: "5000 ranges of the whole file", header: http.Header{"Range": {ranges(5000, "0-")}}, want: whole},
		{name: "100 ranges of the whole file", header: http.Header{"Range": {ranges(100, "0-")}}, want: whole},
		{name: "100 overlapping suffixes", header: http.Header{"Range": {ranges(100, "-8000")}}, want: whole},
		{name: "2 ranges, for comparison", header: http.Header{"Range": {"bytes=0-0,8191-8191"}},
			want: answer{Status: 206, Bytes: -1}},
		{name: "token with a JOSE header of 40 KiB",
			auth: "Bearer " + b64([]byte(`{"alg":"HS256","x":"`+strings.Repeat("h", 40<<10)+`"}`)) + ".e30.c2ln",
			want: answer{Status: 401, Bytes: -1, WWW: `Bearer error="invalid_token"`}},
		{name: "token of 60 KiB", auth: "Bearer " + strings.Repeat("A", 60<<10),
			want: answer{Status: 401, Bytes: -1, WWW: `Bearer error="invalid_token"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", "http://"+s.addr+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header[k] = v
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			res, b := send(t, req)
			got := answer{Status: res.StatusCode, Bytes: len(b), Whole: bytes.Equal(b, content),
				ContentRange: res.Header.Get("Content-Range"), WWW: res.Header.Get("WWW-Authenticate")}
			if tt.want.Bytes < 0 {
				got.Bytes = -1
			}
			if strings.HasPrefix(got.WWW, "Bearer ") {
				got.WWW, _, _ = strings.Cut(got.WWW, ", ") // drop error_description
			}
			if got != tt.want {
				t.Errorf("answer %+v, want %+v; body %.200q", got, tt.want, b)
			}
			// The server goes on serving.
			if status, b := s.request(t, "GET", "/v1/files/"+f.ID, tok, nil); status != 200 {
				t.Errorf("the next request: %d %s", status, b)
			}
		})
	}
}

// send sends req with a fresh connection and returns the answer with its
// body read.
func send(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(res.Body); err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return res, b.Bytes()
}
