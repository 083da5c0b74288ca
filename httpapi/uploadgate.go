package httpapi

import "sync"

// uploadGate counts the uploads in progress, in all and per owner, and
// refuses one over either cap: uploads held open (each slow, or stalled
// just short of BodyTimeout) would otherwise hold the server's memory, about
// a megabyte per upload, and its scan slots, without bound. Owners with
// nothing in progress have no entry.
type uploadGate struct {
	max      int // per owner; 0: no limit
	maxTotal int // in all; 0: no limit
	mu       sync.Mutex
	total    int
	n        map[string]int
}

// gateRefusal says which cap refused an upload.
type gateRefusal int

const (
	admitted   gateRefusal = iota
	ownerFull              // the owner has max uploads in progress
	serverFull             // the server has maxTotal uploads in progress
)

// newUploadGate returns a gate of perOwner uploads per owner and total in
// all, where a cap that is not positive is off; nil (no limit) when both
// are.
func newUploadGate(perOwner, total int) *uploadGate {
	if perOwner <= 0 && total <= 0 {
		return nil
	}
	return &uploadGate{max: max(perOwner, 0), maxTotal: max(total, 0), n: make(map[string]int)}
}

// acquire counts an upload of owner in, unless owner, or the server, has
// its cap in progress already: then it reports which and counts nothing. A
// nil gate admits everything.
func (g *uploadGate) acquire(owner string) gateRefusal {
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

// release counts an upload of owner out; each admitted acquire is released
// once.
func (g *uploadGate) release(owner string) {
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
