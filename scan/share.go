package scan

import (
	"context"
	"fmt"

	tenantctx "github.com/filestore-go/filestore/internal/tenant"
)

// tenantShare is one tenant's share of the connections to clamd (see
// Options.MaxPerTenant): a semaphore of MaxPerTenant slots.
type tenantShare struct {
	tenant string
	slots  chan struct{}
}

// takeShare takes one of the slots of the share of ctx's tenant, waiting
// while the tenant's other scans hold them all. It returns nil, nil when ctx
// has no tenant. The wait has no bound of its own: the scans that hold the
// slots end within their ScanTimeout (at once when clamd is found frozen,
// after which the scan that gets the slot checks clamd before it goes on).
// It ends with an error wrapping ctx's error if ctx ends first. Give the
// slot back with giveShare.
func (c *ClamAV) takeShare(ctx context.Context) (*tenantShare, error) {
	tenant, ok := tenantctx.From(ctx)
	if !ok {
		return nil, nil
	}
	ts := c.tenants.Take(tenant)
	select {
	case ts.slots <- struct{}{}:
		return ts, nil
	default:
	}
	if c.onShareWait != nil {
		c.onShareWait(ts.tenant)
	}
	select {
	case ts.slots <- struct{}{}:
		return ts, nil
	case <-ctx.Done():
		c.unshare(ts)
		return nil, fmt.Errorf("scan: clamd %s: waiting for the tenant's share of connections: %w", c.ep, ctx.Err())
	}
}

// giveShare gives back the slot of ts that takeShare took, and counts one
// scan of ts fewer. A nil ts is a no-op.
func (c *ClamAV) giveShare(ts *tenantShare) {
	if ts == nil {
		return
	}
	<-ts.slots
	c.unshare(ts)
}

// unshare counts one scan of ts fewer (see Options.MaxPerTenant).
func (c *ClamAV) unshare(ts *tenantShare) { c.tenants.Drop(ts.tenant) }
