package httpapi

import (
	"context"
	"fmt"
	"net/http"
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

// readyz serves GET /readyz: Store.Ping (database, bucket and, fail-closed,
// the scanner) within readyTimeout; 503 otherwise, with the cause in the
// log only.
func (h *Handler) readyz(w http.ResponseWriter, r *http.Request, _ *auth.Caller) error {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	w.Header().Set("Cache-Control", "no-store")
	if err := h.store.Ping(ctx); err != nil {
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
