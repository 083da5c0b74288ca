package httpapi

import (
	"context"
	"net/http"
)

// reqInfo is what the middleware learns about one request, for its log
// line and metrics. Only the request's own goroutine touches it.
type reqInfo struct {
	requestID string
	traceID   string
	route     string // the matched pattern; "" when none matched
	owner     string
	clientIP  string
	err       error // the error answered, for the log
	// gone is set when the client went away (err is its context's
	// cancellation): the connection is closed without an answer.
	gone bool
	// raw is the ResponseWriter the server gave, for http.MaxBytesReader
	// (which tells the server to close the connection after the answer).
	raw http.ResponseWriter
	// limit describes the most restrictive rate limit that applied.
	limit *rateDecision
}

type infoKey struct{}

// withInfo returns a copy of ctx carrying info.
func withInfo(ctx context.Context, info *reqInfo) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

// infoFrom returns the request's reqInfo; nil outside the Handler.
func infoFrom(ctx context.Context) *reqInfo {
	info, _ := ctx.Value(infoKey{}).(*reqInfo)
	return info
}

// innermost unwraps w down to the ResponseWriter the server made.
func innermost(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}
