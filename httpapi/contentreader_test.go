package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore"
)

// countingSource is an io.ReadSeeker that counts the calls reaching it,
// and an io.ReaderAt only when readerAt is set.
type countingSource struct {
	r                     *bytes.Reader
	seeks, reads, readAts int
}

func (s *countingSource) Read(p []byte) (int, error) { s.reads++; return s.r.Read(p) }
func (s *countingSource) Seek(off int64, whence int) (int64, error) {
	s.seeks++
	return s.r.Seek(off, whence)
}

type countingReaderAt struct{ *countingSource }

func (s countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	s.readAts++
	return s.r.ReadAt(p, off)
}

// TestContentReader: http.ServeContent over a contentReader gets the bytes
// it asks for, while the seeks it makes to learn the size and to reach a
// range reach the Store's reader only when a Read needs them there: never
// for an io.ReaderAt, once per range not at the current position
// otherwise. Content shorter than its row's size is an
// io.ErrUnexpectedEOF, kept for the log line.
func TestContentReader(t *testing.T) {
	content := make([]byte, 100_000)
	for i := range content {
		content[i] = byte(i*7 + i/251)
	}
	tests := []struct {
		name      string
		rangeHdr  string
		readerAt  bool
		size      int64 // the row's size; 0 means len(content)
		want      []byte
		wantParts [][]byte
		seeks     int
		failure   error
	}{
		{name: "whole, ReaderAt", readerAt: true, want: content},
		{name: "whole, reader", want: content},
		{name: "range, ReaderAt", rangeHdr: "bytes=70000-74095", readerAt: true, want: content[70000:74096]},
		{name: "range, reader", rangeHdr: "bytes=70000-74095", want: content[70000:74096], seeks: 1},
		{name: "range from 0, reader", rangeHdr: "bytes=0-9", want: content[:10]},
		{name: "suffix, reader", rangeHdr: "bytes=-5", want: content[len(content)-5:], seeks: 1},
		{name: "two ranges, ReaderAt", rangeHdr: "bytes=0-9,50000-50009", readerAt: true, wantParts: [][]byte{content[:10], content[50000:50010]}},
		{name: "two ranges, reader", rangeHdr: "bytes=0-9,50000-50009", wantParts: [][]byte{content[:10], content[50000:50010]}, seeks: 1},
		{name: "two adjacent ranges, reader", rangeHdr: "bytes=0-9,10-19", wantParts: [][]byte{content[:10], content[10:20]}},
		{name: "short object, ReaderAt", readerAt: true, size: 100_100, want: content, failure: io.ErrUnexpectedEOF},
		{name: "short object, reader", size: 100_100, want: content, failure: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &countingSource{r: bytes.NewReader(content)}
			var rs io.ReadSeeker = src
			if tt.readerAt {
				rs = countingReaderAt{src}
			}
			size := tt.size
			if size == 0 {
				size = int64(len(content))
			}
			cr := newContentReader(rs, size)
			req := httptest.NewRequest("GET", "/", nil)
			if tt.rangeHdr != "" {
				req.Header.Set("Range", tt.rangeHdr)
			}
			rec := httptest.NewRecorder()
			rec.Header().Set("Content-Type", "application/octet-stream") // as content sets it: no sniffing
			http.ServeContent(rec, req, "", time.Time{}, cr)
			body := rec.Body.Bytes()
			switch {
			case tt.wantParts != nil:
				_, params, err := mime.ParseMediaType(rec.Header().Get("Content-Type"))
				if err != nil || rec.Code != http.StatusPartialContent {
					t.Fatalf("%d, Content-Type %q: %v", rec.Code, rec.Header().Get("Content-Type"), err)
				}
				mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
				for i, want := range tt.wantParts {
					p, err := mr.NextPart()
					if err != nil {
						t.Fatalf("part %d: %v", i, err)
					}
					got, _ := io.ReadAll(p)
					if !bytes.Equal(got, want) {
						t.Errorf("part %d: %d bytes differ from the %d wanted", i, len(got), len(want))
					}
				}
			case !bytes.Equal(body, tt.want):
				t.Errorf("body of %d bytes (status %d), want %d bytes of the content", len(body), rec.Code, len(tt.want))
			}
			if src.seeks != tt.seeks {
				t.Errorf("%d seeks reached the reader, want %d", src.seeks, tt.seeks)
			}
			if tt.readerAt && src.reads != 0 {
				t.Errorf("%d Reads reached an io.ReaderAt, want none (ReadAt only)", src.reads)
			}
			if err := cr.failure(); !errors.Is(err, tt.failure) || (tt.failure == nil) != (err == nil) {
				t.Errorf("failure %v, want %v", err, tt.failure)
			}
		})
	}
}

// TestContentReaderFile: a local object's *os.File is read with ReadAt
// (pread), whatever the order of the ranges asked for.
func TestContentReaderFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "object")
	content := []byte(strings.Repeat("0123456789", 1000))
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := newContentReader(f, int64(len(content)))
	for _, at := range []int64{9000, 5, 9995, 0} {
		if _, err := cr.Seek(at, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(io.LimitReader(cr, 5))
		if err != nil || string(got) != string(content[at:at+5]) {
			t.Errorf("5 bytes at %d: %q, %v; want %q", at, got, err, content[at:at+5])
		}
	}
	if pos, err := f.Seek(0, io.SeekCurrent); err != nil || pos != 0 {
		t.Errorf("the file's own offset is %d (%v), want 0: it was read with Read, not ReadAt", pos, err)
	}
}

func TestContentReaderSeek(t *testing.T) {
	cr := newContentReader(bytes.NewReader(make([]byte, 10)), 10)
	tests := []struct {
		offset  int64
		whence  int
		want    int64
		wantErr bool
	}{
		{0, io.SeekEnd, 10, false},
		{-3, io.SeekEnd, 7, false},
		{2, io.SeekCurrent, 9, false},
		{20, io.SeekStart, 20, false},
		{-1, io.SeekStart, 0, true},
		{-30, io.SeekEnd, 0, true},
		{0, 7, 0, true},
	}
	for _, tt := range tests {
		got, err := cr.Seek(tt.offset, tt.whence)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("Seek(%d, %d) = %d, %v; want %d (error %v)", tt.offset, tt.whence, got, err, tt.want, tt.wantErr)
		}
	}
	if n, err := cr.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Errorf("Read past the end: %d, %v; want 0, EOF", n, err)
	}
}

// readLog is an io.ReadSeeker (no io.ReaderAt, as a remote object's
// reader) that records the position and length of each Read, and fails
// every Read with err when err is set.
type readLog struct {
	r     *bytes.Reader
	err   error
	reads []string
}

func (s *readLog) Read(p []byte) (int, error) {
	s.reads = append(s.reads, fmt.Sprintf("%d+%d", s.r.Size()-int64(s.r.Len()), len(p)))
	if s.err != nil {
		return 0, s.err
	}
	return s.r.Read(p)
}

func (s *readLog) Seek(off int64, whence int) (int64, error) { return s.r.Seek(off, whence) }

// TestContentWriterPrime: before the header of a 200 or of a 206 of one
// range, the content's first bytes are read from a source that is not an
// io.ReaderAt, in one Read of what the copy would ask first (the range's
// length, at most 32 KiB), so that a source that fails at once (a remote
// object gone) gives an error answer instead of a 200 that ends short. A
// 206 of several ranges and an io.ReaderAt source are not read ahead.
func TestContentWriterPrime(t *testing.T) {
	content := make([]byte, 100_000)
	for i := range content {
		content[i] = byte(i*7 + i/251)
	}
	gone := fmt.Errorf("injected: %w", filestore.ErrNotFound)
	tests := []struct {
		name     string
		method   string
		rangeHdr string
		err      error
		status   int
		want     []byte // nil: not checked (multipart)
		reads    []string
	}{
		{name: "whole", status: 200, want: content,
			reads: []string{"0+32768", "32768+32768", "65536+32768", "98304+1696"}},
		{name: "4 KiB range", rangeHdr: "bytes=70000-74095", status: 206, want: content[70000:74096], reads: []string{"70000+4096"}},
		{name: "range to the end", rangeHdr: "bytes=90000-", status: 206, want: content[90000:], reads: []string{"90000+10000"}},
		{name: "two ranges", rangeHdr: "bytes=0-9,50000-50009", status: 206, reads: []string{"0+10", "50000+10"}},
		{name: "head", method: "HEAD", status: 200, want: []byte{}, reads: []string{"0+1"}},
		{name: "range, object gone", rangeHdr: "bytes=70000-74095", err: gone, status: 404, reads: []string{"70000+4096"}},
		{name: "whole, object gone", err: gone, status: 404, reads: []string{"0+32768"}},
		{name: "range, unsatisfiable", rangeHdr: "bytes=200000-", status: 416},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &readLog{r: bytes.NewReader(content), err: tt.err}
			cr := newContentReader(src, int64(len(content)))
			method := tt.method
			if method == "" {
				method = "GET"
			}
			req := httptest.NewRequest(method, "/", nil)
			if tt.rangeHdr != "" {
				req.Header.Set("Range", tt.rangeHdr)
			}
			rec := httptest.NewRecorder()
			rec.Header().Set("Content-Type", "application/octet-stream")
			cw := &contentWriter{ResponseWriter: rec, r: req, src: cr}
			http.ServeContent(cw, req, "", time.Time{}, cr)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d; body %.200s", rec.Code, tt.status, rec.Body.Bytes())
			}
			if tt.want != nil && !bytes.Equal(rec.Body.Bytes(), tt.want) {
				t.Errorf("body of %d bytes, want %d bytes of the content", rec.Body.Len(), len(tt.want))
			}
			if diff := cmp.Diff(tt.reads, src.reads); diff != "" {
				t.Errorf("Reads of the source, position+length (-want +got):\n%s", diff)
			}
			if tt.err != nil {
				if ct, crange := rec.Header().Get("Content-Type"), rec.Header().Get("Content-Range"); ct != problemType || crange != "" || cr.primeErr == nil {
					t.Errorf("Content-Type %q, Content-Range %q, prime's error %v; want a problem, no Content-Range, prime's error", ct, crange, cr.primeErr)
				}
			}
		})
	}
	t.Run("ReaderAt", func(t *testing.T) {
		src := &countingSource{r: bytes.NewReader(content)}
		cr := newContentReader(countingReaderAt{src}, int64(len(content)))
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Range", "bytes=70000-74095")
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(&contentWriter{ResponseWriter: rec, r: req, src: cr}, req, "", time.Time{}, cr)
		if rec.Code != 206 || !bytes.Equal(rec.Body.Bytes(), content[70000:74096]) || src.reads != 0 || src.readAts != 1 {
			t.Errorf("status %d, %d bytes, %d Reads, %d ReadAts; want 206, the range, 0 Reads and 1 ReadAt", rec.Code, rec.Body.Len(), src.reads, src.readAts)
		}
	})
}
