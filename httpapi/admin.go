package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/filestore-go/filestore/auth"
)

// collect serves POST /v1/admin/gc: one Store.Collect with Config.Collect.
func (h *Handler) collect(w http.ResponseWriter, r *http.Request, _ *auth.Caller) error {
	res, err := h.store.Collect(r.Context(), h.cfg.Collect)
	if err != nil {
		return err
	}
	writeJSON(w, r, http.StatusOK, res)
	return nil
}

// stats serves GET /v1/admin/stats.
func (h *Handler) stats(w http.ResponseWriter, r *http.Request, _ *auth.Caller) error {
	st, err := h.store.Stats(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, r, http.StatusOK, st)
	return nil
}

// statusBody is the answer of /healthz and /readyz.
type statusBody struct {
	Status string `json:"status"`
}

// healthz serves GET /healthz: the process answers.
func (h *Handler) healthz(w http.ResponseWriter, r *http.Request, _ *auth.Caller) error {
	writeJSON(w, r, http.StatusOK, statusBody{Status: "ok"})
	return nil
}

// readyTimeout bounds Store.Ping in /readyz.
const readyTimeout = 5 * time.Second

// readyFor is how long /readyz answers with the outcome of the last
// Store.Ping instead of pinging again.
const readyFor = time.Second

// readiness remembers the outcome of the last Store.Ping for readyFor:
// /readyz needs no token, and each ping queries the database, lists the
// bucket and opens a connection to clamd, so that however often it is
// called the dependencies are asked at most once per readyFor, and at
// most one ping runs at a time.
type readiness struct {
	mu      sync.Mutex
	last    *readyRun // the last ping that ended; nil before the first
	running *readyRun // the ping under way; nil when none is
}

// readyRun is one Store.Ping: err is set before done is closed.
type readyRun struct {
	done chan struct{}
	at   time.Time // when it ended
	err  error
}

// check returns the outcome of the last ping if it ended less than
// readyFor ago; otherwise it waits for the ping under way, or runs one.
// The ping has a deadline of its own (timeout) and does not end with
// ctx: callers that come while it runs share its outcome, a timeout
// included (it names the dependency that did not answer), and it is
// remembered even when the caller that started it went away. A caller
// whose ctx ends while it waits gets ctx's error.
func (rd *readiness) check(ctx context.Context, now func() time.Time, timeout time.Duration, ping func(context.Context) error) error {
	rd.mu.Lock()
	if last := rd.last; last != nil {
		if age := now().Sub(last.at); age >= 0 && age < readyFor {
			rd.mu.Unlock()
			return last.err
		}
	}
	if run := rd.running; run != nil {
		rd.mu.Unlock()
		select {
		case <-run.done:
			return run.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	run := &readyRun{done: make(chan struct{})}
	rd.running = run
	rd.mu.Unlock()

	defer func() { // also if ping panics: the waiters must not wait on
		run.at = now()
		rd.mu.Lock()
		rd.last, rd.running = run, nil
		rd.mu.Unlock()
		close(run.done)
	}()
	run.err = errPingPanicked
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	run.err = ping(pctx)
	return run.err
}

// errPingPanicked is the outcome of a readiness ping that panicked.
var errPingPanicked = errors.New("httpapi: readyz: the ping panicked")

// readyz serves GET /readyz: Store.Ping (database, bucket and, fail-closed,
// the scanner) within readyTimeout, or the outcome of one that ended less
// than readyFor ago or is under way; 503 otherwise, with the cause in the
// log only.
func (h *Handler) readyz(w http.ResponseWriter, r *http.Request, _ *auth.Caller) error {
	w.Header().Set("Cache-Control", "no-store")
	if err := h.ready.check(r.Context(), h.cfg.Now, readyTimeout, h.store.Ping); err != nil {
		if cerr := r.Context().Err(); cerr != nil {
			// The client went away: the dependencies were not asked.
			writeError(w, r, fmt.Errorf("httpapi: readyz: %w", cerr))
			return nil
		}
		infoFrom(r.Context()).err = err
		writeProblem(w, r, http.StatusServiceUnavailable, codeUnavailable, "not ready: a dependency does not answer")
		return nil
	}
	writeJSON(w, r, http.StatusOK, statusBody{Status: "ready"})
	return nil
}
