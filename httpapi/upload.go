package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/auth"
)

const (
	// multipartOverhead is what a multipart body may hold beyond the
	// file's MaxSize: boundaries, part headers and small text fields.
	multipartOverhead = 1 << 20
	// maxParts bounds the parts of a multipart body.
	maxParts = 100
	// maxFieldSize bounds the text fields name and folder of a multipart
	// body (a name is at most 255 bytes and a folder 1024).
	maxFieldSize = 4 << 10
	// maxPartHead bounds what the body may hold between two parts'
	// contents: a boundary and a part's headers (and, before the first
	// part, the preamble). mime/multipart takes part headers up to 10 MiB
	// and holds them in memory; a client could hold that much per
	// request by never ending one.
	maxPartHead = 64 << 10
)

// upload serves POST /v1/files: a raw body (?name= required) or a
// multipart/form-data body with one part named file. The body streams into
// Store.Put; nothing holds it whole, and its size need not be known.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request, c *auth.Caller) error {
	// Refused before the body is read (and before any 100 Continue).
	if err := h.admit(w, h.uploads, c.Owner); err != nil {
		return err
	}
	defer h.uploads.release(c.Owner)
	q, err := queryParams(r, "name", "folder", "overwrite")
	if err != nil {
		return err
	}
	overwrite, err := boolParam(q, "overwrite")
	if err != nil {
		return err
	}
	dg, err := parseDigests(r.Header)
	if err != nil {
		return err
	}
	createOnly, err := uploadConditions(r.Header)
	if err != nil {
		return err
	}
	overwrite = overwrite && !createOnly
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return &httpError{status: http.StatusUnsupportedMediaType, code: codeUnsupportedType,
			detail: "Content-Encoding " + ce + " is not supported; send the bytes as they are"}
	}
	var mediaType string
	var params map[string]string
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mediaType, params, err = mime.ParseMediaType(ct); err != nil {
			return badRequest("the Content-Type header is malformed")
		}
	}
	isMultipart := mediaType == "multipart/form-data"
	limit := h.cfg.MaxSize
	if isMultipart {
		limit += multipartOverhead
	}
	if r.ContentLength > limit {
		// Refuse before reading anything (and before any 100 Continue).
		return &http.MaxBytesError{Limit: limit}
	}
	body := &uploadBody{r: http.MaxBytesReader(infoFrom(r.Context()).raw, r.Body, limit), head: -1}
	defer func() { h.metrics.uploadBytes.Add(float64(body.n)) }()
	opts := &filestore.PutOptions{Overwrite: overwrite, MaxSize: h.cfg.MaxSize}

	if !isMultipart {
		if !q.Has("name") {
			return badRequest("a raw upload needs the name query parameter")
		}
		if dg.content != "" && dg.file != "" && dg.content != dg.file {
			return &httpError{status: http.StatusBadRequest, code: codeDigestMismatch,
				detail: "Content-Digest and X-Content-SHA256 disagree; nothing was stored"}
		}
		opts.SHA256 = dg.file
		if opts.SHA256 == "" {
			opts.SHA256 = dg.content
		}
		if mediaType != "application/octet-stream" {
			opts.ContentType = mediaType
		}
		if r.ContentLength > 0 {
			opts.Size = r.ContentLength
		}
		return h.put(w, r, c.Owner, q.Get("folder"), q.Get("name"), body, body, opts)
	}

	if params["boundary"] == "" {
		return badRequest("a multipart/form-data body needs a boundary")
	}
	if dg.content != "" {
		body.want, body.hash = dg.content, sha256.New()
	}
	opts.SHA256 = dg.file
	r.Body = body
	mr, err := r.MultipartReader()
	if err != nil {
		return badRequest("the multipart body is malformed")
	}
	var fieldName, fieldFolder *string
	for range maxParts {
		p, err := body.nextPart(mr)
		if err == io.EOF {
			return badRequest("the multipart body has no part named file")
		}
		if err != nil {
			return body.failure(errMalformedMultipart(err))
		}
		disp, dparams, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		if err != nil || disp != "form-data" {
			return body.failure(badRequest("a multipart part lacks a valid form-data Content-Disposition"))
		}
		switch dparams["name"] {
		case "file":
			// Not p.FileName(): it would cut "../../x" to "x".
			name := dparams["filename"]
			if fieldName != nil && *fieldName != "" {
				// An empty field (a form's optional input left blank)
				// names nothing.
				name = *fieldName
			}
			if q.Has("name") {
				name = q.Get("name")
			}
			if name == "" {
				return badRequest("the file part needs a filename, or give a name field or parameter")
			}
			folder := ""
			if fieldFolder != nil {
				folder = *fieldFolder
			}
			if q.Has("folder") {
				folder = q.Get("folder")
			}
			if ct := p.Header.Get("Content-Type"); ct != "" {
				if mt, _, err := mime.ParseMediaType(ct); err == nil && mt != "application/octet-stream" {
					opts.ContentType = mt
				}
			}
			file := &multipartFile{part: p, mr: mr, body: body}
			return h.put(w, r, c.Owner, folder, name, file, body, opts)
		case "name", "folder":
			v, err := readField(p)
			if err != nil {
				return body.failure(err)
			}
			if dparams["name"] == "name" {
				fieldName = &v
			} else {
				fieldFolder = &v
			}
		default:
			if _, err := io.Copy(io.Discard, p); err != nil {
				return body.failure(errMalformedMultipart(err))
			}
		}
	}
	return badRequest("the multipart body has more than %d parts before the file", maxParts)
}

// put calls Store.Put with content and answers 201 with the File, or the
// error: the body's own failure (too large, cut off, malformed, digest)
// comes before the Store's, and a taken path is 412 under If-None-Match: *.
func (h *Handler) put(w http.ResponseWriter, r *http.Request, owner, folder, name string, content io.Reader, body *uploadBody, opts *filestore.PutOptions) error {
	f, err := h.store.Put(r.Context(), owner, folder, name, content, opts)
	h.metrics.observeUpload(f, err)
	if err != nil {
		err = body.failure(err)
		if createOnly, _ := uploadConditions(r.Header); createOnly && errors.Is(err, filestore.ErrConflict) {
			return &httpError{status: http.StatusPreconditionFailed, code: codePreconditionFailed,
				detail: "a live file already has this folder and name (If-None-Match: *); nothing was stored", err: err}
		}
		return err
	}
	w.Header().Set("Location", "/v1/files/"+f.ID)
	writeJSON(w, r, http.StatusCreated, fileJSON(f))
	return nil
}

// readField reads a small multipart text field.
func readField(p *multipart.Part) (string, error) {
	b, err := io.ReadAll(io.LimitReader(p, maxFieldSize+1))
	if err != nil {
		return "", errMalformedMultipart(err)
	}
	if len(b) > maxFieldSize {
		return "", &httpError{status: http.StatusBadRequest, code: codeInvalidName,
			detail: "the name and folder fields are limited to 4 KiB"}
	}
	return string(b), nil
}

func errMalformedMultipart(err error) error {
	return &httpError{status: http.StatusBadRequest, code: codeBadRequest, detail: "the multipart body is malformed", err: err}
}

// uploadBody is an upload's request body under http.MaxBytesReader. It
// counts bytes, remembers the first error it gave, and for a multipart
// body with Content-Digest hashes the whole body.
type uploadBody struct {
	r    io.ReadCloser
	n    int64
	err  error     // first read error other than io.EOF, or a failure set by a reader above
	hash hash.Hash // nil unless the whole body is checked against want
	want string
	// head is how much more the body may give while a multipart part's
	// headers are read (see nextPart); negative when not bounded.
	head int64
}

// nextPart is mr.NextPart, reading at most maxPartHead bytes of the body:
// beyond that the body fails with a 400 that names the limit.
func (b *uploadBody) nextPart(mr *multipart.Reader) (*multipart.Part, error) {
	b.head = maxPartHead
	defer func() { b.head = -1 }()
	return mr.NextPart()
}

func (b *uploadBody) Read(p []byte) (int, error) {
	if b.head == 0 {
		if b.err == nil {
			b.err = badRequest("a multipart part's headers (or the preamble) are larger than %d KiB; nothing was stored", maxPartHead>>10)
		}
		return 0, b.err
	}
	if b.head > 0 && int64(len(p)) > b.head {
		p = p[:b.head]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.head > 0 {
		b.head -= int64(n)
	}
	if b.hash != nil {
		b.hash.Write(p[:n])
	}
	if err != nil && err != io.EOF {
		if b.err == nil {
			b.err = &bodyError{err: err}
		}
		// Never a bare io.ErrUnexpectedEOF, which io.ReadFull (as a Put
		// may use) cannot tell from a short last chunk.
		return n, b.err
	}
	return n, err
}

// bodyError is a failure to read the request body.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "httpapi: reading the request body: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

func (b *uploadBody) Close() error { return b.r.Close() }

// failure is the error to answer an upload that failed with err: what went
// wrong with the body itself, when something did, else err.
func (b *uploadBody) failure(err error) error {
	switch cause := b.err; {
	case cause == nil:
		return err
	case errors.As(cause, new(*http.MaxBytesError)):
		return cause
	case errors.As(cause, new(*httpError)):
		return cause
	case errors.Is(cause, os.ErrDeadlineExceeded):
		return &httpError{status: http.StatusBadRequest, code: codeBadRequest,
			detail: "the request body stalled; nothing was stored", err: cause}
	case errors.Is(cause, net.ErrClosed):
		// This side closed the connection: the server's shutdown
		// deadline cut the upload, not the client.
		return &httpError{status: http.StatusServiceUnavailable, code: codeUnavailable,
			detail: "the server is shutting down; nothing was stored, try again", err: cause}
	default:
		return &httpError{status: http.StatusBadRequest, code: codeBadRequest,
			detail: "the request body ended early or could not be read; nothing was stored", err: cause}
	}
}

// multipartFile reads the file part of a multipart upload. Before it
// reports the end of the file it checks the rest of the body (no second
// file part, well-formed to the final boundary, the whole-body digest), so
// that Put fails, and stores nothing, when the body turns out bad.
type multipartFile struct {
	part *multipart.Part
	mr   *multipart.Reader
	body *uploadBody
	err  error // sticky, once the part has ended
}

func (m *multipartFile) Read(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	n, err := m.part.Read(p)
	if err == io.EOF {
		err = m.checkTail()
	}
	if err != nil {
		if err != io.EOF {
			if m.body.err == nil {
				m.body.err = &bodyError{err: err}
			}
			err = m.body.err
		}
		m.err = err
	}
	return n, err
}

// checkTail reads the parts after the file's and returns io.EOF when the
// body is good.
func (m *multipartFile) checkTail() error {
	for range maxParts {
		p, err := m.body.nextPart(m.mr)
		if err == io.EOF {
			return m.checkDigest()
		}
		if err != nil {
			return errMalformedMultipart(err)
		}
		if p.FormName() == "file" {
			return badRequest("the multipart body has more than one part named file; nothing was stored")
		}
		if _, err := io.Copy(io.Discard, p); err != nil {
			return errMalformedMultipart(err)
		}
	}
	return badRequest("the multipart body has more than %d parts", maxParts)
}

// checkDigest reads the body's epilogue and compares the whole body's
// SHA-256 with Content-Digest, when one was given.
func (m *multipartFile) checkDigest() error {
	b := m.body
	if b.hash == nil {
		return io.EOF
	}
	if _, err := io.Copy(io.Discard, b); err != nil {
		return err
	}
	if hex.EncodeToString(b.hash.Sum(nil)) != b.want {
		return &httpError{status: http.StatusBadRequest, code: codeDigestMismatch,
			detail: "the body's SHA-256 differs from Content-Digest; nothing was stored"}
	}
	return io.EOF
}
