package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/auth"
	"github.com/filestore-go/filestore/httpapi"
)

// part is one part of a multipart body built by multipartBody.
type part struct {
	header  string // raw Content-Disposition; "" for a file part named file
	name    string // form name, for a text field
	content string
	ctype   string
}

// multipartBody builds a multipart/form-data body with a fixed boundary.
// A part with header "" and name "" is the file part with filename.
func multipartBody(t testing.TB, parts ...part) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	if err := w.SetBoundary("BOUNDARY-0123456789"); err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		switch {
		case p.header != "":
			h.Set("Content-Disposition", p.header)
		default:
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q`, p.name))
		}
		if p.ctype != "" {
			h.Set("Content-Type", p.ctype)
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(pw, p.content)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), w.FormDataContentType()
}

func fileHeader(filename string) string {
	return `form-data; name="file"; filename="` + filename + `"`
}

func contentDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

func TestUpload(t *testing.T) {
	e := newEnv(t, envOptions{cfg: cfgCollect(&filestore.CollectOptions{StagingTTL: time.Nanosecond})})
	admin := e.token("root", auth.ScopeAdmin)
	content := []byte("the file's bytes\n")
	mp := func(parts ...part) ([]byte, []string) {
		b, ct := multipartBody(t, parts...)
		return b, []string{"Content-Type", ct}
	}
	okBody, okHeader := mp(part{header: fileHeader("up.txt"), content: string(content)})
	fieldsBody, fieldsHeader := mp(
		part{name: "folder", content: "from/field"},
		part{name: "name", content: "field.txt"},
		part{name: "description", content: "ignored"},
		part{header: fileHeader("up.txt"), content: string(content), ctype: "text/plain"},
		part{name: "name", content: "after-the-file-is-ignored.txt"},
	)
	twoFiles, twoFilesHeader := mp(part{header: fileHeader("a.txt"), content: "a"}, part{header: fileHeader("b.txt"), content: "b"})
	noFile, noFileHeader := mp(part{name: "name", content: "x.txt"})
	traversal, traversalHeader := mp(part{header: fileHeader("../../x"), content: "x"})
	noName, noNameHeader := mp(part{header: `form-data; name="file"`, content: "x"})
	utf8Name, utf8Header := mp(part{header: `form-data; name="file"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt`, content: string(content)})
	longField, longFieldHeader := mp(part{name: "name", content: strings.Repeat("n", 5000)}, part{header: fileHeader("a.txt"), content: "a"})
	// A form's optional name input left blank names nothing.
	blankField, blankFieldHeader := mp(part{name: "name", content: ""}, part{header: fileHeader("report.txt"), content: string(content)})
	truncated := okBody[:len(okBody)-30]
	// Part headers and the preamble are bounded (64 KiB between parts).
	pad := func(n int) string { return `; pad="` + strings.Repeat("p", n) + `"` }
	headUnder, headUnderHeader := mp(part{header: fileHeader("up.txt") + pad(60<<10), content: string(content)})
	headOver, headOverHeader := mp(part{header: fileHeader("up.txt") + pad(70<<10), content: string(content)})
	fieldHeadOver, fieldHeadOverHeader := mp(part{header: `form-data; name="note"` + pad(70<<10), content: "x"}, part{header: fileHeader("up.txt"), content: string(content)})
	tailHeadOver, tailHeadOverHeader := mp(part{header: fileHeader("up.txt"), content: string(content)}, part{header: `form-data; name="note"` + pad(70<<10), content: "x"})
	preambleOver := append([]byte(strings.Repeat("preamble line\r\n", 5000)), okBody...)

	tests := []struct {
		name   string
		query  string
		body   []byte
		header []string
		status int
		code   string // for errors
		folder string // for success
		file   string // for success: the stored name
		size   int64
	}{
		{name: "raw", query: "?folder=docs&name=a.txt", body: content, header: []string{"Content-Type", "text/plain"}, status: 201, folder: "docs", file: "a.txt"},
		{name: "raw empty", query: "?name=empty", body: []byte{}, status: 201, file: "empty", size: -1},
		{name: "raw unicode name", query: "?name=na%C3%AFve%20r%C3%A9sum%C3%A9.txt", body: content, status: 201, file: "naïve résumé.txt"},
		{name: "raw without name", query: "?folder=docs", body: content, status: 400, code: "bad_request"},
		{name: "raw empty name", query: "?name=", body: content, status: 400, code: "invalid_name"},
		{name: "raw blank name", query: "?name=%20%20", body: content, status: 400, code: "invalid_name"},
		{name: "raw dot-dot", query: "?name=..", body: content, status: 400, code: "invalid_name"},
		{name: "raw slash in name", query: "?name=a%2Fb", body: content, status: 400, code: "invalid_name"},
		{name: "raw backslash in name", query: "?name=a%5Cb", body: content, status: 400, code: "invalid_name"},
		{name: "raw control in name", query: "?name=a%01b", body: content, status: 400, code: "invalid_name"},
		{name: "raw NUL in name", query: "?name=a%00b", body: content, status: 400, code: "invalid_name"},
		{name: "raw bidi in name", query: "?name=a%E2%80%AEtxt.exe", body: content, status: 400, code: "invalid_name"},
		{name: "raw name of 256 bytes", query: "?name=" + strings.Repeat("n", 256), body: content, status: 400, code: "invalid_name"},
		{name: "raw empty folder segment", query: "?name=a&folder=a//b", body: content, status: 400, code: "invalid_name"},
		{name: "raw leading slash folder", query: "?name=a&folder=/a", body: content, status: 400, code: "invalid_name"},
		{name: "raw Content-Digest", query: "?name=digest.txt", body: content, header: []string{"Content-Digest", contentDigest(content)}, status: 201, file: "digest.txt"},
		{name: "raw Content-Digest among others", query: "?name=digest2.txt", body: content, header: []string{"Content-Digest", "sha-512=:" + base64.StdEncoding.EncodeToString(make([]byte, 64)) + ":, " + contentDigest(content)}, status: 201, file: "digest2.txt"},
		{name: "raw Content-Digest of sha-512 only", query: "?name=digest3.txt", body: content, header: []string{"Content-Digest", "sha-512=:" + base64.StdEncoding.EncodeToString(make([]byte, 64)) + ":"}, status: 201, file: "digest3.txt"},
		{name: "raw wrong Content-Digest", query: "?name=a", body: content, header: []string{"Content-Digest", contentDigest([]byte("other"))}, status: 400, code: "digest_mismatch"},
		{name: "raw malformed Content-Digest", query: "?name=a", body: content, header: []string{"Content-Digest", "sha-256=abc"}, status: 400, code: "bad_request"},
		{name: "raw short Content-Digest", query: "?name=a", body: content, header: []string{"Content-Digest", "sha-256=:AAAA:"}, status: 400, code: "bad_request"},
		{name: "raw X-Content-SHA256", query: "?name=x.txt", body: content, header: []string{"X-Content-SHA256", strings.ToUpper(sha256Hex(content))}, status: 201, file: "x.txt"},
		{name: "raw wrong X-Content-SHA256", query: "?name=a", body: content, header: []string{"X-Content-SHA256", sha256Hex([]byte("other"))}, status: 400, code: "digest_mismatch"},
		{name: "raw malformed X-Content-SHA256", query: "?name=a", body: content, header: []string{"X-Content-SHA256", "xyz"}, status: 400, code: "bad_request"},
		{name: "raw digests disagree", query: "?name=a", body: content, header: []string{"Content-Digest", contentDigest(content), "X-Content-SHA256", sha256Hex([]byte("other"))}, status: 400, code: "digest_mismatch"},
		{name: "raw gzip", query: "?name=a", body: content, header: []string{"Content-Encoding", "gzip"}, status: 415, code: "unsupported_type"},
		{name: "raw malformed Content-Type", query: "?name=a", body: content, header: []string{"Content-Type", "text/"}, status: 400, code: "bad_request"},
		{name: "multipart", body: okBody, header: okHeader, status: 201, file: "up.txt"},
		{name: "multipart fields", body: fieldsBody, header: fieldsHeader, status: 201, folder: "from/field", file: "field.txt"},
		{name: "multipart blank name field", body: blankField, header: blankFieldHeader, status: 201, file: "report.txt"},
		{name: "multipart query wins", query: "?name=q.txt&folder=q", body: fieldsBody, header: fieldsHeader, status: 201, folder: "q", file: "q.txt"},
		{name: "multipart folder query", query: "?folder=qf", body: okBody, header: okHeader, status: 201, folder: "qf", file: "up.txt"},
		{name: "multipart RFC 5987 filename", body: utf8Name, header: utf8Header, status: 201, file: "résumé.txt"},
		{name: "multipart X-Content-SHA256", query: "?name=mx.txt", body: okBody, header: append([]string{"X-Content-SHA256", sha256Hex(content)}, okHeader...), status: 201, file: "mx.txt"},
		{name: "multipart wrong X-Content-SHA256", query: "?name=a", body: okBody, header: append([]string{"X-Content-SHA256", sha256Hex(okBody)}, okHeader...), status: 400, code: "digest_mismatch"},
		{name: "multipart Content-Digest of the body", query: "?name=md.txt", body: okBody, header: append([]string{"Content-Digest", contentDigest(okBody)}, okHeader...), status: 201, file: "md.txt"},
		{name: "multipart Content-Digest of the file", query: "?name=a", body: okBody, header: append([]string{"Content-Digest", contentDigest(content)}, okHeader...), status: 400, code: "digest_mismatch"},
		{name: "multipart traversal filename", body: traversal, header: traversalHeader, status: 400, code: "invalid_name"},
		{name: "multipart two files", body: twoFiles, header: twoFilesHeader, status: 400, code: "bad_request"},
		{name: "multipart no file", body: noFile, header: noFileHeader, status: 400, code: "bad_request"},
		{name: "multipart no filename", body: noName, header: noNameHeader, status: 400, code: "bad_request"},
		{name: "multipart long field", body: longField, header: longFieldHeader, status: 400, code: "invalid_name"},
		{name: "multipart truncated", body: truncated, header: okHeader, status: 400, code: "bad_request"},
		{name: "multipart without boundary", body: okBody, header: []string{"Content-Type", "multipart/form-data"}, status: 400, code: "bad_request"},
		{name: "multipart garbage", body: []byte("not multipart at all"), header: okHeader, status: 400, code: "bad_request"},
		{name: "multipart part headers under 64 KiB", body: headUnder, header: headUnderHeader, status: 201, file: "up.txt"},
		{name: "multipart file part headers over 64 KiB", body: headOver, header: headOverHeader, status: 400, code: "bad_request"},
		{name: "multipart field headers over 64 KiB", body: fieldHeadOver, header: fieldHeadOverHeader, status: 400, code: "bad_request"},
		{name: "multipart headers over 64 KiB after the file", body: tailHeadOver, header: tailHeadOverHeader, status: 400, code: "bad_request"},
		{name: "multipart preamble over 64 KiB", body: preambleOver, header: okHeader, status: 400, code: "bad_request"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owner := fmt.Sprintf("user%d", i)
			tok := e.token(owner)
			before := e.blobFiles()
			res := e.do("POST", "/v1/files"+tt.query, tok, bytes.NewReader(tt.body), tt.header...)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			if tt.code != "" {
				wantProblem(t, res, tt.status, tt.code)
				_, l := e.list(tok, "?recursive=true")
				_, trash := e.list(tok, "?recursive=true&trash=true")
				if len(l.Files)+len(trash.Files) != 0 {
					t.Errorf("a failed upload left files %v %v", paths(l), paths(trash))
				}
				if gc := e.do("POST", "/v1/admin/gc", admin, nil); gc.status != 200 {
					t.Fatalf("gc: %d %s", gc.status, gc.body)
				}
				if diff := cmp.Diff(before, e.blobFiles()); diff != "" {
					t.Errorf("a failed upload left bytes (-before +after):\n%s", diff)
				}
				return
			}
			f := decodeFile(t, res.body)
			wantPath(t, f, tt.folder, tt.file)
			stored := e.do("GET", "/v1/files/"+f.ID+"/content", tok, nil)
			want := content
			if tt.size == -1 {
				want = []byte{}
			}
			if !bytes.Equal(stored.body, want) || f.Size != int64(len(want)) || f.SHA256 != sha256Hex(want) {
				t.Errorf("stored %q (size %d, sha256 %s), want %q", stored.body, f.Size, f.SHA256, want)
			}
		})
	}
}

// TestUploadChunked sends a body of unknown length (chunked).
func TestUploadChunked(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice")
	content := bytes.Repeat([]byte("0123456789abcdef"), 200_000) // 3.2 MB
	pr, pw := io.Pipe()
	go func() {
		for chunk := range slices.Chunk(content, 100_000) {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, err := http.NewRequest("POST", e.srv.URL+"/v1/files?name=big.bin", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if req.ContentLength != -1 && req.ContentLength != 0 {
		t.Fatalf("ContentLength %d, want unknown", req.ContentLength)
	}
	res := e.send(req)
	if res.status != 201 {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	f := decodeFile(t, res.body)
	if f.Size != int64(len(content)) || f.SHA256 != sha256Hex(content) {
		t.Errorf("size %d sha256 %s, want %d %s", f.Size, f.SHA256, len(content), sha256Hex(content))
	}
	line := e.logs.waitRequest(t, "POST /v1/files")
	if got := line["bytes_in"]; got != int64(len(content)) {
		t.Errorf("log bytes_in %v, want %d", got, len(content))
	}
}

// putRecorder records the options of every Put it passes on.
type putRecorder struct {
	filestore.Store
	mu   sync.Mutex
	opts []filestore.PutOptions
}

func (p *putRecorder) Put(ctx context.Context, owner, folder, name string, r io.Reader, opts *filestore.PutOptions) (*filestore.File, error) {
	p.mu.Lock()
	p.opts = append(p.opts, *opts)
	p.mu.Unlock()
	return p.Store.Put(ctx, owner, folder, name, r, opts)
}

// TestUploadDeclaresSize: a raw upload with a Content-Length passes it to
// Put as the declared size (with which Put compares the upload with stored
// content of that size); a chunked raw upload and a multipart file part,
// whose length is unknown, declare none.
func TestUploadDeclaresSize(t *testing.T) {
	rec := &putRecorder{}
	e := newEnv(t, envOptions{wrapStore: func(st filestore.Store) filestore.Store { rec.Store = st; return rec }})
	tok := e.token("alice")
	content := bytes.Repeat([]byte("declared"), 300_000)
	e.upload(tok, "", "raw.bin", content)

	pr, pw := io.Pipe()
	go func() { _, _ = pw.Write(content); pw.Close() }()
	req, err := http.NewRequest("POST", e.srv.URL+"/v1/files?name=chunked.bin", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if res := e.send(req); res.status != http.StatusCreated {
		t.Fatalf("chunked upload: %d %s", res.status, res.body)
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "form.bin")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	if res := e.do("POST", "/v1/files", tok, &body, "Content-Type", mw.FormDataContentType()); res.status != http.StatusCreated {
		t.Fatalf("multipart upload: %d %s", res.status, res.body)
	}

	var sizes []int64
	for _, o := range rec.opts {
		sizes = append(sizes, o.Size)
	}
	if diff := cmp.Diff([]int64{int64(len(content)), 0, 0}, sizes); diff != "" {
		t.Errorf("declared sizes of raw, chunked and multipart uploads (-want +got):\n%s", diff)
	}
}

// TestUploadSizeLimit checks the limit at its edge, for raw and multipart
// bodies, and that a declared length over it is refused before the body is
// sent.
func TestUploadSizeLimit(t *testing.T) {
	const limit = 1 << 20
	e := newEnv(t, envOptions{cfg: httpapi.Config{MaxSize: limit}})
	tok := e.token("alice")
	exact := bytes.Repeat([]byte{'x'}, limit)
	over := append(bytes.Clone(exact), 'y')
	mpOver, mpHeader := multipartBody(t, part{header: fileHeader("big"), content: string(over)})
	mpExact, mpExactHeader := multipartBody(t, part{header: fileHeader("exact"), content: string(exact)})
	tests := []struct {
		name   string
		query  string
		body   []byte
		chunk  bool
		header []string
		status int
	}{
		{"raw at the limit", "?name=exact", exact, false, nil, 201},
		{"raw over the limit", "?name=over", over, false, nil, 413},
		{"chunked over the limit", "?name=over", over, true, nil, 413},
		{"multipart at the limit", "?name=mp-exact", mpExact, false, []string{"Content-Type", mpExactHeader}, 201},
		{"multipart over the limit", "", mpOver, false, []string{"Content-Type", mpHeader}, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(tt.body)
			if tt.chunk {
				body = io.MultiReader(body) // hides the length: chunked
			}
			res := e.do("POST", "/v1/files"+tt.query, tok, body, tt.header...)
			if tt.status == 413 {
				wantProblem(t, res, 413, "too_large")
				return
			}
			if res.status != tt.status {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
		})
	}

	t.Run("declared length over the limit", func(t *testing.T) {
		conn := dialRaw(t, e)
		fmt.Fprintf(conn, "POST /v1/files?name=x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", tok, limit+1)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 413 || !res.Close {
			t.Errorf("status %d, close %v; want 413 before any body byte, and Connection: close", res.StatusCode, res.Close)
		}
	})
}

func dialRaw(t *testing.T, e *env) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestUploadScanner maps the scanner's verdicts: clean, infected (422,
// nothing stored), and a scanner that cannot answer (503 fail-closed, or
// stored unscanned fail-open).
func TestUploadScanner(t *testing.T) {
	marker := []byte("EVIL-MARKER-" + "FOR-TESTS")
	e := newEnv(t, envOptions{
		// Every content in the bucket, which must end up holding one.
		store: filestore.Options{Scanner: markerScanner{marker: marker}, InlineMax: -1},
		cfg:   cfgCollect(&filestore.CollectOptions{StagingTTL: time.Nanosecond}),
	})
	tok := e.token("alice")

	res := e.do("POST", "/v1/files?name=clean.txt", tok, strings.NewReader("nothing to see"))
	if res.status != 201 {
		t.Fatalf("clean: %d %s", res.status, res.body)
	}
	f := decodeFile(t, res.body)
	if f.Scan.Status != filestore.ScanClean || f.Scan.Engine != "marker" || f.Scan.ScannedAt == nil {
		t.Errorf("scan %+v, want clean by marker", f.Scan)
	}

	infected := append(bytes.Repeat([]byte("padding "), 10_000), marker...)
	res = e.do("POST", "/v1/files?name=evil.txt", tok, bytes.NewReader(infected))
	wantProblem(t, res, 422, "infected")
	if !strings.Contains(string(res.body), "Test.Marker") {
		t.Errorf("the detail does not name the signature: %s", res.body)
	}
	if _, l := e.list(tok, ""); !slices.Equal(paths(l), []string{"|clean.txt"}) {
		t.Errorf("files after infected upload: %v", paths(l))
	}
	e.do("POST", "/v1/admin/gc", e.token("root", auth.ScopeAdmin), nil)
	if got := len(e.blobFiles()); got != 1 {
		t.Errorf("bucket holds %d files, want only the clean one", got)
	}

	for _, tt := range []struct {
		policy filestore.ScanPolicy
		status int
		code   string
	}{
		{filestore.FailClosed, 503, "scanner_unavailable"},
		{filestore.FailOpen, 201, ""},
	} {
		t.Run("scanner down "+string(tt.policy), func(t *testing.T) {
			e := newEnv(t, envOptions{store: filestore.Options{Scanner: downScanner{}, ScanPolicy: tt.policy}})
			res := e.do("POST", "/v1/files?name=a.txt", e.token("alice"), strings.NewReader("anything"))
			if tt.code != "" {
				wantProblem(t, res, tt.status, tt.code)
				return
			}
			if res.status != tt.status {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			if f := decodeFile(t, res.body); f.Scan.Status != filestore.ScanUnscanned {
				t.Errorf("scan %+v, want unscanned", f.Scan)
			}
		})
	}
}

// downScanner is a scanner whose daemon is unreachable.
type downScanner struct{}

func (downScanner) Scan(ctx context.Context, r io.Reader) (*filestore.ScanResult, error) {
	return nil, errors.New("dial tcp 127.0.0.1:3310: connection refused")
}

// TestUploadClientGone: a client that disconnects in the middle of an
// upload leaves no file and, after GC, no bytes.
func TestUploadClientGone(t *testing.T) {
	e := newEnv(t, envOptions{cfg: cfgCollect(&filestore.CollectOptions{StagingTTL: time.Nanosecond})})
	tok := e.token("alice")
	conn := dialRaw(t, e)
	fmt.Fprintf(conn, "POST /v1/files?name=partial.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", tok, 10<<20)
	if _, err := conn.Write(bytes.Repeat([]byte{'p'}, 1<<20)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	line := e.logs.waitRequest(t, "POST /v1/files")
	if got := line["status"]; got != int64(400) && got != int64(499) {
		t.Errorf("logged status %v, want 400 or 499", got)
	}
	if _, l := e.list(tok, "?recursive=true"); len(l.Files) != 0 {
		t.Errorf("files after a broken upload: %v", paths(l))
	}
	if res := e.do("POST", "/v1/admin/gc", e.token("root", auth.ScopeAdmin), nil); res.status != 200 {
		t.Fatalf("gc: %d %s", res.status, res.body)
	}
	if files := e.blobFiles(); len(files) != 0 {
		t.Errorf("bytes left after gc: %v", files)
	}
}

// TestUploadBodyTimeout: a body that stalls longer than BodyTimeout is cut
// off; one that keeps arriving is not, however long it takes in all.
func TestUploadBodyTimeout(t *testing.T) {
	const timeout = time.Second
	e := newEnv(t, envOptions{cfg: httpapi.Config{BodyTimeout: timeout}})
	tok := e.token("alice")

	t.Run("stalled", func(t *testing.T) {
		conn := dialRaw(t, e)
		fmt.Fprintf(conn, "POST /v1/files?name=stalled HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n%s", tok, strings.Repeat("s", 100))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		wantProblem(t, &response{status: res.StatusCode, header: res.Header, body: body}, 400, "bad_request")
		if !strings.Contains(string(body), "stalled") {
			t.Errorf("detail: %s", body)
		}
	})

	// A body announced and never sent, on routes that answer without
	// reading it (no token: 401; a health check: 200). Before, the server
	// waited for it without a deadline before answering, holding the
	// connection and any graceful shutdown for ever.
	for _, tc := range []struct {
		request string
		status  int
	}{
		{"POST /v1/files?name=x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", 401},
		{"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", 200},
	} {
		t.Run(fmt.Sprintf("announced, never sent, %d", tc.status), func(t *testing.T) {
			conn := dialRaw(t, e)
			if _, err := io.WriteString(conn, tc.request); err != nil {
				t.Fatal(err)
			}
			// A guard against a hang, far above the timeout; not a
			// measure of time.
			_ = conn.SetReadDeadline(time.Now().Add(30 * timeout))
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Errorf("status %d, want %d", res.StatusCode, tc.status)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("after the answer: %v, want the connection closed (EOF)", err)
			}
		})
	}

	t.Run("slow but steady", func(t *testing.T) {
		const chunks, gap = 8, timeout / 4 // 2 s in all, twice the timeout
		pr, pw := io.Pipe()
		go func() {
			tick := time.NewTicker(gap)
			defer tick.Stop()
			for range chunks {
				<-tick.C
				if _, err := pw.Write(bytes.Repeat([]byte{'s'}, 100)); err != nil {
					return
				}
			}
			pw.Close()
		}()
		res := e.do("POST", "/v1/files?name=steady", tok, pr)
		if res.status != 201 {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		if f := decodeFile(t, res.body); f.Size != chunks*100 {
			t.Errorf("size %d, want %d", f.Size, chunks*100)
		}
	})
}

// waitScanner reads the whole upload, then waits for its context to end
// and returns its error: an upload whose scan outlives its client.
type waitScanner struct{}

func (waitScanner) Scan(ctx context.Context, r io.Reader) (*filestore.ScanResult, error) {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, err
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// pingWaitStore is a Store whose Ping waits for its context to end.
type pingWaitStore struct{ filestore.Store }

func (pingWaitStore) Ping(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestClientHalfClose: a client that shuts down its sending side after a
// whole request makes net/http cancel the request's context. The request
// is logged as 499, and the connection is closed without an answer: 499
// is no HTTP status to send. The upload leaves nothing, and /readyz does
// not report a dependency down when only its client went away.
func TestClientHalfClose(t *testing.T) {
	e := newEnv(t, envOptions{
		store:     filestore.Options{Scanner: waitScanner{}},
		wrapStore: func(s filestore.Store) filestore.Store { return pingWaitStore{s} },
	})
	tok := e.token("alice")
	for _, tt := range []struct {
		route, request string
	}{
		{"POST /v1/files", "POST /v1/files?name=h.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\nContent-Length: 5\r\n\r\nhello"},
		{"GET /readyz", "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		t.Run(tt.route, func(t *testing.T) {
			conn := dialRaw(t, e)
			if _, err := io.WriteString(conn, tt.request); err != nil {
				t.Fatal(err)
			}
			if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			line := e.logs.waitRequest(t, tt.route)
			if got := line["status"]; got != int64(499) {
				t.Errorf("logged status %v, want 499", got)
			}
			if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(conn)
			if err != nil || len(got) != 0 {
				t.Errorf("the client read %q (%v); want the connection closed without an answer", got, err)
			}
		})
	}
	if _, l := e.list(tok, "?recursive=true"); len(l.Files) != 0 {
		t.Errorf("files after the half-closed upload: %v", paths(l))
	}
}

// cancelledStore is a Store whose Stat fails with a cancellation of its
// own, as one whose application is shutting down does.
type cancelledStore struct{ filestore.Store }

func (cancelledStore) Stat(ctx context.Context, owner, id string) (*filestore.File, error) {
	return nil, fmt.Errorf("app: shutting down: %w", context.Canceled)
}

// TestStoreCancelledNotClient: a cancellation that is not the request's
// own (its client is still there) is answered 503, not dropped as a client
// gone and never 499.
func TestStoreCancelledNotClient(t *testing.T) {
	e := newEnv(t, envOptions{wrapStore: func(s filestore.Store) filestore.Store { return cancelledStore{s} }})
	res := e.do("GET", "/v1/files/01a22c00-0000-7000-8000-000000000000", e.token("alice"), nil)
	wantProblem(t, res, 503, "unavailable")
	line := e.logs.waitRequest(t, "GET /v1/files/{id}")
	if got := line["status"]; got != int64(503) {
		t.Errorf("logged status %v, want 503", got)
	}
}
