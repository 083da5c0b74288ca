package httpapi

import (
	"fmt"
	"net/http"
	"sync"
)

// gate counts the transfers of one kind in progress (uploads, or downloads
// of content), in all and per owner, and refuses one over either cap.
// Transfers held open, each slow or stalled just short of BodyTimeout,
// would otherwise hold the server's resources without bound: an upload
// holds about a megabyte of buffers and maybe a scan slot, a download a
// connection, an open object (a file descriptor of a local bucket) and
// goroutines. Owners with nothing in progress have no entry.
type gate struct {
	kind     string // "uploads" or "downloads": the metric label and the problems' word
	max      int    // per owner; 0: no limit
	maxTotal int    // in all; 0: no limit
	mu       sync.Mutex
	total    int
	n        map[string]int
}

// gateRefusal says which cap refused a transfer.
type gateRefusal int

const (
	admitted   gateRefusal = iota
	ownerFull              // the owner has max transfers in progress
	serverFull             // the server has maxTotal transfers in progress
)

// newGate returns a gate of kind with perOwner transfers per owner and
// total in all, where a cap that is not positive is off; nil (no limit)
// when both are.
func newGate(kind string, perOwner, total int) *gate {
	if perOwner <= 0 && total <= 0 {
		return nil
	}
	return &gate{kind: kind, max: max(perOwner, 0), maxTotal: max(total, 0), n: make(map[string]int)}
}

// acquire counts a transfer of owner in, unless owner, or the server, has
// its cap in progress already: then it reports which and counts nothing. A
// nil gate admits everything.
func (g *gate) acquire(owner string) gateRefusal {
	if g == nil {
		return admitted
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.max > 0 && g.n[owner] >= g.max:
		return ownerFull
	case g.maxTotal > 0 && g.total >= g.maxTotal:
		return serverFull
	}
	g.n[owner]++
	g.total++
	return admitted
}

// release counts a transfer of owner out; each admitted acquire is
// released once.
func (g *gate) release(owner string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	if g.n[owner] <= 1 {
		delete(g.n, owner)
		return
	}
	g.n[owner]--
}

// admit counts a transfer of owner in through g and returns nil, after
// which the caller must release it; or it returns the answer to the
// refusal: 429 rate_limited with Retry-After: 1 for an owner at its cap
// (counted in the rate_limited metric under g's kind), 503 unavailable
// (whose Retry-After writeProblem sets) for the server at its cap. Either
// refusal drops the RateLimit fields from w: they describe the request
// rate's bucket, which still had tokens, and would contradict it.
func (h *Handler) admit(w http.ResponseWriter, g *gate, owner string) error {
	refusal := g.acquire(owner)
	if refusal == admitted {
		return nil
	}
	for _, f := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
		w.Header().Del(f)
	}
	if refusal == serverFull {
		// The server's capacity, not this client's rate.
		return &httpError{status: http.StatusServiceUnavailable, code: codeUnavailable,
			detail: fmt.Sprintf("the server has %d %s in progress, the most it takes at once; retry shortly", g.maxTotal, g.kind)}
	}
	h.metrics.rateLimited.WithLabelValues(g.kind).Inc()
	w.Header().Set("Retry-After", "1")
	return &httpError{status: http.StatusTooManyRequests, code: codeRateLimited,
		detail: fmt.Sprintf("this owner has %d %s in progress, the most allowed at once; retry when one has finished", g.max, g.kind)}
}
