package testenv

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
)

// LogWatch is a slog.Handler that watches for the records of one level and
// message: it counts them, and closes First's channel at the first. Other
// records are dropped. It is safe for concurrent use.
type LogWatch struct {
	level slog.Level
	msg   string
	n     atomic.Int64
	first chan struct{}
	once  sync.Once
}

// NewLogWatch returns a LogWatch of the records of level with message msg.
func NewLogWatch(level slog.Level, msg string) *LogWatch {
	return &LogWatch{level: level, msg: msg, first: make(chan struct{})}
}

// First returns a channel closed at the first watched record.
func (w *LogWatch) First() <-chan struct{} { return w.first }

// Count returns how many watched records came.
func (w *LogWatch) Count() int { return int(w.n.Load()) }

// Enabled reports true: every record is looked at.
func (w *LogWatch) Enabled(context.Context, slog.Level) bool { return true }

// WithAttrs returns w: attributes do not matter to it.
func (w *LogWatch) WithAttrs([]slog.Attr) slog.Handler { return w }

// WithGroup returns w: groups do not matter to it.
func (w *LogWatch) WithGroup(string) slog.Handler { return w }

// Handle counts r if it is watched.
func (w *LogWatch) Handle(_ context.Context, r slog.Record) error {
	if r.Level == w.level && r.Message == w.msg {
		w.n.Add(1)
		w.once.Do(func() { close(w.first) })
	}
	return nil
}
