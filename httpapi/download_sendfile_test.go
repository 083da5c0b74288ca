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
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore/httpapi"
)

// sniffLen is how many leading body bytes net/http's response.ReadFrom
// copies through Write before it hands the rest to the connection's
// ReadFrom (for content sniffing).
const sniffLen = 512

// sentFiles counts what the server's connections were given through
// ReadFrom: net/http calls a connection's ReadFrom only from its own
// ReadFrom, and net's TCPConn.ReadFrom sends an *os.File (alone or in an
// io.LimitedReader) with sendfile.
type sentFiles struct {
	mu       sync.Mutex
	fromFile int64 // bytes ReadFrom took from an *os.File
	other    int64 // bytes ReadFrom took from anything else
	errs     []error
}

func (s *sentFiles) take() (fromFile, other int64, errs []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fromFile, other, errs = s.fromFile, s.other, s.errs
	s.fromFile, s.other, s.errs = 0, 0, nil
	return fromFile, other, errs
}

// sendfileListener wraps the server's accepted connections so that their
// ReadFrom is observed (and then done by the real *net.TCPConn).
type sendfileListener struct {
	net.Listener
	sent *sentFiles
}

func (l *sendfileListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sendfileConn{TCPConn: c.(*net.TCPConn), sent: l.sent}, nil
}

type sendfileConn struct {
	*net.TCPConn
	sent *sentFiles
}

func (c *sendfileConn) ReadFrom(r io.Reader) (int64, error) {
	src := r
	if lr, ok := r.(*io.LimitedReader); ok {
		src = lr.R
	}
	n, err := c.TCPConn.ReadFrom(r)
	c.sent.mu.Lock()
	defer c.sent.mu.Unlock()
	if _, ok := src.(*os.File); ok {
		c.sent.fromFile += n
	} else {
		c.sent.other += n
	}
	if err != nil {
		c.sent.errs = append(c.sent.errs, err)
	}
	return n, err
}

// listen returns a loopback listener whose connections record their
// ReadFrom calls in sent; control, when set, adjusts its sockets.
func listen(t *testing.T, sent *sentFiles, control func(string, string, syscall.RawConn) error) net.Listener {
	t.Helper()
	lc := net.ListenConfig{Control: control}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &sendfileListener{Listener: ln, sent: sent}
}

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

// TestDownloadSendfile: GETs of a local object's content hand the file to
// the connection's ReadFrom (sendfile) and still answer the exact bytes,
// with the logged status and bytes_out exact; ranges, multiple ranges, HEAD
// and 304 answer as before. With a write deadline (the default
// BodyTimeout) the file goes out in chunks, and without one in one call.
func TestDownloadSendfile(t *testing.T) {
	const size = 1<<20 + 123 // four deadline chunks and a bit
	content := randomBytes(size, 1)
	type result struct {
		Status   int
		Length   string
		Body     [32]byte // SHA-256
		BodyLen  int
		BytesOut int64
		LogCode  int64
		FromFile int64
		Other    int64
	}
	tests := []struct {
		name   string
		method string
		header []string
		want   result
	}{
		{name: "whole", method: "GET", want: result{
			Status: 200, Length: strconv.Itoa(size), Body: sum(content), BodyLen: size, BytesOut: size, LogCode: 200, FromFile: size - sniffLen}},
		{name: "4KiB range", method: "GET", header: []string{"Range", "bytes=131072-135167"}, want: result{
			Status: 206, Length: "4096", Body: sum(content[131072:135168]), BodyLen: 4096, BytesOut: 4096, LogCode: 206, FromFile: 4096 - sniffLen}},
		{name: "open range to the end", method: "GET", header: []string{"Range", "bytes=1000-"}, want: result{
			Status: 206, Length: strconv.Itoa(size - 1000), Body: sum(content[1000:]), BodyLen: size - 1000, BytesOut: size - 1000, LogCode: 206, FromFile: size - 1000 - sniffLen}},
		{name: "range under the sniff length", method: "GET", header: []string{"Range", "bytes=-100"}, want: result{
			Status: 206, Length: "100", Body: sum(content[size-100:]), BodyLen: 100, BytesOut: 100, LogCode: 206}},
		{name: "If-Range mismatch: whole", method: "GET", header: []string{"If-Range", `"other"`, "Range", "bytes=0-1"}, want: result{
			Status: 200, Length: strconv.Itoa(size), Body: sum(content), BodyLen: size, BytesOut: size, LogCode: 200, FromFile: size - sniffLen}},
		{name: "head", method: "HEAD", want: result{Status: 200, Length: strconv.Itoa(size), Body: sum(nil), LogCode: 200}},
	}
	timeouts := []struct {
		name    string
		timeout time.Duration
	}{
		{"with write deadline", 0}, // the default, 60s
		{"without write deadline", -1},
	}
	for _, to := range timeouts {
		t.Run(to.name, func(t *testing.T) {
			sent := &sentFiles{}
			e := newEnv(t, envOptions{cfg: httpapi.Config{BodyTimeout: to.timeout}, listener: listen(t, sent, nil)})
			tok := e.token("alice")
			f := e.upload(tok, "", "big.bin", content)
			path := "/v1/files/" + f.ID + "/content"
			e.logs.waitRequest(t, "POST /v1/files")
			sent.take()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					res := e.do(tt.method, path, tok, nil, tt.header...)
					line := e.logs.waitRequest(t, "GET /v1/files/{id}/content")
					fromFile, other, errs := sent.take()
					if len(errs) > 0 {
						t.Errorf("connection ReadFrom errors: %v", errs)
					}
					got := result{
						Status: res.status, Length: res.header.Get("Content-Length"), Body: sum(res.body), BodyLen: len(res.body),
						BytesOut: line["bytes_out"].(int64), LogCode: line["status"].(int64),
						FromFile: fromFile, Other: other,
					}
					if diff := cmp.Diff(tt.want, got); diff != "" {
						t.Errorf("%s %v (-want +got):\n%s", tt.method, tt.header, diff)
					}
				})
			}
		})
	}
}

// TestDownloadMultipleRangesNotSendfile: multipart/byteranges bodies are
// made by net/http through a pipe and are not sent from the file; the
// logged bytes_out is still the exact body size.
func TestDownloadMultipleRangesNotSendfile(t *testing.T) {
	content := randomBytes(100_000, 2)
	sent := &sentFiles{}
	e := newEnv(t, envOptions{listener: listen(t, sent, nil)})
	tok := e.token("alice")
	f := e.upload(tok, "", "r.bin", content)
	e.logs.waitRequest(t, "POST /v1/files")
	sent.take()
	res := e.do("GET", "/v1/files/"+f.ID+"/content", tok, nil, "Range", "bytes=10-5009,90000-99999")
	line := e.logs.waitRequest(t, "GET /v1/files/{id}/content")
	fromFile, _, _ := sent.take()
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
	if fromFile != 0 {
		t.Errorf("%d bytes sent from the file, want 0 (multipart goes through Write)", fromFile)
	}
}

// TestDownloadSendfileStalledClientCut: a client that stops reading a
// whole-file GET is cut after BodyTimeout even though the file goes out
// with sendfile (the deadline is set before every chunk), and the log line
// counts exactly the bytes that left.
func TestDownloadSendfileStalledClientCut(t *testing.T) {
	const size = 8 << 20 // far more than the small socket buffers hold
	content := randomBytes(size, 3)
	sent := &sentFiles{}
	ln := listen(t, sent, smallBuffers(syscall.SO_SNDBUF))
	e := newEnv(t, envOptions{cfg: httpapi.Config{BodyTimeout: 300 * time.Millisecond}, listener: ln})
	tok := e.token("alice")
	f := e.upload(tok, "", "stall.bin", content)
	e.logs.waitRequest(t, "POST /v1/files")
	sent.take()

	d := net.Dialer{Control: smallBuffers(syscall.SO_RCVBUF)}
	conn, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /v1/files/%s/content HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", f.ID, tok)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("status %d, want 200", res.StatusCode)
	}
	// Read nothing more until the server has given up.
	line := e.logs.waitRequest(t, "GET /v1/files/{id}/content")
	fromFile, _, errs := sent.take()
	if len(errs) != 1 || !errors.Is(errs[0], os.ErrDeadlineExceeded) {
		t.Errorf("connection ReadFrom errors %v, want one deadline exceeded", errs)
	}
	bytesOut := line["bytes_out"].(int64)
	if bytesOut >= size || fromFile == 0 {
		t.Errorf("bytes_out %d (%d from the file): want part of the %d bytes, sent from the file", bytesOut, fromFile, size)
	}
	if fromFile != bytesOut-sniffLen {
		t.Errorf("%d bytes sent from the file, want bytes_out %d - %d", fromFile, bytesOut, sniffLen)
	}
	// What did leave arrives intact, and then the connection ends.
	got, _ := io.ReadAll(res.Body)
	if int64(len(got)) != bytesOut || !bytes.Equal(got, content[:len(got)]) {
		t.Errorf("client read %d bytes (prefix intact: %v); want the %d bytes_out", len(got), bytes.Equal(got, content[:len(got)]), bytesOut)
	}
}

// BenchmarkDownload measures GETs of a local object's content over
// loopback: the whole of a 64 MiB file (with the default write deadline,
// sent in chunks, and without one) and a 4 KiB range of it.
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
