package scan

import (
	"context"
	"fmt"

	"github.com/filestore-go/filestore"
)

// health is what the scans know of clamd's responsiveness. A scan or ping
// that clamd leaves without an answer for ReadTimeout (clamd frozen, or
// every thread stuck) marks it unresponsive. Until one answers again, Scan
// does not wait for a slot, which only such stuck scans hold: one scan at
// a time, the probe, still tries clamd when a slot is free, and the others
// fail at once with ErrScannerUnavailable. The probe's success, any other
// scan's, or a Ping's clears the mark.
type health struct {
	down    bool
	probing bool          // a probe holds a slot
	signal  chan struct{} // closed when down is set; replaced when cleared
}

// errUnresponsive is the error of a Scan that did not wait for a slot.
func (c *ClamAV) errUnresponsive() error {
	return fmt.Errorf("scan: clamd %s: %w: it has left a scan without an answer for ReadTimeout %v, and has answered none since; not waiting for a free connection",
		c.ep, filestore.ErrScannerUnavailable, c.opts.ReadTimeout)
}

// acquire takes a scan slot, waiting for one within ctx (parent is the
// caller's context, for the error), except while clamd is unresponsive:
// then only a probe gets a slot, if one is free, and acquire reports it.
func (c *ClamAV) acquire(parent, ctx context.Context) (probe bool, err error) {
	c.hmu.Lock()
	if c.health.down {
		defer c.hmu.Unlock()
		if c.health.probing {
			return false, c.errUnresponsive()
		}
		select {
		case c.slots <- struct{}{}:
			c.health.probing = true
			return true, nil
		default:
			return false, c.errUnresponsive()
		}
	}
	signal := c.health.signal
	c.hmu.Unlock()
	select {
	case c.slots <- struct{}{}:
		return false, nil
	case <-signal:
		return false, c.errUnresponsive()
	case <-ctx.Done():
		return false, c.fail(parent, ctx, "waiting for a free connection", ctx.Err())
	}
}

// probed ends a probe's hold on the probing flag.
func (c *ClamAV) probed() {
	c.hmu.Lock()
	c.health.probing = false
	c.hmu.Unlock()
}

// markDown records that clamd left an operation without an answer for
// ReadTimeout, and wakes the scans waiting for a slot. It reports whether
// clamd was taken for responsive until then.
func (c *ClamAV) markDown() bool {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if c.health.down {
		return false
	}
	c.health.down = true
	close(c.health.signal)
	return true
}

// markUp records that clamd answered.
func (c *ClamAV) markUp(ctx context.Context) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if c.health.down {
		c.health.down = false
		c.health.signal = make(chan struct{})
		c.opts.Logger.InfoContext(ctx, "scan: clamd answers again", "clamd", c.ep.String())
	}
}
