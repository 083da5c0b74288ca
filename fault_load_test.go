package filestore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
)

// load uploads in a loop from several goroutines, for tests that stop and
// restart a real service meanwhile. Every Put must either succeed or fail
// with ErrUnavailable.
type load struct {
	st       *filestore.Service
	contents [][]byte
	events   chan struct{} // one (non-blocking) signal per finished Put
	stop     chan struct{}
	wg       sync.WaitGroup

	mu         sync.Mutex
	acked      map[string]int // file id -> content index
	failed     int
	unexpected []error
}

// startLoad starts n goroutines putting contents (in turn, so that they
// dedup) into st, each Put under ctx.
func startLoad(ctx context.Context, st *filestore.Service, n int, contents [][]byte) *load {
	l := &load{st: st, contents: contents, events: make(chan struct{}, 1), stop: make(chan struct{}), acked: map[string]int{}}
	for g := range n {
		l.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				c := (g + i) % len(contents)
				f, err := st.Put(ctx, "load", "outage", fmt.Sprintf("g%d-%d", g, i), bytes.NewReader(contents[c]), nil)
				l.mu.Lock()
				switch {
				case err == nil:
					l.acked[f.ID] = c
				case errors.Is(err, filestore.ErrUnavailable):
					l.failed++
				case ctx.Err() != nil:
					l.mu.Unlock()
					return
				default:
					l.unexpected = append(l.unexpected, err)
				}
				l.mu.Unlock()
				select {
				case l.events <- struct{}{}:
				default:
				}
			}
		})
	}
	return l
}

// counts returns the acknowledged and the failed uploads so far.
func (l *load) counts() (acked, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked), l.failed
}

// waitFor waits until cond holds for the counts, or fails t after timeout.
func (l *load) waitFor(t *testing.T, what string, timeout time.Duration, cond func(acked, failed int) bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		a, f := l.counts()
		if cond(a, f) {
			return
		}
		select {
		case <-l.events:
		case <-deadline.C:
			l.finish()
			t.Fatalf("waiting for %s: %d acknowledged, %d failed after %v; unexpected errors: %v", what, a, f, timeout, l.unexpected)
		}
	}
}

// finish stops the uploaders and waits for the uploads in flight.
func (l *load) finish() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// check reports the errors that were neither success nor ErrUnavailable and
// reads every acknowledged upload back byte for byte.
func (l *load) check(t *testing.T) {
	t.Helper()
	for _, err := range l.unexpected {
		t.Errorf("an upload failed with an error that is not ErrUnavailable: %v", err)
	}
	for id, c := range l.acked {
		checkContent(t, l.st, "load", id, l.contents[c])
	}
}
