package httpapi_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// byteRange is one part of a 206 answer.
type byteRange struct {
	ContentRange string
	Body         string
}

// ranges returns the parts of a 206 answer: its one range, or each part
// of multipart/byteranges.
func ranges(t *testing.T, res *response) []byteRange {
	t.Helper()
	mt, params, err := mime.ParseMediaType(res.header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if mt != "multipart/byteranges" {
		return []byteRange{{res.header.Get("Content-Range"), string(res.body)}}
	}
	var out []byteRange
	mr := multipart.NewReader(bytes.NewReader(res.body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		out = append(out, byteRange{p.Header.Get("Content-Range"), string(b)})
	}
}

func TestDownload(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	content := []byte("0123456789abcdefghij") // 20 bytes
	f := e.upload(tok, "", "data.bin", content)
	etag := `"` + f.SHA256 + `"`
	path := "/v1/files/" + f.ID + "/content"
	lastMod := f.CreatedAt.UTC().Format(http.TimeFormat)
	later := f.CreatedAt.Add(time.Hour).UTC().Format(http.TimeFormat)
	earlier := f.CreatedAt.Add(-time.Hour).UTC().Format(http.TimeFormat)
	many := "bytes=" + strings.TrimSuffix(strings.Repeat("0-0,", 101), ",")

	tests := []struct {
		name   string
		method string
		header []string
		status int
		body   string      // whole body for 200
		ranges []byteRange // for 206
		code   string      // for problems
		cr     string      // Content-Range of a 416
	}{
		{name: "whole", header: nil, status: 200, body: string(content)},
		{name: "head", method: "HEAD", status: 200},
		{name: "one range", header: []string{"Range", "bytes=2-5"}, status: 206, ranges: []byteRange{{"bytes 2-5/20", "2345"}}},
		{name: "open range", header: []string{"Range", "bytes=15-"}, status: 206, ranges: []byteRange{{"bytes 15-19/20", "fghij"}}},
		{name: "suffix range", header: []string{"Range", "bytes=-3"}, status: 206, ranges: []byteRange{{"bytes 17-19/20", "hij"}}},
		{name: "range past the end", header: []string{"Range", "bytes=18-100"}, status: 206, ranges: []byteRange{{"bytes 18-19/20", "ij"}}},
		{name: "two ranges", header: []string{"Range", "bytes=0-1,10-12"}, status: 206,
			ranges: []byteRange{{"bytes 0-1/20", "01"}, {"bytes 10-12/20", "abc"}}},
		{name: "three ranges", header: []string{"Range", "bytes=0-0, 5-6, -1"}, status: 206,
			ranges: []byteRange{{"bytes 0-0/20", "0"}, {"bytes 5-6/20", "56"}, {"bytes 19-19/20", "j"}}},
		{name: "over 100 ranges: whole", header: []string{"Range", many}, status: 200, body: string(content)},
		{name: "unsatisfiable", header: []string{"Range", "bytes=20-30"}, status: 416, code: "range_not_satisfiable", cr: "bytes */20"},
		{name: "malformed range", header: []string{"Range", "bytes=a-b"}, status: 416, code: "range_not_satisfiable", cr: "bytes */20"},
		{name: "head unsatisfiable", method: "HEAD", header: []string{"Range", "bytes=20-30"}, status: 416, cr: "bytes */20"},
		{name: "zero-length suffix", header: []string{"Range", "bytes=-0"}, status: 416, code: "range_not_satisfiable", cr: "bytes */20"},
		{name: "zero-length suffix and another", header: []string{"Range", "bytes=-00, 2-3"}, status: 206, ranges: []byteRange{{"bytes 2-3/20", "23"}}},
		{name: "If-None-Match beats zero-length suffix", header: []string{"If-None-Match", etag, "Range", "bytes=-0"}, status: 304},
		{name: "another unit: ignored", header: []string{"Range", "lines=1-2"}, status: 200, body: string(content)}, // RFC 9110 14.2
		{name: "unit in capitals", header: []string{"Range", "Bytes=2-5"}, status: 206, ranges: []byteRange{{"bytes 2-5/20", "2345"}}},
		{name: "no unit", header: []string{"Range", "2-5"}, status: 416, code: "range_not_satisfiable", cr: "bytes */20"},
		// Positions beyond an int64 are beyond the end (RFC 9110 14.1.2).
		{name: "last byte of 20 digits", header: []string{"Range", "bytes=15-99999999999999999999"}, status: 206, ranges: []byteRange{{"bytes 15-19/20", "fghij"}}},
		{name: "suffix of 20 digits", header: []string{"Range", "bytes=-99999999999999999999"}, status: 206, ranges: []byteRange{{"bytes 0-19/20", string(content)}}},
		{name: "first byte of 20 digits", header: []string{"Range", "bytes=99999999999999999999-"}, status: 416, code: "range_not_satisfiable", cr: "bytes */20"},
		{name: "If-None-Match", header: []string{"If-None-Match", etag}, status: 304},
		{name: "If-None-Match star", header: []string{"If-None-Match", "*"}, status: 304},
		{name: "If-None-Match other", header: []string{"If-None-Match", `"other"`}, status: 200, body: string(content)},
		{name: "If-None-Match beats Range", header: []string{"If-None-Match", etag, "Range", "bytes=0-0"}, status: 304},
		{name: "If-Modified-Since later", header: []string{"If-Modified-Since", later}, status: 304},
		{name: "If-Modified-Since same", header: []string{"If-Modified-Since", lastMod}, status: 304},
		{name: "If-Modified-Since earlier", header: []string{"If-Modified-Since", earlier}, status: 200, body: string(content)},
		{name: "If-Range match", header: []string{"If-Range", etag, "Range", "bytes=0-1"}, status: 206, ranges: []byteRange{{"bytes 0-1/20", "01"}}},
		{name: "If-Range mismatch", header: []string{"If-Range", `"other"`, "Range", "bytes=0-1"}, status: 200, body: string(content)},
		{name: "If-Range mismatch with many ranges", header: []string{"If-Range", `"other"`, "Range", many}, status: 200, body: string(content)},
		{name: "If-Match", header: []string{"If-Match", etag}, status: 200, body: string(content)},
		{name: "If-Match other", header: []string{"If-Match", `"other"`}, status: 412, code: "precondition_failed"},
		{name: "If-Unmodified-Since earlier", header: []string{"If-Unmodified-Since", earlier}, status: 412, code: "precondition_failed"},
	}
	t.Run("empty file: ranges ignored, malformed refused", func(t *testing.T) {
		empty := e.upload(tok, "", "empty.bin", nil)
		for _, v := range []string{"bytes=-5", "bytes=0-0", "bytes=-0", "bytes=-1,0-"} {
			res := e.do("GET", "/v1/files/"+empty.ID+"/content", tok, nil, "Range", v)
			if res.status != 200 || len(res.body) != 0 || res.header.Get("Content-Range") != "" || res.header.Get("Content-Length") != "0" {
				t.Errorf("Range %q: status %d, %d bytes, Content-Range %q, Content-Length %q; want 200 with no bytes",
					v, res.status, len(res.body), res.header.Get("Content-Range"), res.header.Get("Content-Length"))
			}
		}
		res := e.do("GET", "/v1/files/"+empty.ID+"/content", tok, nil, "Range", "bytes=a-b")
		wantProblem(t, res, 416, "range_not_satisfiable")
		if got := res.header.Get("Content-Range"); got != "bytes */0" {
			t.Errorf("malformed: Content-Range %q, want %q", got, "bytes */0")
		}
	})
	t.Run("100 ranges is the cap", func(t *testing.T) {
		big := e.upload(tok, "", "big.bin", bytes.Repeat([]byte("0123456789"), 100))
		var spec []string
		var want []byteRange
		for i := range 100 {
			spec = append(spec, fmt.Sprintf("%d-%d", i*10+3, i*10+4))
			want = append(want, byteRange{fmt.Sprintf("bytes %d-%d/1000", i*10+3, i*10+4), "34"})
		}
		res := e.do("GET", "/v1/files/"+big.ID+"/content", tok, nil, "Range", "bytes="+strings.Join(spec, ","))
		if res.status != 206 {
			t.Fatalf("status %d", res.status)
		}
		if diff := cmp.Diff(want, ranges(t, res)); diff != "" {
			t.Errorf("ranges (-want +got):\n%s", diff)
		}
		spec = append(spec, "999-999")
		res = e.do("GET", "/v1/files/"+big.ID+"/content", tok, nil, "Range", "bytes="+strings.Join(spec, ","))
		if res.status != 200 || len(res.body) != 1000 {
			t.Errorf("101 ranges: status %d, %d bytes; want the whole content", res.status, len(res.body))
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			res := e.do(method, path, tok, nil, tt.header...)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %q", res.status, tt.status, res.body)
			}
			switch {
			case tt.code != "":
				wantProblem(t, res, tt.status, tt.code)
			case tt.status == 200 && method == "GET":
				if string(res.body) != tt.body {
					t.Errorf("body %q, want %q", res.body, tt.body)
				}
			case tt.status == 206:
				if diff := cmp.Diff(tt.ranges, ranges(t, res)); diff != "" {
					t.Errorf("ranges (-want +got):\n%s", diff)
				}
			case method == "HEAD" || tt.status == 304:
				if len(res.body) != 0 {
					t.Errorf("%s %d with a body: %q", method, tt.status, res.body)
				}
			}
			if tt.cr != "" {
				if got := res.header.Get("Content-Range"); got != tt.cr {
					t.Errorf("Content-Range %q, want %q", got, tt.cr)
				}
			}
			if tt.status == 200 || tt.status == 206 || tt.status == 304 {
				if got := res.header.Get("ETag"); got != etag {
					t.Errorf("ETag %q, want %q", got, etag)
				}
			}
			if tt.status == 200 || tt.status == 206 {
				for h, want := range map[string]string{
					"Last-Modified":           lastMod,
					"Accept-Ranges":           "bytes",
					"X-Content-Type-Options":  "nosniff",
					"Content-Security-Policy": "sandbox",
					"Content-Disposition":     `attachment; filename="data.bin"; filename*=UTF-8''data.bin`,
				} {
					if got := res.header.Get(h); got != want {
						t.Errorf("%s %q, want %q", h, got, want)
					}
				}
			}
			if tt.status == 200 {
				if got := res.header.Get("Content-Length"); got != fmt.Sprint(len(content)) {
					t.Errorf("Content-Length %q, want %d", got, len(content))
				}
				if got := res.header.Get("Content-Type"); got != f.ContentType {
					t.Errorf("Content-Type %q, want the File's %q", got, f.ContentType)
				}
			}
		})
	}
}

func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	img.Set(1, 1, color.RGBA{R: 255, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestContentDisposition(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	pic := e.upload(tok, "", "Katze «süß» 100%.png", pngBytes(t))
	if pic.ContentType != "image/png" {
		t.Fatalf("content_type %q, want image/png", pic.ContentType)
	}
	text := e.upload(tok, "", `say "hi" there.txt`, []byte("<script>alert(1)</script>"))
	tests := []struct {
		name, id, query, want string
		status                int
	}{
		{"unicode attachment", pic.ID, "", `attachment; filename="Katze _s___ 100_.png"; filename*=UTF-8''Katze%20%C2%ABs%C3%BC%C3%9F%C2%BB%20100%25.png`, 200},
		{"image inline", pic.ID, "?inline=true", `inline; filename="Katze _s___ 100_.png"; filename*=UTF-8''Katze%20%C2%ABs%C3%BC%C3%9F%C2%BB%20100%25.png`, 200},
		{"image inline=false", pic.ID, "?inline=false", `attachment; filename="Katze _s___ 100_.png"; filename*=UTF-8''Katze%20%C2%ABs%C3%BC%C3%9F%C2%BB%20100%25.png`, 200},
		{"text never inline", text.ID, "?inline=true", `attachment; filename="say _hi_ there.txt"; filename*=UTF-8''say%20%22hi%22%20there.txt`, 200},
		{"bad inline", pic.ID, "?inline=sure", "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("GET", "/v1/files/"+tt.id+"/content"+tt.query, tok, nil)
			if res.status != tt.status {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			if tt.status != 200 {
				wantProblem(t, res, tt.status, "bad_request")
				return
			}
			if got := res.header.Get("Content-Disposition"); got != tt.want {
				t.Errorf("Content-Disposition\n got %s\nwant %s", got, tt.want)
			}
			for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"} {
				if got := res.header.Get(h); got != want {
					t.Errorf("%s %q, want %q", h, got, want)
				}
			}
			// What the browser would parse back.
			_, params, err := mime.ParseMediaType(res.header.Get("Content-Disposition"))
			if err != nil {
				t.Fatalf("parse Content-Disposition: %v", err)
			}
			wantName := map[string]string{pic.ID: pic.Name, text.ID: text.Name}[tt.id]
			if params["filename"] != wantName {
				t.Errorf("filename* decodes to %q, want %q", params["filename"], wantName)
			}
		})
	}
}
