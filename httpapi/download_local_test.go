package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/httpapi"
)

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 3))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// sum is p's SHA-256 (cmp.Diff compares a large []byte slowly).
func sum(p []byte) [32]byte { return sha256.Sum256(p) }

// TestDownloadLocalExact: GETs of a local object's content (an *os.File
// behind the Store) answer the exact bytes, with the logged status and
// bytes_out exact, with and without a write deadline.
func TestDownloadLocalExact(t *testing.T) {
	const size = 1<<20 + 123
	content := randomBytes(size, 1)
	type result struct {
		Status   int
		Length   string
		Body     [32]byte // SHA-256
		BodyLen  int
		BytesOut int64
		LogCode  int64
	}
	tests := []struct {
		name   string
		method string
		header []string
		want   result
	}{
		{name: "whole", method: "GET", want: result{
			Status: 200, Length: strconv.Itoa(size), Body: sum(content), BodyLen: size, BytesOut: size, LogCode: 200}},
		{name: "4KiB range", method: "GET", header: []string{"Range", "bytes=131072-135167"}, want: result{
			Status: 206, Length: "4096", Body: sum(content[131072:135168]), BodyLen: 4096, BytesOut: 4096, LogCode: 206}},
		{name: "open range to the end", method: "GET", header: []string{"Range", "bytes=1000-"}, want: result{
			Status: 206, Length: strconv.Itoa(size - 1000), Body: sum(content[1000:]), BodyLen: size - 1000, BytesOut: size - 1000, LogCode: 206}},
		{name: "suffix range", method: "GET", header: []string{"Range", "bytes=-100"}, want: result{
			Status: 206, Length: "100", Body: sum(content[size-100:]), BodyLen: 100, BytesOut: 100, LogCode: 206}},
		{name: "If-Range mismatch: whole", method: "GET", header: []string{"If-Range", `"other"`, "Range", "bytes=0-1"}, want: result{
			Status: 200, Length: strconv.Itoa(size), Body: sum(content), BodyLen: size, BytesOut: size, LogCode: 200}},
		{name: "head", method: "HEAD", want: result{Status: 200, Length: strconv.Itoa(size), Body: sum(nil), LogCode: 200}},
	}
	for _, to := range []struct {
		name    string
		timeout time.Duration
	}{
		{"with write deadline", 0}, // the default
		{"without write deadline", -1},
	} {
		t.Run(to.name, func(t *testing.T) {
			e := newEnv(t, envOptions{cfg: httpapi.Config{BodyTimeout: to.timeout}})
			tok := e.token("alice")
			f := e.upload(tok, "", "big.bin", content)
			path := "/v1/files/" + f.ID + "/content"
			e.logs.waitRequest(t, "POST /v1/files")
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					res := e.do(tt.method, path, tok, nil, tt.header...)
					line := e.logs.waitRequest(t, "GET /v1/files/{id}/content")
					got := result{
						Status: res.status, Length: res.header.Get("Content-Length"), Body: sum(res.body), BodyLen: len(res.body),
						BytesOut: line["bytes_out"].(int64), LogCode: line["status"].(int64),
					}
					if diff := cmp.Diff(tt.want, got); diff != "" {
						t.Errorf("%s %v (-want +got):\n%s", tt.method, tt.header, diff)
					}
				})
			}
		})
	}
}

// TestDownloadMultipleRangesBytesOut: a multipart/byteranges answer has the
// right parts, and the logged bytes_out is the exact body size.
func TestDownloadMultipleRangesBytesOut(t *testing.T) {
	content := randomBytes(100_000, 2)
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	f := e.upload(tok, "", "r.bin", content)
	e.logs.waitRequest(t, "POST /v1/files")
	res := e.do("GET", "/v1/files/"+f.ID+"/content", tok, nil, "Range", "bytes=10-5009,90000-99999")
	line := e.logs.waitRequest(t, "GET /v1/files/{id}/content")
	want := []byteRange{
		{"bytes 10-5009/100000", string(content[10:5010])},
		{"bytes 90000-99999/100000", string(content[90000:])},
	}
	if res.status != 206 {
		t.Fatalf("status %d, want 206", res.status)
	}
	if diff := cmp.Diff(want, ranges(t, res)); diff != "" {
		t.Errorf("ranges (-want +got):\n%s", diff)
	}
	if got := line["bytes_out"].(int64); got != int64(len(res.body)) {
		t.Errorf("logged bytes_out %d, want the body's %d", got, len(res.body))
	}
}

// TestDownloadStalledClientCut: a client that stops reading a whole-file
// GET is cut after BodyTimeout, and what did leave arrives intact.
func TestDownloadStalledClientCut(t *testing.T) {
	const size = 8 << 20 // far more than the small socket buffers hold
	content := randomBytes(size, 3)
	lc := net.ListenConfig{Control: smallBuffers(syscall.SO_SNDBUF)}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{cfg: httpapi.Config{BodyTimeout: 300 * time.Millisecond}, listener: ln})
	tok := e.token("alice")
	f := e.upload(tok, "", "stall.bin", content)
	e.logs.waitRequest(t, "POST /v1/files")

	d := net.Dialer{Control: smallBuffers(syscall.SO_RCVBUF)}
	conn, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /v1/files/%s/content HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", f.ID, tok)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("status %d, want 200", res.StatusCode)
	}
	// Read nothing more until the server has given up.
	line := e.logs.waitRequest(t, "GET /v1/files/{id}/content")
	bytesOut := line["bytes_out"].(int64)
	if bytesOut <= 0 || bytesOut >= size {
		t.Errorf("bytes_out %d: want part of the %d bytes", bytesOut, size)
	}
	got, _ := io.ReadAll(res.Body)
	if int64(len(got)) > bytesOut || !bytes.Equal(got, content[:len(got)]) || int64(len(got)) == size {
		t.Errorf("client read %d bytes (prefix intact: %v); want an intact prefix of at most bytes_out %d", len(got), bytes.Equal(got, content[:len(got)]), bytesOut)
	}
}

// BenchmarkDownload measures GETs of a local object's content over
// loopback: the whole of a 64 MiB file (with the default write deadline and
// without one) and a 4 KiB range of it.
func BenchmarkDownload(b *testing.B) {
	const size = 64 << 20
	content := randomBytes(size, 4)
	variants := []struct {
		name    string
		timeout time.Duration
		rng     string
		bytes   int64
	}{
		{"whole-64MiB/deadline", 0, "", size},
		{"whole-64MiB/no-deadline", -1, "", size},
		{"range-4KiB", 0, "bytes=1048576-1052671", 4096},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			e := newEnv(b, envOptions{cfg: httpapi.Config{BodyTimeout: v.timeout}})
			tok := e.token("alice")
			f := e.upload(tok, "", "big.bin", content)
			req, err := http.NewRequest("GET", e.srv.URL+"/v1/files/"+f.ID+"/content", nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			if v.rng != "" {
				req.Header.Set("Range", v.rng)
			}
			client := e.srv.Client()
			b.SetBytes(v.bytes)
			b.ReportAllocs()
			for b.Loop() {
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if err != nil || n != v.bytes {
					b.Fatalf("read %d bytes, %v; want %d", n, err, v.bytes)
				}
			}
		})
	}
}

// brokenReadStore is a Store whose content readers fail after half the
// content, as an S3 reader does when the server goes away mid-download.
type brokenReadStore struct{ filestore.Store }

func (s brokenReadStore) Get(ctx context.Context, owner, id string) (*filestore.File, io.ReadSeekCloser, error) {
	f, rc, err := s.Store.Get(ctx, owner, id)
	if err != nil {
		return nil, nil, err
	}
	return f, &halfReader{ReadSeekCloser: rc, left: f.Size / 2}, nil
}

// halfReader reads left bytes, then fails.
type halfReader struct {
	io.ReadSeekCloser
	left int64
}

func (r *halfReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, errors.New("injected: connection reset by the object store")
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.ReadSeekCloser.Read(p)
	r.left -= int64(n)
	return n, err
}

// TestDownloadReadFails: a download whose reader fails after its answer
// has begun ends short (the client sees a truncated body), and its log
// line is a warning that names the failure. Before, http.ServeContent
// dropped the error and the request was logged as a plain 200.
func TestDownloadReadFails(t *testing.T) {
	e := newEnv(t, envOptions{wrapStore: func(s filestore.Store) filestore.Store { return brokenReadStore{s} }})
	tok := e.token("alice")
	const size = 1 << 20
	f := e.upload(tok, "", "big.bin", randomBytes(size, 9))
	res := e.openContent(t, tok, f.ID)
	n, err := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || err == nil || n >= size {
		t.Errorf("client: status %d, read %d bytes, %v; want 200 cut short with an error", res.StatusCode, n, err)
	}
	line := e.logs.waitRequest(t, "GET /v1/files/{id}/content")
	msg, _ := line["error"].(string)
	if line["level"] != "WARN" || line["status"] != int64(200) || !strings.Contains(msg, "connection reset by the object store") {
		t.Errorf("log line: level %v, status %v, error %q; want WARN, 200 and the reader's error", line["level"], line["status"], msg)
	}
	if out := line["bytes_out"].(int64); out >= size {
		t.Errorf("bytes_out %d, want less than %d", out, size)
	}
}

// TestDownloadClientGone: a download whose client goes away after reading
// a little is logged as a warning, status 499 (client closed request) and
// counted so, with the write's error and the bytes sent, not as a plain
// 200. An operations audit saw such downloads, and ones cut by the
// shutdown timeout, logged as INFO status=200.
func TestDownloadClientGone(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	const size = 32 << 20
	f := e.upload(tok, "", "big.bin", randomBytes(size, 10))
	res := e.openContent(t, tok, f.ID)
	if _, err := io.ReadFull(res.Body, make([]byte, 64<<10)); err != nil || res.StatusCode != 200 {
		t.Fatalf("client: status %d, reading 64 KiB: %v", res.StatusCode, err)
	}
	// Closing the body of an unfinished answer closes the connection.
	res.Body.Close()
	line := e.logs.waitRequest(t, "GET /v1/files/{id}/content")
	msg, _ := line["error"].(string)
	if line["level"] != "WARN" || line["status"] != int64(499) || !strings.Contains(msg, "writing the answer") {
		t.Errorf("log line: level %v, status %v, error %q; want WARN, 499 and the write's error", line["level"], line["status"], msg)
	}
	if out := line["bytes_out"].(int64); out < 64<<10 || out >= size {
		t.Errorf("bytes_out %d, want at least the 64 KiB read and less than %d", out, size)
	}
}

// openContent sends GET of file id's content with tok and returns the
// answer, its body unread.
func (e *env) openContent(t *testing.T, tok, id string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", e.srv.URL+"/v1/files/"+id+"/content", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestDownloadObjectTruncated: a local object cut short on disk (a damaged
// disk, a hand edit) is served with the Content-Length of the file's row
// and ends short, so that the client sees the damage, and the log line is
// a warning naming it. Before, http.ServeContent took the size from the
// object itself and answered a complete-looking 200 of the short content.
func TestDownloadObjectTruncated(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	const size = 1 << 20
	f := e.upload(tok, "", "big.bin", randomBytes(size, 11))
	e.logs.waitRequest(t, "POST /v1/files")
	objects := e.blobFiles()
	if len(objects) != 1 {
		t.Fatalf("bucket holds %v, want one object", objects)
	}
	if err := os.Truncate(filepath.Join(e.dir, "blobs", objects[0]), size/2); err != nil {
		t.Fatal(err)
	}
	e.wantCutShort(t, tok, f.ID, size, size/2, "unexpected EOF")
}

// wantCutShort GETs file id's content, of size bytes, and checks that the
// answer is a 200 declaring size bytes that ends with an error after at
// bytes, and that its log line is a warning whose error contains why.
func (e *env) wantCutShort(t *testing.T, tok, id string, size, at int64, why string) {
	t.Helper()
	res := e.openContent(t, tok, id)
	n, err := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.ContentLength != size || err == nil || n != at {
		t.Errorf("client: status %d, Content-Length %d, read %d bytes, %v; want 200, %d, cut short at %d with an error",
			res.StatusCode, res.ContentLength, n, err, size, at)
	}
	line := e.logs.waitRequest(t, "GET /v1/files/{id}/content")
	if msg, _ := line["error"].(string); line["level"] != "WARN" || !strings.Contains(msg, why) {
		t.Errorf("log line: level %v, error %q; want WARN and %q", line["level"], msg, why)
	}
}
