package scan

import (
	"context"
	"fmt"

	"github.com/filestore-go/filestore"
	tenantctx "github.com/filestore-go/filestore/internal/tenant"
)

// tenantShare is one tenant's share of the connections to clamd (see
// Options.MaxPerTenant): a semaphore of MaxPerTenant slots, and how many
// scans use it.
type tenantShare struct {
	tenant string
	slots  chan struct{}
	refs   int
}

// share returns the share of ctx's tenant, counting one more scan that
// uses it (give it back with unshare), or nil when ctx has no tenant.
func (c *ClamAV) share(ctx context.Context) *tenantShare {
	tenant, ok := tenantctx.From(ctx)
	if !ok {
		return nil
	}
	c.tmu.Lock()
	defer c.tmu.Unlock()
	ts := c.tenants[tenant]
	if ts == nil {
		ts = &tenantShare{tenant: tenant, slots: make(chan struct{}, c.opts.MaxPerTenant)}
		c.tenants[tenant] = ts
	}
	ts.refs++
	return ts
}

// unshare counts one scan of ts fewer, forgetting ts when none is left.
// A nil ts is a no-op.
func (c *ClamAV) unshare(ts *tenantShare) {
	if ts == nil {
		return
	}
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if ts.refs--; ts.refs == 0 {
		delete(c.tenants, ts.tenant)
	}
}

// acquireShare takes one of ts's slots, waiting while the tenant's other
// scans hold them all, until ctx ends. A nil ts has no limit. Running out of
// ScanTimeout there gives an error wrapping filestore.ErrScanIncomplete: it
// is the pace of the tenant's own uploads that held the scan back.
func (c *ClamAV) acquireShare(ctx context.Context, ts *tenantShare) error {
	if ts == nil {
		return nil
	}
	select {
	case ts.slots <- struct{}{}:
		return nil
	default:
	}
	if c.onShareWait != nil {
		c.onShareWait(ts.tenant)
	}
	select {
	case ts.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		if context.Cause(ctx) == context.DeadlineExceeded {
			return fmt.Errorf("the %d connections of tenant %q were held by its other scans for ScanTimeout %v: %w",
				c.opts.MaxPerTenant, ts.tenant, c.opts.ScanTimeout, filestore.ErrScanIncomplete)
		}
		return ctx.Err()
	}
}

// releaseShare gives back the slot of ts that acquireShare took. A nil ts
// is a no-op.
func (c *ClamAV) releaseShare(ts *tenantShare) {
	if ts != nil {
		<-ts.slots
	}
}
