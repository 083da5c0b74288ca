package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
)

// restStore is a filestore.Store that does each operation through the
// REST API, as a client would, so that the model of the Store can check
// the API's answers: what holds for the library must hold over HTTP.
// Owners are the subjects of their tokens; Collect and Stats use an admin
// token. It checks, besides, what the API adds: a download's ETag is the
// file's digest, and an error is a problem whose code matches its status.
type restStore struct {
	e *env

	mu     sync.Mutex
	tokens map[string]string // by owner
	puts   int               // uploads sent: every other one is multipart
}

var _ filestore.Store = (*restStore)(nil)

func (s *restStore) token(owner string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens[owner] == "" {
		s.tokens[owner] = s.e.token(owner)
	}
	return s.tokens[owner]
}

// call sends a request and returns the answer, its body read, or the
// error it stands for.
func (s *restStore) call(ctx context.Context, method, path, tok string, body io.Reader, size int64, header ...string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.e.srv.URL+path, body)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.ContentLength = size // -1: chunked
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := s.e.srv.Client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, err
	}
	if res.StatusCode >= 400 {
		return res, b, problemError(res, b)
	}
	return res, b, nil
}

// problemError is the Store's error for a problem answer.
func problemError(res *http.Response, body []byte) error {
	var p struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Status != res.StatusCode {
		return fmt.Errorf("status %d with a body that is not its problem: %q", res.StatusCode, body)
	}
	sentinels := map[string]error{
		"400 invalid_name": filestore.ErrInvalidName, "400 digest_mismatch": filestore.ErrDigestMismatch,
		"400 bad_request": filestore.ErrInvalidArgument, "404 not_found": filestore.ErrNotFound,
		"409 conflict": filestore.ErrConflict, "413 too_large": filestore.ErrTooLarge,
		"415 unsupported_type": filestore.ErrTypeNotAllowed, "415 type_mismatch": filestore.ErrTypeMismatch,
		"422 infected": filestore.ErrInfected, "503 scanner_unavailable": filestore.ErrScannerUnavailable,
		"503 unavailable": filestore.ErrUnavailable,
	}
	if err := sentinels[strconv.Itoa(res.StatusCode)+" "+p.Code]; err != nil {
		return fmt.Errorf("%w (%d %s: %s)", err, res.StatusCode, p.Code, p.Detail)
	}
	return fmt.Errorf("status %d, code %q: %s", res.StatusCode, p.Code, p.Detail)
}

// restFile decodes a File answer of owner.
func restFile(owner string, body []byte) (*filestore.File, error) {
	var f filestore.File
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, fmt.Errorf("decode file %q: %w", body, err)
	}
	f.Owner = owner
	return &f, nil
}

// Put uploads r as a raw body, or, every other time, as a multipart
// form. A raw body's declared size goes as Content-Length when it is r's
// length (HTTP cannot declare another); MaxSize has no REST form (the
// server's --max-size applies to all) and is refused.
func (s *restStore) Put(ctx context.Context, owner, folder, name string, r io.Reader, opts *filestore.PutOptions) (*filestore.File, error) {
	if opts == nil {
		opts = &filestore.PutOptions{}
	}
	if opts.MaxSize > 0 {
		return nil, fmt.Errorf("restStore: PutOptions.MaxSize: %w", errors.ErrUnsupported)
	}
	q := url.Values{"name": {name}, "folder": {folder}}
	if opts.Overwrite {
		q.Set("overwrite", "true")
	}
	size := int64(-1)
	if br, ok := r.(*bytes.Reader); ok && opts.Size > 0 && int64(br.Len()) == opts.Size {
		size = opts.Size
	}
	var header []string
	s.mu.Lock()
	s.puts++
	form := s.puts%2 == 0
	s.mu.Unlock()
	if form {
		// The other form of the contract: the name as the file part's
		// filename, the folder as a text field before it, streamed.
		q = url.Values{}
		if opts.Overwrite {
			q.Set("overwrite", "true")
		}
		var contentType string
		r, contentType = multipartStream(folder, name, r)
		header, size = []string{"Content-Type", contentType}, -1
	}
	if opts.SHA256 != "" {
		header = append(header, "X-Content-SHA256", opts.SHA256)
	}
	if opts.ContentType != "" && !form {
		header = append(header, "Content-Type", opts.ContentType)
	}
	res, b, err := s.call(ctx, http.MethodPost, "/v1/files?"+q.Encode(), s.token(owner), r, size, header...)
	if err != nil {
		return nil, err
	}
	f, err := restFile(owner, b)
	if err == nil && (res.StatusCode != http.StatusCreated || res.Header.Get("Location") != "/v1/files/"+f.ID) {
		err = fmt.Errorf("upload answered %d, Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	return f, err
}

// multipartStream streams a multipart/form-data body of a folder field and
// a file part named name with r's content, and returns it with its
// Content-Type.
func multipartStream(folder, name string, r io.Reader) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := mw.WriteField("folder", folder)
		if err == nil {
			var part io.Writer
			if part, err = mw.CreateFormFile("file", name); err == nil {
				if _, err = io.Copy(part, r); err == nil {
					err = mw.Close()
				}
			}
		}
		pw.CloseWithError(err)
	}()
	return pr, mw.FormDataContentType()
}

// Get reads the File, then the content, whose ETag must be the digest.
func (s *restStore) Get(ctx context.Context, owner, id string) (*filestore.File, io.ReadSeekCloser, error) {
	f, err := s.Stat(ctx, owner, id)
	if err != nil {
		return nil, nil, err
	}
	res, b, err := s.call(ctx, http.MethodGet, "/v1/files/"+url.PathEscape(id)+"/content", s.token(owner), nil, 0)
	if err != nil {
		return nil, nil, err
	}
	if etag := res.Header.Get("ETag"); etag != `"`+f.SHA256+`"` {
		return nil, nil, fmt.Errorf("content of %s: ETag %s, want the digest %s", id, etag, f.SHA256)
	}
	return f, nopCloser{bytes.NewReader(b)}, nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func (s *restStore) Stat(ctx context.Context, owner, id string) (*filestore.File, error) {
	_, b, err := s.call(ctx, http.MethodGet, "/v1/files/"+url.PathEscape(id), s.token(owner), nil, 0)
	if err != nil {
		return nil, err
	}
	return restFile(owner, b)
}

func (s *restStore) List(ctx context.Context, owner string, opts *filestore.ListOptions) (*filestore.Page, error) {
	if opts == nil {
		opts = &filestore.ListOptions{}
	}
	q := url.Values{"folder": {opts.Folder}, "q": {opts.Query}, "cursor": {opts.Cursor}}
	if opts.Recursive {
		q.Set("recursive", "true")
	}
	if opts.Trash {
		q.Set("trash", "true")
	}
	if opts.Limit != 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	_, b, err := s.call(ctx, http.MethodGet, "/v1/files?"+q.Encode(), s.token(owner), nil, 0)
	if err != nil {
		return nil, err
	}
	var page struct {
		Files      []*filestore.File `json:"files"`
		NextCursor string            `json:"next_cursor"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		return nil, fmt.Errorf("decode page %q: %w", b, err)
	}
	for _, f := range page.Files {
		f.Owner = owner
	}
	return &filestore.Page{Files: page.Files, NextCursor: page.NextCursor}, nil
}

func (s *restStore) Update(ctx context.Context, owner, id string, u filestore.Update) (*filestore.File, error) {
	body := map[string]string{}
	if u.Name != nil {
		body["name"] = *u.Name
	}
	if u.Folder != nil {
		body["folder"] = *u.Folder
	}
	j, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	_, b, err := s.call(ctx, http.MethodPatch, "/v1/files/"+url.PathEscape(id), s.token(owner), bytes.NewReader(j), int64(len(j)),
		"Content-Type", "application/json")
	if err != nil {
		return nil, err
	}
	return restFile(owner, b)
}

func (s *restStore) Delete(ctx context.Context, owner, id string) error {
	return s.noContent(ctx, "/v1/files/"+url.PathEscape(id), owner)
}

func (s *restStore) Purge(ctx context.Context, owner, id string) error {
	return s.noContent(ctx, "/v1/files/"+url.PathEscape(id)+"?permanent=true", owner)
}

// noContent sends a DELETE that must answer 204.
func (s *restStore) noContent(ctx context.Context, path, owner string) error {
	res, b, err := s.call(ctx, http.MethodDelete, path, s.token(owner), nil, 0)
	if err == nil && (res.StatusCode != http.StatusNoContent || len(b) != 0) {
		err = fmt.Errorf("DELETE %s answered %d with %d bytes, want 204", path, res.StatusCode, len(b))
	}
	return err
}

func (s *restStore) Restore(ctx context.Context, owner, id string) (*filestore.File, error) {
	_, b, err := s.call(ctx, http.MethodPost, "/v1/files/"+url.PathEscape(id)+"/restore", s.token(owner), nil, 0)
	if err != nil {
		return nil, err
	}
	return restFile(owner, b)
}

// Collect runs POST /v1/admin/gc, which takes no options.
func (s *restStore) Collect(ctx context.Context, opts *filestore.CollectOptions) (*filestore.CollectResult, error) {
	if opts != nil && *opts != (filestore.CollectOptions{}) {
		return nil, fmt.Errorf("restStore: CollectOptions: %w", errors.ErrUnsupported)
	}
	_, b, err := s.call(ctx, http.MethodPost, "/v1/admin/gc", s.token("admin"), nil, 0)
	if err != nil {
		return nil, err
	}
	var res filestore.CollectResult
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("decode gc %q: %w", b, err)
	}
	return &res, nil
}

func (s *restStore) Stats(ctx context.Context) (*filestore.Stats, error) {
	_, b, err := s.call(ctx, http.MethodGet, "/v1/admin/stats", s.token("admin"), nil, 0)
	if err != nil {
		return nil, err
	}
	var st filestore.Stats
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("decode stats %q: %w", b, err)
	}
	return &st, nil
}

func (s *restStore) Ping(ctx context.Context) error {
	_, _, err := s.call(ctx, http.MethodGet, "/readyz", "", nil, 0)
	return err
}

// Close does nothing: the env closes the server and the Store.
func (s *restStore) Close() error { return nil }

// TestModelOverHTTP runs the model of the Store (filestoretest.RunModel)
// through the REST API: every answer of the API to a random sequence of
// uploads, reads, renames, moves, deletes, restores, purges, listings
// and collections must be what the library's model says, the totals of
// /v1/admin/stats after every step included; and four sequences at once,
// on owners of their own.
func TestModelOverHTTP(t *testing.T) {
	tests := []filestoretest.ModelOptions{
		{Seed: 1, NoMaxSize: true},
		{Seed: 2, NoMaxSize: true},
		{Seed: 3, NoMaxSize: true},
		{Seed: 100, NoMaxSize: true, Workers: 4},
	}
	for _, opts := range tests {
		t.Run(fmt.Sprintf("seed=%d/workers=%d", opts.Seed, opts.Workers), func(t *testing.T) {
			e := newEnv(t, envOptions{})
			st := &restStore{e: e, tokens: map[string]string{"admin": e.token("admin", "admin")}}
			filestoretest.RunModel(t, st, opts)
		})
	}
}
