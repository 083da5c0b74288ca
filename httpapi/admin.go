package httpapi

import (
	"context"
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
// called the dependencies are asked at most once per readyFor.
type readiness struct {
	mu  sync.Mutex
	at  time.Time // when err was found; zero before the first ping
	err error
}

// check returns the remembered outcome if it is fresh, else pings (one
// caller at a time; the others wait and then get its outcome). A ping cut
// short by ctx is not remembered.
func (rd *readiness) check(ctx context.Context, now func() time.Time, ping func(context.Context) error) error {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.at.IsZero() {
		if age := now().Sub(rd.at); age >= 0 && age < readyFor {
			return rd.err
		}
	}
	err := ping(ctx)
	if ctx.Err() == nil {
		rd.at, rd.err = now(), err
	}
	return err
}

// readyz serves GET /readyz: Store.Ping (database, bucket and, fail-closed,
// the scanner) within readyTimeout, or the outcome of one that ran less than
// readyFor ago; 503 otherwise, with the cause in the log only.
func (h *Handler) readyz(w http.ResponseWriter, r *http.Request, _ *auth.Caller) error {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	w.Header().Set("Cache-Control", "no-store")
	if err := h.ready.check(ctx, h.cfg.Now, h.store.Ping); err != nil {
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
