package httpapi

import (
	"context"
	"fmt"
	"log/slog"
)

// LogHandler returns a slog.Handler that passes every record to h, adding
// the request_id of the request the record's context belongs to, when that
// is a request a Handler serves and the record has no request_id of its
// own. Give a Store a logger over it (as filestored does) and the Store's
// own lines, such as a staged object it could not delete or a scanner it
// could not reach, name the request they happened in.
//
// An attribute whose value is an error (in a group too, or added with
// Logger.With) reaches h as the error's message, a string: the text
// handler would format the error with %+v, which for the errors of
// gocloud.dev writes the stack frame they were made at ("\n
// gocloud.dev/blob.(*Bucket).newRangeReader\n .../blob.go:1137\n - ")
// into the line. A nil h panics.
func LogHandler(h slog.Handler) slog.Handler {
	if h == nil {
		panic("httpapi: LogHandler of a nil slog.Handler")
	}
	return logHandler{h}
}

// logHandler is the slog.Handler of LogHandler.
type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	attrs := make([]slog.Attr, 0, r.NumAttrs()+1)
	hasID, changed := false, false
	r.Attrs(func(a slog.Attr) bool {
		hasID = hasID || a.Key == "request_id"
		a, c := errorMessage(a)
		changed = changed || c
		attrs = append(attrs, a)
		return true
	})
	if info := infoFrom(ctx); info != nil && info.requestID != "" && !hasID {
		attrs = append(attrs, slog.String("request_id", info.requestID))
		changed = true
	}
	if !changed {
		return h.Handler.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(attrs...)
	return h.Handler.Handle(ctx, out)
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	plain := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		plain[i], _ = errorMessage(a)
	}
	return logHandler{h.Handler.WithAttrs(plain)}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{h.Handler.WithGroup(name)}
}

// errorMessage returns a (its value resolved) with an error value, at any
// depth of groups, replaced by the error's message; it reports whether it
// replaced one. fmt.Sprint gives the message as Error() does, and survives
// an Error method that panics (a nil pointer's, say) as the handler's own
// formatting would.
func errorMessage(a slog.Attr) (slog.Attr, bool) {
	a.Value = a.Value.Resolve()
	switch a.Value.Kind() {
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			return slog.String(a.Key, fmt.Sprint(err)), true
		}
	case slog.KindGroup:
		group := a.Value.Group()
		plain := make([]slog.Attr, len(group))
		changed := false
		for i, ga := range group {
			var c bool
			plain[i], c = errorMessage(ga)
			changed = changed || c
		}
		if changed {
			return slog.Attr{Key: a.Key, Value: slog.GroupValue(plain...)}, true
		}
	}
	return a, false
}
