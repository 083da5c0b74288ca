package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/filestore-go/filestore/auth"
)

// content serves GET and HEAD /v1/files/{id}/content through
// http.ServeContent over the Store's seekable reader: single and multiple
// ranges, conditional requests, If-Range. A Range header with more than
// Config.MaxRanges ranges is ignored (the whole content, 200), which keeps
// thousands of ranges as cheap as one GET (see fixRange). Before the header
// of a 200 or of a 206 of one range, the content's first bytes are read
// (see contentReader.prime): a remote object that has gone from the bucket
// is answered 404, a bucket that does not answer 503. The content is
// copied through Write in 32 KiB pieces, not handed to sendfile: over
// loopback, sendfile of a local object's *os.File was measured slower (see
// docs/benchmarks.md). A GET is counted in the downloads gate until it
// returns, and refused before the object is opened when its owner or the
// server has its cap in progress; a HEAD, which holds nothing for long, is
// not counted.
func (h *Handler) content(w http.ResponseWriter, r *http.Request, c *auth.Caller) error {
	if r.Method != http.MethodHead {
		if err := h.admit(w, h.downloads, c.Owner); err != nil {
			return err
		}
		defer h.downloads.release(c.Owner)
	}
	id, err := fileID(r)
	if err != nil {
		return err
	}
	q, err := queryParams(r, "inline")
	if err != nil {
		return err
	}
	inline, err := boolParam(q, "inline")
	if err != nil {
		return err
	}
	f, rc, err := h.store.Get(r.Context(), c.Owner, id)
	if err != nil {
		return err
	}
	defer rc.Close()

	r = joinConditionals(r)
	hdr := w.Header()
	hdr.Set("ETag", `"`+f.SHA256+`"`)
	hdr.Set("Content-Type", f.ContentType)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", "sandbox")
	hdr.Set("Cache-Control", "private, no-cache")
	hdr.Set("Content-Disposition", contentDisposition(inline && inlineType(f.ContentType), f.Name))
	if v := r.Header.Get("Range"); v != "" {
		if fixed := fixRange(v, f.Size, h.cfg.MaxRanges); fixed != v {
			r = r.Clone(r.Context()) // the caller's headers stay as they were
			if fixed == "" {
				r.Header.Del("Range")
			} else {
				r.Header.Set("Range", fixed)
			}
		}
	}
	src := newContentReader(rc, f.Size)
	if v := r.Header.Get("Range"); strings.Contains(v, ",") {
		// Several ranges: each part's reads end with it.
		src.partEnds = partEnds(v, f.Size)
	}
	cw := &contentWriter{ResponseWriter: w, r: r, src: src}
	http.ServeContent(cw, r, "", f.CreatedAt, src)
	if err := src.failure(); err != nil && src.primeErr == nil {
		// ServeContent drops a failed read: the answer had begun, so it
		// ends short (net/http closes the connection), and the request's
		// log line says why.
		if info := infoFrom(r.Context()); info != nil {
			info.err = fmt.Errorf("httpapi: reading the content of %s: %w", id, err)
		}
	}
	return nil
}

// fixRange adjusts a Range header value before http.ServeContent sees it,
// for the two kinds of suffix range ("-N") that ServeContent would answer
// with a 206 naming no byte:
//   - of length zero (any N that ServeContent parses as 0: "-0", "-000",
//     "-+0"), which is unsatisfiable (RFC 9110 14.1.1): the range is
//     dropped; when none is left the value becomes one that ServeContent
//     finds unsatisfiable ("bytes=<size>-"), so that it answers 416 after
//     its precondition checks;
//   - of an empty file, where ServeContent would send "bytes 0--1/0": the
//     range becomes "0-", which ServeContent, like its answer to any range
//     of an empty file that it can parse, ignores (200, no bytes).
//
// A position of more digits than an int64 holds, which ServeContent
// cannot parse, is beyond the end of any content: such a last byte becomes
// the end ("0-99999999999999999999" is "0-"), such a suffix the whole
// content, and such a first byte unsatisfiable ("<size>-").
//
// The unit is case-insensitive (RFC 9110 14.1): "Bytes=" is read as
// "bytes=". A range of another unit ("items=0-4") is ignored, as RFC 9110
// 14.2 requires of a unit the server does not know: "" (no Range, the whole
// content). A malformed value is left for ServeContent to refuse (416).
// More than maxRanges ranges (commas plus one, counted without parsing):
// "" as well.
func fixRange(v string, size int64, maxRanges int) string {
	if strings.Count(v, ",")+1 > maxRanges {
		return ""
	}
	unit, specs, ok := strings.Cut(v, "=")
	switch {
	case !ok || !httpguts.ValidHeaderFieldName(unit): // a token, like a range unit
		return v
	case !strings.EqualFold(unit, "bytes"):
		return ""
	}
	var kept []string
	changed, dropped := unit != "bytes", false
	for spec := range strings.SplitSeq(specs, ",") {
		start, end, isRange := strings.Cut(textproto.TrimString(spec), "-")
		start, end = textproto.TrimString(start), textproto.TrimString(end)
		switch {
		case isRange && start == "":
			switch n, ok := suffixLength(end); {
			case ok && n == 0:
				changed, dropped = true, true
				continue
			case ok && size == 0, tooLarge(end):
				// A suffix longer than any file is the whole content.
				changed = true
				spec = "0-"
			}
		case isRange && tooLarge(start):
			// Beyond the end, unsatisfiable as any start past it is.
			changed = true
			spec = strconv.FormatInt(size, 10) + "-"
		case isRange && tooLarge(end):
			// A last byte beyond the end means the end (RFC 9110 14.1.2).
			changed = true
			spec = start + "-"
		}
		if textproto.TrimString(spec) != "" {
			kept = append(kept, spec)
		}
	}
	switch {
	case !changed:
		return v
	case len(kept) == 0 && dropped:
		return "bytes=" + strconv.FormatInt(size, 10) + "-"
	}
	return "bytes=" + strings.Join(kept, ",")
}

// partEnds returns, for the ranges of v (a Range value as fixRange left
// it), the end (exclusive) of the part that starts at each first byte, as
// http.ServeContent reads them: the greatest, when several start there.
// Ranges that ServeContent finds unsatisfiable are left out, and a value it
// cannot parse gives nil (it answers 416).
func partEnds(v string, size int64) map[int64]int64 {
	specs, ok := strings.CutPrefix(v, "bytes=")
	if !ok {
		return nil
	}
	ends := map[int64]int64{}
	for spec := range strings.SplitSeq(specs, ",") {
		spec = textproto.TrimString(spec)
		if spec == "" {
			continue
		}
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			return nil
		}
		first, last = textproto.TrimString(first), textproto.TrimString(last)
		var start, end int64
		if first == "" {
			n, err := strconv.ParseInt(last, 10, 64)
			if err != nil || n < 0 {
				return nil
			}
			start, end = size-min(n, size), size
		} else {
			var err error
			if start, err = strconv.ParseInt(first, 10, 64); err != nil || start < 0 {
				return nil
			}
			if start >= size {
				continue
			}
			end = size
			if last != "" {
				if end, err = strconv.ParseInt(last, 10, 64); err != nil || end < start {
					return nil
				}
				end = min(end+1, size)
			}
		}
		ends[start] = max(ends[start], end)
	}
	return ends
}

// tooLarge reports whether s is a number of digits too large for an
// int64, which ServeContent cannot parse: a position beyond any content.
func tooLarge(s string) bool {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return false
	}
	_, err := strconv.ParseInt(s, 10, 64)
	return errors.Is(err, strconv.ErrRange)
}

// suffixLength is the length http.ServeContent reads from end, the trimmed
// text after the '-' of a range with no first byte, and whether it accepts
// it: what strconv.ParseInt reads as a number of 0 or more ("5", "005",
// "+5"), except that ServeContent refuses a leading '-' itself.
func suffixLength(end string) (int64, bool) {
	if end == "" || end[0] == '-' {
		return 0, false
	}
	n, err := strconv.ParseInt(end, 10, 64)
	return n, err == nil && n >= 0
}

// inlineType reports whether content of type ct may be shown inline:
// images (but not SVG, which can carry scripts), video, audio and PDF.
func inlineType(ct string) bool {
	ct = strings.ToLower(ct)
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	switch {
	case ct == "image/svg+xml":
		return false
	case strings.HasPrefix(ct, "image/"), strings.HasPrefix(ct, "video/"), strings.HasPrefix(ct, "audio/"):
		return true
	}
	return ct == "application/pdf"
}

// contentDisposition is an RFC 6266 Content-Disposition for a file named
// name: an ASCII fallback filename (other characters, quotes and
// backslashes as "_") and filename* with the UTF-8 name percent-encoded
// (RFC 8187).
func contentDisposition(inline bool, name string) string {
	var b strings.Builder
	if inline {
		b.WriteString("inline")
	} else {
		b.WriteString("attachment")
	}
	b.WriteString(`; filename="`)
	for _, r := range name {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' || r == '%' {
			b.WriteByte('_')
		} else {
			b.WriteRune(r)
		}
	}
	b.WriteString(`"; filename*=UTF-8''`)
	const hexDigits = "0123456789ABCDEF"
	for i := range len(name) {
		c := name[i]
		if attrChar(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// attrChar reports whether c is an RFC 8187 attr-char.
func attrChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}

// contentWriter turns the plain-text errors of http.ServeContent into
// problems: 416 with "Content-Range: bytes */<size>", 412, and any other.
type contentWriter struct {
	http.ResponseWriter
	r         *http.Request
	src       *contentReader // its size is the content's
	swallowed bool
}

// prime has the source read the start of the content of an answer of
// status code before its header goes (see contentReader.prime): of a 200,
// or of a 206 of one range (Content-Range set), whose content is
// Content-Length bytes from the position ServeContent has sought. A 206 of
// several ranges, whose parts a goroutine of ServeContent reads, is not
// read ahead.
func (cw *contentWriter) prime(code int) error {
	h := cw.Header()
	if code != http.StatusOK && (code != http.StatusPartialContent || h.Get("Content-Range") == "") {
		return nil
	}
	n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
	if err != nil {
		return nil
	}
	if cw.r.Method == http.MethodHead {
		n = min(n, 1) // whether the object is there, not its bytes
	}
	return cw.src.prime(n)
}

func (cw *contentWriter) WriteHeader(code int) {
	if code < 400 {
		if err := cw.prime(code); err != nil {
			// Nothing was sent: the answer is the error's.
			cw.swallowed = true
			h := cw.Header()
			h.Del("Content-Range")
			h.Del("Accept-Ranges")
			writeError(cw.ResponseWriter, cw.r, fmt.Errorf("httpapi: reading the content: %w", err))
			return
		}
		cw.ResponseWriter.WriteHeader(code)
		return
	}
	cw.swallowed = true
	switch code {
	case http.StatusRequestedRangeNotSatisfiable:
		cw.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(cw.src.size, 10))
		writeProblem(cw.ResponseWriter, cw.r, code, codeRangeNotSatisfied, "the Range header is malformed or no range overlaps the content")
	case http.StatusPreconditionFailed:
		writeProblem(cw.ResponseWriter, cw.r, code, codePreconditionFailed, "a precondition (If-Match or If-Unmodified-Since) failed")
	default:
		infoFrom(cw.r.Context()).err = fmt.Errorf("httpapi: http.ServeContent answered %d", code)
		writeProblem(cw.ResponseWriter, cw.r, code, codeInternal, "internal error; quote the request id when reporting it")
	}
}

func (cw *contentWriter) Write(p []byte) (int, error) {
	if cw.swallowed {
		return len(p), nil
	}
	return cw.ResponseWriter.Write(p)
}

func (cw *contentWriter) Unwrap() http.ResponseWriter { return cw.ResponseWriter }
