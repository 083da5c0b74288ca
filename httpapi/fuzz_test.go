package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/filestore-go/filestore/httpapi"
)

// serveDirect answers req with the Handler, without a network.
func (e *env) serveDirect(req *http.Request, tok string) *response {
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return &response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// fileOf is the oracle of FuzzMultipartUpload: the content of the first
// part named file, parsed with the standard library alone.
func fileOf(body []byte, boundary string) ([]byte, bool) {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		p, err := mr.NextPart()
		if err != nil {
			return nil, false
		}
		_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		if err != nil {
			return nil, false
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, false
		}
		if params["name"] == "file" {
			return b, true
		}
	}
}

// FuzzMultipartUpload posts arbitrary multipart bodies. The server never
// fails with a 5xx, always answers JSON, and when it stores a file, that
// file is exactly the body's first part named file.
func FuzzMultipartUpload(f *testing.F) {
	const boundary = "BOUNDARY"
	f.Add([]byte("--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--BOUNDARY--\r\n"))
	f.Add([]byte("--BOUNDARY\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx.txt\r\n--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nhi\r\n--BOUNDARY--"))
	f.Add([]byte("--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../x\"\r\n\r\nx\r\n--BOUNDARY--\r\n"))
	f.Add([]byte("--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\na\r\n--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b\"\r\n\r\nb\r\n--BOUNDARY--\r\n"))
	f.Add([]byte("--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t\"\r\n\r\ntruncated"))
	f.Add([]byte(""))
	e := newEnv(f, envOptions{cfg: httpapi.Config{MaxSize: 1 << 16, Logger: slog.New(slog.DiscardHandler)}})
	tok := e.token("fuzz")
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/v1/files?overwrite=true", bytes.NewReader(body))
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		res := e.serveDirect(req, tok)
		switch res.status {
		case 201:
			var file struct {
				ID   string `json:"id"`
				Size int64  `json:"size"`
			}
			if err := json.Unmarshal(res.body, &file); err != nil {
				t.Fatalf("201 body %q: %v", res.body, err)
			}
			want, ok := fileOf(body, boundary)
			if !ok {
				t.Fatalf("stored a file from a body the standard library cannot parse: %q", body)
			}
			got := e.serveDirect(httptest.NewRequest("GET", "/v1/files/"+file.ID+"/content", nil), tok)
			if !bytes.Equal(got.body, want) {
				t.Fatalf("stored %q, want %q", got.body, want)
			}
		case 400, 409, 413, 415:
			problemOf(t, res)
		default:
			t.Fatalf("status %d: %s", res.status, res.body)
		}
	})
}

// FuzzRange asks for arbitrary Range headers. The answer is 200 with the
// whole content, 206 with exactly the ranges its Content-Range headers
// name, or 416 with "Content-Range: bytes */size" and a problem. Of an
// empty file, the answer is 200 with no bytes or that 416, and 416 only
// when the answer for the 1000-byte file is 416 too (a malformed header).
func FuzzRange(f *testing.F) {
	for _, r := range []string{"bytes=0-0", "bytes=-5", "bytes=10-", "bytes=0-1,5-9", "bytes=999-", "bytes=1000-",
		"bytes=5-2", "bytes=", "bytes=0-0,0-0", "lines=1-2", "bytes=-0", "bytes= 1 - 2 , 4-5", strings.Repeat("bytes=1-1,", 50)} {
		f.Add(r)
	}
	e := newEnv(f, envOptions{cfg: httpapi.Config{Logger: slog.New(slog.DiscardHandler)}})
	tok := e.token("fuzz")
	content := make([]byte, 1000)
	for i := range content {
		content[i] = byte(i * 7)
	}
	file := e.upload(tok, "", "data.bin", content)
	path := "/v1/files/" + file.ID + "/content"
	emptyPath := "/v1/files/" + e.upload(tok, "", "empty.bin", nil).ID + "/content"
	f.Fuzz(func(t *testing.T, rangeHeader string) {
		req := httptest.NewRequest("GET", emptyPath, nil)
		req.Header.Set("Range", rangeHeader)
		empty := e.serveDirect(req, tok)
		switch {
		case empty.status == 200 && len(empty.body) == 0:
		case empty.status == 416 && empty.header.Get("Content-Range") == "bytes */0":
			problemOf(t, empty)
		default:
			t.Fatalf("empty file, Range %q: status %d, %d bytes, Content-Range %q", rangeHeader, empty.status, len(empty.body), empty.header.Get("Content-Range"))
		}
		req = httptest.NewRequest("GET", path, nil)
		req.Header.Set("Range", rangeHeader)
		res := e.serveDirect(req, tok)
		if empty.status == 416 && res.status != 416 {
			t.Fatalf("Range %q: 416 for the empty file, %d for the other", rangeHeader, res.status)
		}
		switch res.status {
		case 200:
			if !bytes.Equal(res.body, content) {
				t.Fatalf("200 with %d bytes, want the whole content", len(res.body))
			}
		case 206:
			checkPartial(t, res, content)
		case 416:
			if got := res.header.Get("Content-Range"); got != "bytes */1000" {
				t.Fatalf("416 Content-Range %q", got)
			}
			problemOf(t, res)
		default:
			t.Fatalf("Range %q: status %d", rangeHeader, res.status)
		}
	})
}

// checkPartial checks each range of a 206 answer against content.
func checkPartial(t *testing.T, res *response, content []byte) {
	t.Helper()
	check := func(contentRange string, body []byte) {
		var first, last, size int64
		if _, err := fmt.Sscanf(contentRange, "bytes %d-%d/%d", &first, &last, &size); err != nil {
			t.Fatalf("Content-Range %q: %v", contentRange, err)
		}
		if size != int64(len(content)) || first < 0 || last < first || last >= size {
			t.Fatalf("Content-Range %q out of bounds", contentRange)
		}
		if !bytes.Equal(body, content[first:last+1]) {
			t.Fatalf("range %q: wrong bytes", contentRange)
		}
	}
	mt, params, err := mime.ParseMediaType(res.header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if mt != "multipart/byteranges" {
		check(res.header.Get("Content-Range"), res.body)
		if res.header.Get("Content-Length") != strconv.Itoa(len(res.body)) {
			t.Fatalf("Content-Length %q for %d bytes", res.header.Get("Content-Length"), len(res.body))
		}
		return
	}
	mr := multipart.NewReader(bytes.NewReader(res.body), params["boundary"])
	parts := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		check(p.Header.Get("Content-Range"), b)
		parts++
	}
	if parts < 2 || parts > httpapi.DefaultMaxRanges {
		t.Fatalf("multipart/byteranges with %d parts", parts)
	}
}
