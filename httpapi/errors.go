package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/filestore-go/filestore"
)

// Problem codes of the contract (api.md, "Errors").
const (
	codeBadRequest         = "bad_request"
	codeInvalidName        = "invalid_name"
	codeDigestMismatch     = "digest_mismatch"
	codeUnauthorized       = "unauthorized"
	codeForbidden          = "forbidden"
	codeNotFound           = "not_found"
	codeMethodNotAllowed   = "method_not_allowed"
	codeConflict           = "conflict"
	codePreconditionFailed = "precondition_failed"
	codeTooLarge           = "too_large"
	codeUnsupportedType    = "unsupported_type"
	codeTypeMismatch       = "type_mismatch"
	codeRangeNotSatisfied  = "range_not_satisfiable"
	codeInfected           = "infected"
	codeRateLimited        = "rate_limited"
	codeInternal           = "internal"
	codeScannerUnavailable = "scanner_unavailable"
	codeUnavailable        = "unavailable"
	codeClientClosed       = "client_closed"
)

// statusClientClosed is logged (and counted) for requests whose client went
// away before the answer; it is never sent (see writeError).
const statusClientClosed = 499

// httpError is an error the handlers make themselves, with its status,
// code and a detail that is safe to show the client.
type httpError struct {
	status int
	code   string
	detail string
	// err is the cause, for the log only.
	err error
}

func (e *httpError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%s: %s: %v", e.code, e.detail, e.err)
	}
	return e.code + ": " + e.detail
}

func (e *httpError) Unwrap() error { return e.err }

// badRequest is a 400 bad_request with detail.
func badRequest(format string, args ...any) *httpError {
	return &httpError{status: http.StatusBadRequest, code: codeBadRequest, detail: fmt.Sprintf(format, args...)}
}

// errorClass is one row of the error table.
type errorClass struct {
	err    error
	status int
	code   string
	detail string
}

// errorTable maps the Store's sentinel errors (and context errors) to
// statuses and codes. It is the only place that does so; the first row
// whose error matches (errors.Is) wins.
func errorTable() [16]errorClass {
	return [...]errorClass{
		{filestore.ErrNotFound, http.StatusNotFound, codeNotFound, "no such file"},
		{filestore.ErrConflict, http.StatusConflict, codeConflict, "a live file already has this folder and name"},
		{filestore.ErrInvalidName, http.StatusBadRequest, codeInvalidName, "the name or folder breaks the naming rules"},
		{filestore.ErrInvalidArgument, http.StatusBadRequest, codeBadRequest, "a parameter is malformed"},
		{filestore.ErrDigestMismatch, http.StatusBadRequest, codeDigestMismatch, "the content's SHA-256 differs from the one the request gave; nothing was stored"},
		{filestore.ErrTooLarge, http.StatusRequestEntityTooLarge, codeTooLarge, "the content is larger than the maximum size; nothing was stored"},
		{filestore.ErrTypeNotAllowed, http.StatusUnsupportedMediaType, codeUnsupportedType, "this content type is not allowed; nothing was stored"},
		{filestore.ErrTypeMismatch, http.StatusUnsupportedMediaType, codeTypeMismatch, "the content contradicts the name's extension or the declared type; nothing was stored"},
		{filestore.ErrInfected, http.StatusUnprocessableEntity, codeInfected, "the scanner found malware; nothing was stored"},
		{filestore.ErrScannerUnavailable, http.StatusServiceUnavailable, codeScannerUnavailable, "the virus scanner is unavailable; nothing was stored, try again later"},
		{filestore.ErrStagingExpired, http.StatusServiceUnavailable, codeUnavailable, "the upload took longer than the server keeps unfinished uploads; nothing was stored, send it again"},
		{filestore.ErrUnavailable, http.StatusServiceUnavailable, codeUnavailable, "a dependency is unavailable, try again later"},
		{filestore.ErrClosed, http.StatusServiceUnavailable, codeUnavailable, "the server is shutting down, try again later"},
		{context.DeadlineExceeded, http.StatusServiceUnavailable, codeUnavailable, "the request took too long, try again later"},
		{context.Canceled, statusClientClosed, codeClientClosed, "the client closed the request"},
		{errInternal, http.StatusInternalServerError, codeInternal, "internal error; quote the request id when reporting it"},
	}
}

// errInternal is the table's last row: anything that matches nothing else.
var errInternal = errors.New("httpapi: internal error")

// classify maps err to the status, code and client-safe detail of its
// problem answer.
func classify(err error) errorClass {
	if he, ok := errors.AsType[*httpError](err); ok {
		return errorClass{err: err, status: he.status, code: he.code, detail: he.detail}
	}
	if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return errorClass{err: err, status: http.StatusRequestEntityTooLarge, code: codeTooLarge,
			detail: fmt.Sprintf("the request body is larger than %d bytes; nothing was stored", mbe.Limit)}
	}
	table := errorTable()
	for _, c := range table[:len(table)-1] {
		if errors.Is(err, c.err) {
			if ie, ok := errors.AsType[*filestore.InfectedError](err); ok && ie.Signature != "" {
				c.detail = fmt.Sprintf("the scanner found malware (%s); nothing was stored", ie.Signature)
			}
			if c.err == filestore.ErrScannerUnavailable && errors.Is(err, filestore.ErrScannerBusy) {
				c.detail = "the virus scanner is busy; nothing was stored, try again later"
			}
			if c.err == filestore.ErrTooLarge && errors.Is(err, filestore.ErrScanLimit) {
				c.detail = "the content is larger than the virus scanner accepts; nothing was stored"
			}
			return c
		}
	}
	return table[len(table)-1]
}
