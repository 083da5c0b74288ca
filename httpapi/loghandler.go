package httpapi

import (
	"context"
	"log/slog"
)

// LogHandler returns a slog.Handler that passes every record to h, adding
// the request_id of the request the record's context belongs to, when that
// is a request a Handler serves and the record has no request_id of its
// own. Give a Store a logger over it (as filestored does) and the Store's
// own lines, such as a staged object it could not delete or a scanner it
// could not reach, name the request they happened in. A nil h panics.
func LogHandler(h slog.Handler) slog.Handler {
	if h == nil {
		panic("httpapi: LogHandler of a nil slog.Handler")
	}
	return requestIDHandler{h}
}

// requestIDHandler is the slog.Handler of LogHandler.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if info := infoFrom(ctx); info != nil && info.requestID != "" {
		has := false
		r.Attrs(func(a slog.Attr) bool {
			has = a.Key == "request_id"
			return !has
		})
		if !has {
			r = r.Clone()
			r.AddAttrs(slog.String("request_id", info.requestID))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
