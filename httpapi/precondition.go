package httpapi

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/filestore-go/filestore"
)

// joinConditionals returns r, or when If-Match or If-None-Match came as
// several field lines a clone of r where each is one line, the values
// joined with ", ": these fields are lists (RFC 9110 5.3), of which
// http.ServeContent would read only the first line.
func joinConditionals(r *http.Request) *http.Request {
	clone := r
	for _, name := range []string{"If-Match", "If-None-Match"} {
		if vs := r.Header.Values(name); len(vs) > 1 {
			if clone == r {
				clone = r.Clone(r.Context()) // the caller's headers stay as they were
			}
			clone.Header.Set(name, strings.Join(vs, ", "))
		}
	}
	return clone
}

// errPreconditionFailed is the 412 of a write whose If-Match,
// If-None-Match or If-Unmodified-Since does not hold.
func errPreconditionFailed() *httpError {
	return &httpError{status: http.StatusPreconditionFailed, code: codePreconditionFailed,
		detail: "a precondition (If-Match, If-None-Match or If-Unmodified-Since) failed; nothing was changed"}
}

// checkPreconditions evaluates the If-Match, If-None-Match and
// If-Unmodified-Since of r (RFC 9110 13.2.2, as http.ServeContent does for
// downloads) against owner's file id before a route changes it: nil when
// they hold or r has none (then the Store is not asked), a 412
// precondition_failed httpError when they do not. The file's ETag is the
// quoted SHA-256 of its content and its Last-Modified its creation time, as
// downloads give them; neither ever changes for an id (stored bytes are
// immutable, an overwrite makes a new id), so what was checked still holds
// when the change runs. A trashed file has them too, as GET /v1/files/{id}
// still shows it: If-Match compares with its ETag ("*" matches it), unless
// live is set, for a route that changes live files only, where a trashed
// file is not found as the route itself would answer. An unknown or
// foreign id is ErrNotFound, whatever the preconditions (RFC 9110 13.2.1:
// they apply only where the answer would otherwise be 2xx); the Store's
// other errors (ErrUnavailable, r's context's) are returned as they
// are.
func (h *Handler) checkPreconditions(r *http.Request, owner, id string, live bool) error {
	im := strings.Join(r.Header.Values("If-Match"), ", ")
	inm := strings.Join(r.Header.Values("If-None-Match"), ", ")
	ius := r.Header.Get("If-Unmodified-Since")
	if im == "" && inm == "" && ius == "" {
		return nil
	}
	f, err := h.store.Stat(r.Context(), owner, id)
	if err != nil {
		return err
	}
	if live && f.DeletedAt != nil {
		return fmt.Errorf("httpapi: %s is in the trash: %w", id, filestore.ErrNotFound)
	}
	etag := `"` + f.SHA256 + `"`
	switch {
	case im != "":
		if !etagMatch(im, etag, false) {
			return errPreconditionFailed()
		}
	case ius != "":
		// A malformed date is ignored (RFC 9110 13.1.4).
		if t, err := http.ParseTime(ius); err == nil && f.CreatedAt.Truncate(time.Second).After(t) {
			return errPreconditionFailed()
		}
	}
	if inm != "" && etagMatch(inm, etag, true) {
		return errPreconditionFailed()
	}
	return nil
}

// uploadConditions reads the preconditions of an upload. If-None-Match: *
// (createOnly) asks that no live file have the path: the upload is made
// without overwrite, so that the Store refuses a taken path both before
// reading the body and at its commit, and that refusal is answered 412 (see
// put). If-Match, If-None-Match with entity tags and If-Unmodified-Since
// are about the live file at the path, which the Store cannot check and
// replace in one step: they are 400, not ignored.
func uploadConditions(hdr http.Header) (createOnly bool, err error) {
	inm := textproto.TrimString(strings.Join(hdr.Values("If-None-Match"), ", "))
	switch {
	case strings.Join(hdr.Values("If-Match"), "") != "", hdr.Get("If-Unmodified-Since") != "":
		return false, badRequest("an upload takes no If-Match or If-Unmodified-Since: the server cannot check the file at the path and replace it in one step; send If-None-Match: * to create only, or check by id (PATCH, DELETE) with If-Match")
	case inm == "*":
		return true, nil
	case inm != "":
		return false, badRequest("an upload's If-None-Match may only be *: create the file only if no live file has its path")
	}
	return false, nil
}

// etagMatch reports whether list, the value of an If-Match (weak false:
// strong comparison) or If-None-Match (weak true: weak comparison), is "*"
// or holds etag, a strong entity tag. Like http.ServeContent, it reads the
// list up to its first malformed member.
func etagMatch(list, etag string, weak bool) bool {
	for {
		list = textproto.TrimString(list)
		switch {
		case list == "":
			return false
		case list[0] == ',':
			list = list[1:]
			continue
		case list[0] == '*':
			return true
		}
		tag, rest, ok := scanETag(list)
		if !ok {
			return false
		}
		if tag == etag || weak && strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
		list = rest
	}
}

// scanETag reads the entity tag (RFC 9110 8.8.3) at the start of s and
// returns it with what follows, or ok false when s starts with none.
func scanETag(s string) (tag, rest string, ok bool) {
	start := 0
	if strings.HasPrefix(s, "W/") {
		start = 2
	}
	if len(s)-start < 2 || s[start] != '"' {
		return "", "", false
	}
	for i := start + 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return s[:i+1], s[i+1:], true
		case c == 0x21 || c >= 0x23 && c <= 0x7e || c >= 0x80: // etagc
		default:
			return "", "", false
		}
	}
	return "", "", false
}
