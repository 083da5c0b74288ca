package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// problemType is the media type of every error answer (RFC 9457).
const problemType = "application/problem+json"

// Problem is the body of every error answer: an RFC 9457 problem details
// object (media type application/problem+json) with the contract's
// extension members code and request_id. Clients may decode errors into
// it; servers that answer outside the Handler (filestored refusing a
// connection) write it so that every error has one form.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
}

// writeError answers r with the problem err maps to (see classify) and
// records err for the request log. When the client has gone (its request's
// context was cancelled, which net/http also does when the client only
// shuts down its sending side), nothing is written: the request is logged
// as 499 and its connection closed without an answer, since 499 is no
// HTTP status a client may be sent.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	c := classify(err)
	info := infoFrom(r.Context())
	if info != nil {
		info.err = err
	}
	if c.status == statusClientClosed {
		if r.Context().Err() != nil && info != nil {
			info.gone = true
			return
		}
		// A cancellation that is not this request's (the Store's own,
		// say an application shutting down): the client is there, and
		// is told to try again.
		c = errorClass{err: err, status: http.StatusServiceUnavailable, code: codeUnavailable, detail: "the operation was cancelled, try again later"}
	}
	writeProblem(w, r, c.status, c.code, c.detail)
}

// retryAfterUnavailable is the Retry-After, in seconds, of every 503: a
// dependency (database, bucket, scanner) that does not answer, a server
// shutting down, a request out of time. By then the Store has tried a
// transient failure again for about 5 s (filestored's default retry
// options, sized for a restart of PostgreSQL or the S3 server), so a
// client that waits as long gives the dependency as much time again; and
// /readyz pings afresh after a second.
const retryAfterUnavailable = "5"

// writeProblem answers r with a problem; a 503 carries Retry-After (see
// retryAfterUnavailable). A HEAD request gets the headers only.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, code, detail string) {
	p := Problem{
		Type:   "about:blank",
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Code:   code,
	}
	if info := infoFrom(r.Context()); info != nil {
		p.RequestID = info.requestID
	}
	body, err := json.Marshal(p)
	if err != nil {
		// A struct of strings and an int always marshals.
		panic(err)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", problemType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Disposition")
	h.Del("Content-Security-Policy")
	h.Del("ETag")
	h.Del("Last-Modified")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", retryAfterUnavailable)
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// writeJSON answers with v as JSON and the given status. The answer is
// not to be stored by any cache (names, digests and photos' places are
// one owner's) nor sniffed as another type.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, r, err)
		return
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
