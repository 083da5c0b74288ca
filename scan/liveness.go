package scan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/filestore-go/filestore"
)

// liveness tells a frozen clamd from a busy one for the scans waiting on
// it. A clamd that is stopped (SIGSTOP), hung or swapped out still accepts
// connections, the kernel's backlog does that, and answers nothing, so the
// scans waiting for its verdict would wait out ReadTimeout and those queued
// for a slot ScanTimeout. clamd answers PING from its main thread, which
// only receives streams and hands them to the scanning threads, so a busy
// clamd answers at once. A scan that has waited ProbeAfter asks for a PING
// (probe); when it gets no PONG within ProbeTimeout, every registered scan
// ends with that cause and clamd counts as down, so that new scans check
// first, until a PING answers again.
type liveness struct {
	down atomic.Bool // the latest PING failed

	mu      sync.Mutex
	probing chan struct{} // closed when the PING under way ends; nil: none
	at      time.Time     // when the latest PING ended; zero: none yet
	err     error         // its outcome: nil for PONG
	pings   uint64        // how many PINGs have had an outcome recorded
	next    uint64
	scans   map[uint64]context.CancelCauseFunc // the scans that a failed PING ends
}

// register adds a scan that a failed PING ends with end(cause) (the cause
// wraps filestore.ErrScannerUnavailable); unregister removes it.
func (l *liveness) register(end context.CancelCauseFunc) (unregister func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.scans == nil {
		l.scans = make(map[uint64]context.CancelCauseFunc)
	}
	id := l.next
	l.next++
	l.scans[id] = end
	return func() {
		l.mu.Lock()
		delete(l.scans, id)
		l.mu.Unlock()
	}
}

// probe checks that clamd answers PING within ProbeTimeout, unless the
// latest PING ended less than ProbeAfter ago or one is under way: then wait
// says whether to wait for its outcome (a new Scan while clamd is down) or
// to go on at once (a Scan that is waiting anyway: the failure of that PING
// reaches every registered scan). A fresh probe takes no outcome from
// before it was called: it sends a PING of its own unless it waited for
// one under way, whose outcome it then takes. It
// returns the outcome of the latest PING, nil when it answered or when one
// is under way and not waited for, and an error wrapping
// filestore.ErrScannerUnavailable and filestore.ErrScannerDown when it did
// not answer: that error is also the cause with which every registered
// scan has then ended. A PING
// that ctx ends, or that ctx's deadline cuts short, counts for nothing and
// gives nil; ctx's own end is for the caller to see.
func (c *ClamAV) probe(ctx context.Context, wait, fresh bool) error {
	l := &c.live
	l.mu.Lock()
	seen := l.pings
	for l.probing != nil {
		ch := l.probing
		l.mu.Unlock()
		if !wait {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
		l.mu.Lock()
	}
	// An outcome recorded while this probe waited is as fresh as its own.
	if !l.at.IsZero() && (l.pings != seen || !fresh && time.Since(l.at) < c.opts.ProbeAfter) {
		err := l.err
		l.mu.Unlock()
		return err
	}
	ch := make(chan struct{})
	l.probing = ch
	l.mu.Unlock()

	pctx, cancel := context.WithTimeout(ctx, c.opts.ProbeTimeout)
	reply, err := c.command(pctx, cmdPing)
	// A dial or read bounded by pctx's deadline can report its own
	// timeout just before pctx's timer ends pctx.
	timedOut := err != nil && (pctx.Err() != nil || expired(pctx))
	cancel()
	switch {
	case timedOut:
		// Not pctx's error: the caller's context has not ended.
		err = fmt.Errorf("no answer to PING within ProbeTimeout %v: %w: %w", c.opts.ProbeTimeout, filestore.ErrScannerUnavailable, filestore.ErrScannerDown)
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("no answer to PING within ReadTimeout %v: %w: %w: %w", c.opts.ReadTimeout, filestore.ErrScannerUnavailable, filestore.ErrScannerDown, err)
	case err != nil:
		err = fmt.Errorf("PING failed: %w: %w: %w", filestore.ErrScannerUnavailable, filestore.ErrScannerDown, err)
	case reply != replyPong:
		err = fmt.Errorf("PING answered %q, not PONG: %w: %w", reply, filestore.ErrScannerUnavailable, filestore.ErrScannerDown)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.probing = nil
	close(ch)
	if ctx.Err() != nil || expired(ctx) {
		// ctx (a scan's ScanTimeout), not ProbeTimeout, cut the PING
		// short: it says nothing about clamd.
		return nil
	}
	l.at, l.err = time.Now(), err
	l.pings++
	l.down.Store(err != nil)
	if err != nil {
		for _, end := range l.scans {
			end(err)
		}
	}
	return err
}
