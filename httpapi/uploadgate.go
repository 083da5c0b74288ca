package httpapi

import "sync"

// uploadGate counts each owner's uploads in progress and refuses one over
// max: an owner holding many uploads open (each slow, or stalled just
// short of BodyTimeout) would otherwise hold the server's memory, about
// a megabyte per upload, and its scan slots, without bound. Owners with
// nothing in progress have no entry.
type uploadGate struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

// newUploadGate returns a gate of max uploads per owner; nil (no limit)
// when max is not positive.
func newUploadGate(max int) *uploadGate {
	if max <= 0 {
		return nil
	}
	return &uploadGate{max: max, n: make(map[string]int)}
}

// acquire counts an upload of owner in, unless owner has max in progress
// already: then it reports false and counts nothing. A nil gate admits
// everything.
func (g *uploadGate) acquire(owner string) bool {
	if g == nil {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n[owner] >= g.max {
		return false
	}
	g.n[owner]++
	return true
}

// release counts an upload of owner out; each successful acquire is
// released once.
func (g *uploadGate) release(owner string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n[owner] <= 1 {
		delete(g.n, owner)
		return
	}
	g.n[owner]--
}
