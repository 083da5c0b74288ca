package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/auth"
)

// fileID returns the {id} path value. An id that cannot be one (empty,
// over 128 bytes, or not [0-9A-Za-z_-]) answers like any unknown id: 404.
func fileID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if id == "" || len(id) > 128 {
		return "", filestore.ErrNotFound
	}
	for i := range len(id) {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return "", filestore.ErrNotFound
		}
	}
	return id, nil
}

// fileJSON is a File as the contract shows it: times in UTC.
func fileJSON(f *filestore.File) *filestore.File {
	c := *f
	c.CreatedAt = c.CreatedAt.UTC()
	c.UpdatedAt = c.UpdatedAt.UTC()
	if c.DeletedAt != nil {
		t := c.DeletedAt.UTC()
		c.DeletedAt = &t
	}
	if c.Scan.ScannedAt != nil {
		t := c.Scan.ScannedAt.UTC()
		c.Scan.ScannedAt = &t
	}
	return &c
}

// stat serves GET /v1/files/{id}.
func (h *Handler) stat(w http.ResponseWriter, r *http.Request, c *auth.Caller) error {
	id, err := fileID(r)
	if err != nil {
		return err
	}
	f, err := h.store.Stat(r.Context(), c.Owner, id)
	if err != nil {
		return err
	}
	writeJSON(w, r, http.StatusOK, fileJSON(f))
	return nil
}

// listBody is the answer of GET /v1/files.
type listBody struct {
	Files      []*filestore.File `json:"files"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// list serves GET /v1/files.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, c *auth.Caller) error {
	q, err := queryParams(r, "folder", "q", "cursor", "recursive", "trash", "limit")
	if err != nil {
		return err
	}
	opts := &filestore.ListOptions{
		Folder: q.Get("folder"),
		Query:  q.Get("q"),
		Cursor: q.Get("cursor"),
		Limit:  100,
	}
	if opts.Recursive, err = boolParam(q, "recursive"); err != nil {
		return err
	}
	if opts.Trash, err = boolParam(q, "trash"); err != nil {
		return err
	}
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > 1000 {
			return badRequest("limit must be an integer from 1 to 1000")
		}
		opts.Limit = n
	}
	page, err := h.store.List(r.Context(), c.Owner, opts)
	if err != nil {
		return err
	}
	body := listBody{Files: make([]*filestore.File, 0, len(page.Files)), NextCursor: page.NextCursor}
	for _, f := range page.Files {
		body.Files = append(body.Files, fileJSON(f))
	}
	writeJSON(w, r, http.StatusOK, body)
	return nil
}

// maxJSONBody bounds the JSON body of PATCH.
const maxJSONBody = 64 << 10

// update serves PATCH /v1/files/{id}: a JSON body (see parseUpdate),
// whatever its Content-Type (api.md names none, and clients such as curl -d
// send a form's), under the file's preconditions (see checkPreconditions).
func (h *Handler) update(w http.ResponseWriter, r *http.Request, c *auth.Caller) error {
	id, err := fileID(r)
	if err != nil {
		return err
	}
	// Before the body is looked at (RFC 9110 13.2.1).
	if err := h.checkPreconditions(r, c.Owner, id, true); err != nil {
		return err
	}
	raw, err := io.ReadAll(http.MaxBytesReader(infoFrom(r.Context()).raw, r.Body, maxJSONBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return badRequest("the JSON body is larger than %d bytes", maxJSONBody)
		}
		return badRequest("the request body could not be read")
	}
	u, err := parseUpdate(raw)
	if err != nil {
		return err
	}
	f, err := h.store.Update(r.Context(), c.Owner, id, u)
	if err != nil {
		return err
	}
	writeJSON(w, r, http.StatusOK, fileJSON(f))
	return nil
}

// parseUpdate reads the body of PATCH: one JSON object whose members are
// "name" and "folder", spelled exactly so, each at most once, each a
// string or null (null is absent); anything else is 400 bad_request, as is
// an object with neither. encoding/json alone would match keys whatever
// their case, let a repeated key win and turn bytes that are not UTF-8, or
// an escaped surrogate that is not half of a pair, into U+FFFD: such a
// name or folder is 400 invalid_name here, as on upload, never stored
// rewritten. A U+FFFD the body holds itself is kept.
func parseUpdate(raw []byte) (filestore.Update, error) {
	var u filestore.Update
	errShape := badRequest(`the body must be a JSON object {"name": "...", "folder": "..."}, each member at most once`)
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return u, errShape
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return u, errShape
		}
		key, _ := t.(string)
		var field **string
		switch key {
		case "name":
			field = &u.Name
		case "folder":
			field = &u.Folder
		default:
			return u, errShape
		}
		if seen[key] {
			return u, errShape
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return u, errShape
		}
		switch {
		case string(v) == "null":
			continue
		case v[0] != '"':
			return u, errShape
		case !validJSONString(v):
			return u, &httpError{status: http.StatusBadRequest, code: codeInvalidName,
				detail: "the " + key + " is not valid Unicode (UTF-8, with no unpaired surrogate escape)"}
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return u, errShape
		}
		*field = &s
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return u, errShape
	}
	if _, err := dec.Token(); err != io.EOF {
		return u, badRequest("the body must hold one JSON object")
	}
	if u.Name == nil && u.Folder == nil {
		return u, badRequest("give name, folder or both")
	}
	return u, nil
}

// validJSONString reports whether the JSON string literal s (quotes
// included) is valid Unicode: its bytes are UTF-8, and each \u escape of a
// surrogate is a high one followed by an escaped low one.
func validJSONString(s []byte) bool {
	if !utf8.Valid(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if i == len(s) || s[i] != 'u' {
			continue
		}
		r := hexRune(s[i+1:])
		i += 4
		if !utf16.IsSurrogate(r) {
			continue
		}
		if i+2 >= len(s) || s[i+1] != '\\' || s[i+2] != 'u' ||
			utf16.DecodeRune(r, hexRune(s[i+3:])) == utf8.RuneError {
			return false
		}
		i += 6
	}
	return true
}

// hexRune reads the 4 hex digits at the start of b, or returns -1.
func hexRune(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 16)
	if err != nil {
		return -1
	}
	return rune(n)
}

// delete serves DELETE /v1/files/{id}[?permanent=true], under the file's
// preconditions (see checkPreconditions).
func (h *Handler) delete(w http.ResponseWriter, r *http.Request, c *auth.Caller) error {
	id, err := fileID(r)
	if err != nil {
		return err
	}
	q, err := queryParams(r, "permanent")
	if err != nil {
		return err
	}
	permanent, err := boolParam(q, "permanent")
	if err != nil {
		return err
	}
	if err := h.checkPreconditions(r, c.Owner, id, false); err != nil {
		return err
	}
	if permanent {
		err = h.store.Purge(r.Context(), c.Owner, id)
	} else {
		err = h.store.Delete(r.Context(), c.Owner, id)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// restore serves POST /v1/files/{id}/restore, under the file's
// preconditions (see checkPreconditions).
func (h *Handler) restore(w http.ResponseWriter, r *http.Request, c *auth.Caller) error {
	id, err := fileID(r)
	if err != nil {
		return err
	}
	if err := h.checkPreconditions(r, c.Owner, id, false); err != nil {
		return err
	}
	f, err := h.store.Restore(r.Context(), c.Owner, id)
	if err != nil {
		return err
	}
	writeJSON(w, r, http.StatusOK, fileJSON(f))
	return nil
}
