package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore"
)

func TestParseDigests(t *testing.T) {
	const (
		b64  = "X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="
		hex  = "5f8f04f6a3a892aaabbddb6cf273894493773960d4a325b105fee46eef4304f1"
		hexU = "5F8F04F6A3A892AAABBDDB6CF273894493773960D4A325B105FEE46EEF4304F1"
	)
	tests := []struct {
		name   string
		header http.Header
		want   digests
		bad    bool
	}{
		{"none", http.Header{}, digests{}, false},
		{"content digest", http.Header{"Content-Digest": {"sha-256=:" + b64 + ":"}}, digests{content: hex}, false},
		{"with others", http.Header{"Content-Digest": {"sha-512=:AAAA:, sha-256=:" + b64 + ":"}}, digests{content: hex}, false},
		{"two fields", http.Header{"Content-Digest": {"sha-512=:AAAA:", "sha-256=:" + b64 + ":"}}, digests{content: hex}, false},
		{"parameters", http.Header{"Content-Digest": {"sha-256=:" + b64 + ":;x=1"}}, digests{content: hex}, false},
		{"other only", http.Header{"Content-Digest": {"sha-512=:AAAA:"}}, digests{}, false},
		{"x header", http.Header{"X-Content-Sha256": {hexU}}, digests{file: hex}, false},
		{"both", http.Header{"Content-Digest": {"sha-256=:" + b64 + ":"}, "X-Content-Sha256": {hex}}, digests{content: hex, file: hex}, false},
		{"empty content digest", http.Header{"Content-Digest": {""}}, digests{}, true},
		{"no colons", http.Header{"Content-Digest": {"sha-256=" + b64}}, digests{}, true},
		{"not base64", http.Header{"Content-Digest": {"sha-256=:***:"}}, digests{}, true},
		{"unpadded", http.Header{"Content-Digest": {"sha-256=:" + strings.TrimSuffix(b64, "=") + ":"}}, digests{content: hex}, false},
		{"unpadded, one character short", http.Header{"Content-Digest": {"sha-256=:" + b64[:42] + ":"}}, digests{}, true},
		{"unpadded, one character long", http.Header{"Content-Digest": {"sha-256=:" + b64[:43] + "A:"}}, digests{}, true},
		{"unpadded, stray bits", http.Header{"Content-Digest": {"sha-256=:" + b64[:42] + "F:"}}, digests{}, true},
		{"too much padding", http.Header{"Content-Digest": {"sha-256=:" + b64 + "=:"}}, digests{}, true},
		{"padding inside", http.Header{"Content-Digest": {"sha-256=:" + b64[:20] + "=" + b64[20:43] + ":"}}, digests{}, true},
		{"wrong length", http.Header{"Content-Digest": {"sha-256=:AAAA:"}}, digests{}, true},
		{"upper-case key", http.Header{"Content-Digest": {"SHA-256=:" + b64 + ":"}}, digests{}, true},
		{"no key", http.Header{"Content-Digest": {":" + b64 + ":"}}, digests{}, true},
		{"hex as content digest", http.Header{"Content-Digest": {"sha-256=" + hex}}, digests{}, true},
		{"short x header", http.Header{"X-Content-Sha256": {hex[:63]}}, digests{}, true},
		{"x header not hex", http.Header{"X-Content-Sha256": {strings.Repeat("g", 64)}}, digests{}, true},
		{"x header base64", http.Header{"X-Content-Sha256": {b64}}, digests{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDigests(tt.header)
			if tt.bad {
				if he, ok := errors.AsType[*httpError](err); !ok || he.status != 400 || he.code != codeBadRequest {
					t.Errorf("err %v, want 400 bad_request", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(digests{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestContentDispositionValue(t *testing.T) {
	tests := []struct {
		name   string
		inline bool
		want   string
	}{
		{"plain.txt", false, `attachment; filename="plain.txt"; filename*=UTF-8''plain.txt`},
		{"plain.txt", true, `inline; filename="plain.txt"; filename*=UTF-8''plain.txt`},
		{"a b.txt", false, `attachment; filename="a b.txt"; filename*=UTF-8''a%20b.txt`},
		{`q"uo\te.txt`, false, `attachment; filename="q_uo_te.txt"; filename*=UTF-8''q%22uo%5Cte.txt`},
		{"100%.txt", false, `attachment; filename="100_.txt"; filename*=UTF-8''100%25.txt`},
		{"日本.txt", false, `attachment; filename="__.txt"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt`},
		{"x;y=z,(w)", false, `attachment; filename="x;y=z,(w)"; filename*=UTF-8''x%3By%3Dz%2C%28w%29`},
		{"!#$&+-.^_`|~", false, "attachment; filename=\"!#$&+-.^_`|~\"; filename*=UTF-8''!#$&+-.^_`|~"},
	}
	for _, tt := range tests {
		if got := contentDisposition(tt.inline, tt.name); got != tt.want {
			t.Errorf("contentDisposition(%v, %q)\n got %s\nwant %s", tt.inline, tt.name, got, tt.want)
		}
	}
}

func TestInlineType(t *testing.T) {
	tests := map[string]bool{
		"image/png": true, "image/jpeg": true, "IMAGE/GIF": true, "video/mp4": true, "audio/mpeg": true,
		"application/pdf": true, "application/pdf; x=y": true, "image/svg+xml": false, "text/html": false,
		"text/plain; charset=utf-8": false, "application/octet-stream": false, "application/pdfx": false, "": false,
	}
	for ct, want := range tests {
		if got := inlineType(ct); got != want {
			t.Errorf("inlineType(%q) = %v, want %v", ct, got, want)
		}
	}
}

// TestClassify checks the error table: each sentinel, wrapped, maps to its
// status and code, and anything else is a 500 whose detail shows nothing
// of the error.
func TestClassify(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{filestore.ErrNotFound, 404, "not_found"},
		{filestore.ErrConflict, 409, "conflict"},
		{filestore.ErrInvalidName, 400, "invalid_name"},
		{filestore.ErrInvalidArgument, 400, "bad_request"},
		{filestore.ErrDigestMismatch, 400, "digest_mismatch"},
		{filestore.ErrTooLarge, 413, "too_large"},
		{&http.MaxBytesError{Limit: 10}, 413, "too_large"},
		{filestore.ErrTypeNotAllowed, 415, "unsupported_type"},
		{filestore.ErrTypeMismatch, 415, "type_mismatch"},
		{filestore.ErrInfected, 422, "infected"},
		{&filestore.InfectedError{Signature: "Eicar"}, 422, "infected"},
		{filestore.ErrScannerUnavailable, 503, "scanner_unavailable"},
		{filestore.ErrUnavailable, 503, "unavailable"},
		{filestore.ErrStagingExpired, 503, "unavailable"},
		{filestore.ErrClosed, 503, "unavailable"},
		{context.DeadlineExceeded, 503, "unavailable"},
		{context.Canceled, 499, "client_closed"},
		{badRequest("x"), 400, "bad_request"},
		{errors.New("pq: password authentication failed for user secret"), 500, "internal"},
		{filestore.ErrScanLimit, 500, "internal"},
	}
	for _, tt := range tests {
		for _, err := range []error{tt.err, fmt.Errorf("filestore: put %q: %w", "x", tt.err)} {
			c := classify(err)
			if c.status != tt.status || c.code != tt.code {
				t.Errorf("classify(%v) = %d %s, want %d %s", err, c.status, c.code, tt.status, tt.code)
			}
			if c.status == 500 && (strings.Contains(c.detail, "password") || strings.Contains(c.detail, "scanner")) {
				t.Errorf("500 detail leaks: %s", c.detail)
			}
		}
	}
	// An upload that took too long is also ErrUnavailable: the detail says which.
	if c := classify(fmt.Errorf("%w: %w", filestore.ErrStagingExpired, filestore.ErrUnavailable)); !strings.Contains(c.detail, "took longer") {
		t.Errorf("expired upload: detail %q does not say that the upload took too long", c.detail)
	}
	if c := classify(&filestore.InfectedError{Signature: "Eicar-Test"}); !strings.Contains(c.detail, "Eicar-Test") {
		t.Errorf("infected detail %q lacks the signature", c.detail)
	}
	// Details for a reason of their own: content over the scanner's limit
	// is too large, and a busy scanner is unavailable for this upload.
	details := []struct {
		err    error
		status int
		code   string
		detail string
	}{
		{fmt.Errorf("put: %w: %w", filestore.ErrTooLarge, filestore.ErrScanLimit), 413, "too_large", "the content is larger than the virus scanner accepts; nothing was stored"},
		{fmt.Errorf("put: %w", filestore.ErrTooLarge), 413, "too_large", "the content is larger than the maximum size; nothing was stored"},
		{fmt.Errorf("put: %w: %w", filestore.ErrScannerUnavailable, filestore.ErrScannerBusy), 503, "scanner_unavailable", "the virus scanner is busy; nothing was stored, try again later"},
		{fmt.Errorf("put: %w", filestore.ErrScannerUnavailable), 503, "scanner_unavailable", "the virus scanner is unavailable; nothing was stored, try again later"},
	}
	for _, tt := range details {
		if c := classify(tt.err); c.status != tt.status || c.code != tt.code || c.detail != tt.detail {
			t.Errorf("classify(%v) = %d %s %q, want %d %s %q", tt.err, c.status, c.code, c.detail, tt.status, tt.code, tt.detail)
		}
	}
}

func TestParseTraceparentUnit(t *testing.T) {
	valid := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if tc, ok := parseTraceparent(valid); !ok || tc.traceID != "4bf92f3577b34da6a3ce929d0e0e4736" || tc.flags != "01" {
		t.Errorf("parseTraceparent(%q) = %+v, %v", valid, tc, ok)
	}
	for _, bad := range []string{"", valid[:54], valid + "0", "0-" + valid[2:], "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01"} {
		if _, ok := parseTraceparent(bad); ok {
			t.Errorf("parseTraceparent(%q) ok", bad)
		}
	}
	for range 100 {
		s := newTrace().traceparent()
		if _, ok := parseTraceparent(s); !ok {
			t.Fatalf("generated traceparent %q is invalid", s)
		}
	}
}

func TestFixRange(t *testing.T) {
	many := "bytes=" + strings.Repeat("0-0,", 100) + "0-0"
	tests := []struct {
		give string
		size int64
		want string
	}{
		{"bytes=0-1", 20, "bytes=0-1"},
		{"bytes=-5", 20, "bytes=-5"},
		{"bytes=-0", 20, "bytes=20-"},
		{"bytes= -000 ", 20, "bytes=20-"},
		{"bytes=-+0", 20, "bytes=20-"},
		{"bytes=-+00,1-2", 20, "bytes=1-2"},
		{"bytes=--0", 20, "bytes=--0"},
		{"bytes=-+5", 20, "bytes=-+5"},
		{"bytes=-0x0", 20, "bytes=-0x0"},
		{"bytes=-0,1-2", 20, "bytes=1-2"},
		{"bytes=1-2, -0, 4-5", 20, "bytes=1-2, 4-5"},
		{"bytes=-0,", 20, "bytes=20-"},
		{"bytes=0-", 20, "bytes=0-"},
		{"bytes=10-0", 20, "bytes=10-0"},
		{"lines=-0", 20, ""},
		{"items=0-4", 20, ""},
		{"Bytes=0-4", 20, "bytes=0-4"},
		{"BYTES=-0,1-2", 20, "bytes=1-2"},
		{"Bytes=", 20, "bytes="},
		{"bytes=", 20, "bytes="},
		{"by tes=0-1", 20, "by tes=0-1"},
		{"=0-1", 20, "=0-1"},
		{"0-1", 20, "0-1"},
		{many, 20, ""},
		{"bytes=-5", 0, "bytes=0-"},
		{"bytes=-0", 0, "bytes=0-"},
		{"bytes=0-0, -+5 ,a-b", 0, "bytes=0-0,0-,a-b"},
		{"bytes=0-0", 0, "bytes=0-0"},
		{"bytes=--5", 0, "bytes=--5"},
		{"lines=1-2", 0, ""},
		// Positions too large for an int64 are beyond any end.
		{"bytes=0-99999999999999999999", 20, "bytes=0-"},
		{"bytes=5-99999999999999999999,1-2", 20, "bytes=5-,1-2"},
		{"bytes=-99999999999999999999", 20, "bytes=0-"},
		{"bytes=-99999999999999999999", 0, "bytes=0-"},
		{"bytes=99999999999999999999-", 20, "bytes=20-"},
		{"bytes=99999999999999999999-99999999999999999999, 0-1", 20, "bytes=20-, 0-1"},
		{"bytes=0-9223372036854775807", 20, "bytes=0-9223372036854775807"},
		{"bytes=0-+99999999999999999999", 20, "bytes=0-+99999999999999999999"},
	}
	for _, tt := range tests {
		if got := fixRange(tt.give, tt.size, 100); got != tt.want {
			t.Errorf("fixRange(%q, size %d) = %q, want %q", tt.give, tt.size, got, tt.want)
		}
	}
}

func TestValidJSONString(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{`"a.txt"`, true},
		{`""`, true},
		{`"\ud83d\ude00"`, true},
		{`"\uD83D\uDE00"`, true},
		{`"\ufffd"`, true},
		{"\"\xef\xbf\xbd\"", true},
		{`"\\ud800"`, true}, // a backslash, then the letters "ud800"
		{`"\\\ud800"`, false},
		{`"\n\u00e9\"\/"`, true},
		{"\"\xff\"", false},
		{"\"\xed\xa0\x80\"", false}, // a surrogate encoded as UTF-8
		{`"\ud800"`, false},
		{`"\udfff"`, false},
		{`"\ude00\ud83d"`, false},
		{`"\ud83d\ud83d"`, false},
		{`"\ud83dx\ude00"`, false},
		{`"\ud83d\n"`, false},
	}
	for _, tt := range tests {
		if got := validJSONString([]byte(tt.s)); got != tt.want {
			t.Errorf("validJSONString(%s) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestETagMatch(t *testing.T) {
	const etag = `"abc"`
	tests := []struct {
		list         string
		strong, weak bool // the outcome of If-Match's and If-None-Match's comparison
	}{
		{`"abc"`, true, true},
		{`W/"abc"`, false, true},
		{`*`, true, true},
		{` "x" , "abc" `, true, true},
		{`"x",,"abc"`, true, true},
		{`"x", W/"abc"`, false, true},
		{`"x"`, false, false},
		{`"ab"`, false, false},
		{`abc`, false, false},
		{`"x" junk, "abc"`, false, false},
		{`"a,b", "abc"`, true, true},
		{`"abc`, false, false},
		{``, false, false},
	}
	for _, tt := range tests {
		if got := etagMatch(tt.list, etag, false); got != tt.strong {
			t.Errorf("etagMatch(%q, strong) = %v, want %v", tt.list, got, tt.strong)
		}
		if got := etagMatch(tt.list, etag, true); got != tt.weak {
			t.Errorf("etagMatch(%q, weak) = %v, want %v", tt.list, got, tt.weak)
		}
	}
}

// TestPartEnds: the end of each part of a multipart answer, by its first
// byte, as http.ServeContent reads the parts of a Range value that
// fixRange left.
func TestPartEnds(t *testing.T) {
	tests := []struct {
		give string
		size int64
		want map[int64]int64
	}{
		{"bytes=0-9,20-29", 100, map[int64]int64{0: 10, 20: 30}},
		{"bytes= 0-9 , -5 ,90-", 100, map[int64]int64{0: 10, 95: 100, 90: 100}},
		{"bytes=0-9,0-49,0-4", 100, map[int64]int64{0: 50}},
		{"bytes=50-500,-500", 100, map[int64]int64{50: 100, 0: 100}},
		{"bytes=100-,5-6", 100, map[int64]int64{5: 7}},
		{"bytes=+5-+6,-+3", 100, map[int64]int64{5: 7, 97: 100}},
		{"bytes=0-9,,20-29", 100, map[int64]int64{0: 10, 20: 30}},
		{"bytes=0-9,x", 100, nil},
		{"bytes=9-0,1-2", 100, nil},
		{"bytes=-x,1-2", 100, nil},
		{"items=0-9,1-2", 100, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, partEnds(tt.give, tt.size)); diff != "" {
			t.Errorf("partEnds(%q, %d) (-want +got):\n%s", tt.give, tt.size, diff)
		}
	}
}
