package httpapi_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/filestore-go/filestore/storage"
)

// wrapRanges has the Handler's requests to the S3 server recorded in q.
func wrapRanges(q *testenv.Ranges) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(q.Context(r.Context())))
		})
	}
}

// s3Object opens the bucket of url and returns it with the key of its
// only content object, failing t unless there is exactly one.
func s3Object(t *testing.T, url string) (*storage.Bucket, string) {
	t.Helper()
	b, err := storage.Open(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	var keys []string
	err = b.List(t.Context(), func(key string, _ time.Time, _ int64) error {
		if key != storage.MarkerKey {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil || len(keys) != 1 {
		t.Fatalf("bucket lists %v, %v; want one object", keys, err)
	}
	return b, keys[0]
}

// TestDownloadS3Requests: GETs of an object on the S3 server answer the
// exact bytes and ask the server for no byte they do not send: a 4 KiB
// range is one request of those 4 KiB; a whole download, or a larger
// range, one request of the first 32 KiB (read before the answer's
// header, see TestDownloadS3ObjectGone) and one of the rest of it, and
// each part of a multipart answer the same; a HEAD one of a byte. Before,
// a part of a multipart answer asked, after its first 32 KiB, for the
// rest of the object. Before that, the Store opened
// the object from its first byte to its last, and the range's first read
// opened it again from the range's first byte to the last; both answers
// were abandoned after the range.
func TestDownloadS3Requests(t *testing.T) {
	const size = 1<<20 + 123
	content := randomBytes(size, 21)
	last := strconv.Itoa(size - 1)
	var q testenv.Ranges
	e := newEnv(t, envOptions{bucket: testenv.S3URL(t), wrap: wrapRanges(&q)})
	tok := e.token("alice")
	f := e.upload(tok, "", "big.bin", content)
	q.Take()

	type result struct {
		Status int
		Length string
		Body   [32]byte // SHA-256
		S3     []string // the Range headers sent to the S3 server
	}
	tests := []struct {
		name   string
		method string
		header []string
		parts  [][]byte // of a multipart answer, whose parts are checked, not its sum
		want   result
	}{
		{name: "whole", method: "GET", want: result{
			Status: 200, Length: strconv.Itoa(size), Body: sum(content),
			S3: []string{"bytes=0-32767", "bytes=32768-" + last}}},
		{name: "4KiB range", method: "GET", header: []string{"Range", "bytes=131072-135167"}, want: result{
			Status: 206, Length: "4096", Body: sum(content[131072:135168]),
			S3: []string{"bytes=131072-135167"}}},
		{name: "open range to the end", method: "GET", header: []string{"Range", "bytes=1000-"}, want: result{
			Status: 206, Length: strconv.Itoa(size - 1000), Body: sum(content[1000:]),
			S3: []string{"bytes=1000-33767", "bytes=33768-" + last}}},
		{name: "100 KiB range", method: "GET", header: []string{"Range", "bytes=1000-103399"}, want: result{
			Status: 206, Length: "102400", Body: sum(content[1000:103400]),
			S3: []string{"bytes=1000-33767", "bytes=33768-103399"}}},
		{name: "suffix range", method: "GET", header: []string{"Range", "bytes=-100"}, want: result{
			Status: 206, Length: "100", Body: sum(content[size-100:]),
			S3: []string{"bytes=" + strconv.Itoa(size-100) + "-" + last}}},
		{name: "two ranges", method: "GET", header: []string{"Range", "bytes=0-9,2000-2099"},
			parts: [][]byte{content[0:10], content[2000:2100]}, want: result{
				Status: 206, S3: []string{"bytes=0-9", "bytes=2000-2099"}}},
		{name: "two 100 KiB ranges", method: "GET", header: []string{"Range", "bytes=0-102399,500000-602399"},
			parts: [][]byte{content[0:102400], content[500000:602400]}, want: result{
				Status: 206, S3: []string{"bytes=0-32767", "bytes=32768-102399", "bytes=500000-532767", "bytes=532768-602399"}}},
		{name: "If-Range mismatch: whole", method: "GET", header: []string{"If-Range", `"other"`, "Range", "bytes=0-1"}, want: result{
			Status: 200, Length: strconv.Itoa(size), Body: sum(content),
			S3: []string{"bytes=0-32767", "bytes=32768-" + last}}},
		{name: "not modified", method: "GET", header: []string{"If-None-Match", `"` + f.SHA256 + `"`}, want: result{
			Status: 304, Body: sum(nil)}},
		{name: "head", method: "HEAD", want: result{Status: 200, Length: strconv.Itoa(size), Body: sum(nil),
			S3: []string{"bytes=0-0"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(tt.method, "/v1/files/"+f.ID+"/content", tok, nil, tt.header...)
			got := result{Status: res.status, Length: res.header.Get("Content-Length"), Body: sum(res.body), S3: q.Take()}
			want := tt.want
			if tt.parts != nil {
				want.Length, want.Body = got.Length, got.Body
				for i, part := range tt.parts {
					if !bytes.Contains(res.body, part) {
						t.Errorf("the multipart answer lacks part %d", i)
					}
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDownloadS3ObjectGone: an object that has left the S3 server under
// its row (a purge since the row was read, a hand deletion) is reported
// as 404, with no content header, on a GET, a range GET and a HEAD: the
// Store's reader opens the object lazily, and the Handler reads the first
// bytes before it sends the answer's header.
func TestDownloadS3ObjectGone(t *testing.T) {
	url := testenv.S3URL(t)
	e := newEnv(t, envOptions{bucket: url})
	tok := e.token("alice")
	f := e.upload(tok, "", "gone.bin", randomBytes(200_000, 22))
	e.logs.waitRequest(t, "POST /v1/files")
	b, key := s3Object(t, url)
	if err := b.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		method string
		header []string
	}{
		{"whole", "GET", nil},
		{"range", "GET", []string{"Range", "bytes=100-199"}},
		{"head", "HEAD", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(tt.method, "/v1/files/"+f.ID+"/content", tok, nil, tt.header...)
			if tt.method == "HEAD" {
				if res.status != http.StatusNotFound || len(res.body) != 0 {
					t.Errorf("HEAD: %d with %d bytes; want 404 without a body", res.status, len(res.body))
				}
			} else {
				wantProblem(t, res, http.StatusNotFound, "not_found")
			}
			for _, h := range []string{"Content-Range", "Accept-Ranges", "ETag", "Content-Disposition"} {
				if v := res.header.Get(h); v != "" {
					t.Errorf("%s: %q on a 404", h, v)
				}
			}
			line := e.logs.waitRequest(t, "GET /v1/files/{id}/content")
			if line["status"] != int64(http.StatusNotFound) {
				t.Errorf("log line status %v, want 404", line["status"])
			}
		})
	}
}

// TestDownloadS3ObjectShort: an object on the S3 server shorter than its
// row. A range within what is there is served; one beyond its end, which
// the first read before the header finds missing, is a 500 rather than a
// 206 that ends short; a whole download whose first 32 KiB are there
// declares the row's size and ends short, logged as a warning.
func TestDownloadS3ObjectShort(t *testing.T) {
	const size = 200_000
	content := randomBytes(size, 23)
	url := testenv.S3URL(t)
	e := newEnv(t, envOptions{bucket: url})
	tok := e.token("alice")
	f := e.upload(tok, "", "short.bin", content)
	e.logs.waitRequest(t, "POST /v1/files")
	b, key := s3Object(t, url)
	w, err := b.NewWriter(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(content[:size/2]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	res := e.do("GET", "/v1/files/"+f.ID+"/content", tok, nil, "Range", "bytes=1000-4999")
	if res.status != http.StatusPartialContent || !bytes.Equal(res.body, content[1000:5000]) {
		t.Errorf("range within: %d, %d bytes (equal %v); want 206 and the 4000 bytes", res.status, len(res.body), bytes.Equal(res.body, content[1000:5000]))
	}
	e.logs.waitRequest(t, "GET /v1/files/{id}/content")

	res = e.do("GET", "/v1/files/"+f.ID+"/content", tok, nil, "Range", "bytes=150000-150099")
	wantProblem(t, res, http.StatusInternalServerError, "internal")
	line := e.logs.waitRequest(t, "GET /v1/files/{id}/content")
	if msg, _ := line["error"].(string); line["status"] != int64(500) || !strings.Contains(msg, "object shorter than its size") {
		t.Errorf("range beyond: log line status %v, error %q; want 500 and the short object", line["status"], msg)
	}

	e.wantCutShort(t, tok, f.ID, size, size/2, "object shorter than its size")
}
