package tenant

import "sync"

// Shares keeps one *S per tenant for as long as some user holds it: the
// first Take of a tenant makes its value with the function given to
// NewShares, and the Drop that balances the last Take forgets it, so that
// tenants with nothing in progress cost nothing. Safe for concurrent use.
type Shares[S any] struct {
	create func(tenant string) *S
	mu     sync.Mutex
	m      map[string]*entry[S]
}

// entry is a tenant's value and how many users hold it.
type entry[S any] struct {
	s    *S
	refs int
}

// NewShares returns an empty Shares whose values create makes, given
// their tenant.
func NewShares[S any](create func(tenant string) *S) *Shares[S] {
	return &Shares[S]{create: create, m: map[string]*entry[S]{}}
}

// Take returns tenant's value, making it if no one holds it, and counts
// one more user of it. Balance it with Drop.
func (s *Shares[S]) Take(tenant string) *S {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[tenant]
	if e == nil {
		e = &entry[S]{s: s.create(tenant)}
		s.m[tenant] = e
	}
	e.refs++
	return e.s
}

// Drop counts one user of tenant's value fewer, forgetting the value when
// none is left. A Drop without a Take is a no-op.
func (s *Shares[S]) Drop(tenant string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.m[tenant]; e != nil {
		if e.refs--; e.refs == 0 {
			delete(s.m, tenant)
		}
	}
}

// Len reports how many tenants' values are held.
func (s *Shares[S]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
