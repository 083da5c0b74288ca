package faults

import (
	"context"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
)

// writer is a driver.Writer over an inner *blob.Writer that can fail
// mid-stream (rule, an OpWrite rule chosen when it was opened) and at Close.
type writer struct {
	in     *Injector
	w      *blob.Writer
	cancel context.CancelFunc // cancels the inner writer: it then discards the object
	key    string
	rule   *Rule
	n      int64 // bytes accepted
	failed error // the injected error, once it happened
}

// Write passes p on, up to the rule's After bytes; from there on it fails.
func (w *writer) Write(p []byte) (int, error) {
	if w.failed != nil {
		return 0, w.failed
	}
	if w.rule != nil && w.n+int64(len(p)) > w.rule.After {
		k := max(w.rule.After-w.n, 0)
		n, err := w.w.Write(p[:k])
		w.n += int64(n)
		if err != nil {
			return n, err
		}
		w.failed = w.in.fire(w.rule)
		return n, w.failed
	}
	n, err := w.w.Write(p)
	w.n += int64(n)
	return n, err
}

// Close completes the object, unless the stream failed or an OpClose rule
// fails it: then the object is discarded (or, for an Applied rule, stored
// and the error returned anyway).
func (w *writer) Close() error {
	defer w.cancel()
	if w.failed != nil {
		w.in.count(OpClose)
		w.cancel()
		_ = w.w.Close()
		return w.failed
	}
	r := w.in.check(OpClose, w.key)
	if r == nil {
		return w.w.Close()
	}
	if !r.Applied {
		w.cancel()
		_ = w.w.Close()
		return w.in.fire(r)
	}
	if err := w.w.Close(); err != nil {
		return err
	}
	return w.in.fire(r)
}

// reader is a driver.Reader over an inner *blob.Reader that can fail
// mid-stream (rule, an OpRead rule chosen when it was opened).
type reader struct {
	in     *Injector
	r      *blob.Reader
	rule   *Rule
	n      int64
	failed error
}

// Read reads from the inner reader, up to the rule's After bytes; from there
// on it fails.
func (r *reader) Read(p []byte) (int, error) {
	if r.failed != nil {
		return 0, r.failed
	}
	if r.rule != nil && r.n+int64(len(p)) > r.rule.After {
		p = p[:max(r.rule.After-r.n, 0)]
		if len(p) == 0 {
			r.failed = r.in.fire(r.rule)
			return 0, r.failed
		}
	}
	n, err := r.r.Read(p)
	r.n += int64(n)
	return n, err
}

// Close closes the inner reader.
func (r *reader) Close() error { return r.r.Close() }

// Attributes returns the inner reader's attributes.
func (r *reader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: r.r.ContentType(), ModTime: r.r.ModTime(), Size: r.r.Size()}
}

// As exposes the inner reader's driver-specific types.
func (r *reader) As(i any) bool { return r.r.As(i) }
