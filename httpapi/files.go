package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"

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

// boolParam parses the query parameter name: absent is false; "true",
// "false", "1", "0" (and the other strconv.ParseBool spellings) are
// accepted; anything else is 400.
func boolParam(q url.Values, name string) (bool, error) {
	if !q.Has(name) {
		return false, nil
	}
	v, err := strconv.ParseBool(q.Get(name))
	if err != nil {
		return false, badRequest("the %s parameter must be true or false", name)
	}
	return v, nil
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
	q := r.URL.Query()
	opts := &filestore.ListOptions{
		Folder: q.Get("folder"),
		Query:  q.Get("q"),
		Cursor: q.Get("cursor"),
		Limit:  100,
	}
	var err error
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

// updateBody is the body of PATCH /v1/files/{id}; a null field is absent.
type updateBody struct {
	Name   *string `json:"name"`
	Folder *string `json:"folder"`
}

// update serves PATCH /v1/files/{id}.
func (h *Handler) update(w http.ResponseWriter, r *http.Request, c *auth.Caller) error {
	id, err := fileID(r)
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(http.MaxBytesReader(infoFrom(r.Context()).raw, r.Body, maxJSONBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return badRequest("the JSON body is larger than %d bytes", maxJSONBody)
		}
		return badRequest("the request body could not be read")
	}
	var u updateBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		return badRequest(`the body must be a JSON object {"name": "...", "folder": "..."}`)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("the body must hold one JSON object")
	}
	if u.Name == nil && u.Folder == nil {
		return badRequest("give name, folder or both")
	}
	f, err := h.store.Update(r.Context(), c.Owner, id, filestore.Update{Name: u.Name, Folder: u.Folder})
	if err != nil {
		return err
	}
	writeJSON(w, r, http.StatusOK, fileJSON(f))
	return nil
}

// delete serves DELETE /v1/files/{id}[?permanent=true].
func (h *Handler) delete(w http.ResponseWriter, r *http.Request, c *auth.Caller) error {
	id, err := fileID(r)
	if err != nil {
		return err
	}
	permanent, err := boolParam(r.URL.Query(), "permanent")
	if err != nil {
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

// restore serves POST /v1/files/{id}/restore.
func (h *Handler) restore(w http.ResponseWriter, r *http.Request, c *auth.Caller) error {
	id, err := fileID(r)
	if err != nil {
		return err
	}
	f, err := h.store.Restore(r.Context(), c.Owner, id)
	if err != nil {
		return err
	}
	writeJSON(w, r, http.StatusOK, fileJSON(f))
	return nil
}
