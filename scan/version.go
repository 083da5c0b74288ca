package scan

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/filestore-go/filestore"
)

// versionTTL is how long a Version answer is reused before clamd is asked
// again (its signature database may be reloaded at any time).
const versionTTL = time.Minute

// Version is what clamd's VERSION command reports.
type Version struct {
	// Engine is the ClamAV version, for example "1.4.6".
	Engine string
	// Database is the signature database's version, for example "27000";
	// empty when clamd loaded no official database (custom signatures only).
	Database string
	// DatabaseTime is when the database was built; zero when not reported.
	// clamd prints it in its local time zone, which is not given, so it is
	// returned as if in UTC.
	DatabaseTime time.Time
}

// String returns "Engine/Database", or only Engine when Database is empty.
// It is the Version of a filestore.ScanResult.
func (v Version) String() string {
	if v.Database == "" {
		return v.Engine
	}
	return v.Engine + "/" + v.Database
}

// parseVersion reads a VERSION reply: "ClamAV 1.4.6/27000/Tue Nov 26 09:35:11
// 2024", or "ClamAV 1.4.6" when there is no official database. Anything else
// is an error wrapping filestore.ErrScannerUnavailable.
func parseVersion(reply string) (Version, error) {
	rest, ok := strings.CutPrefix(reply, "ClamAV ")
	if !ok {
		return Version{}, fmt.Errorf("unexpected clamd VERSION reply %q: %w", reply, filestore.ErrScannerUnavailable)
	}
	parts := strings.SplitN(rest, "/", 3)
	v := Version{Engine: parts[0]}
	if v.Engine == "" || strings.ContainsAny(v.Engine, " \t") {
		return Version{}, fmt.Errorf("unexpected clamd VERSION reply %q: %w", reply, filestore.ErrScannerUnavailable)
	}
	if len(parts) > 1 {
		v.Database = parts[1]
		if v.Database == "" || strings.ContainsAny(v.Database, " \t") {
			return Version{}, fmt.Errorf("unexpected clamd VERSION reply %q: %w", reply, filestore.ErrScannerUnavailable)
		}
	}
	if len(parts) > 2 {
		// ctime(3) format; an unparseable date leaves DatabaseTime zero,
		// the versions themselves are what matters.
		if t, err := time.Parse(time.ANSIC, strings.TrimSpace(parts[2])); err == nil {
			v.DatabaseTime = t
		}
	}
	return v, nil
}

// Version returns clamd's engine and database version. The answer is reused
// for a minute; after that, and when no answer is cached, clamd is asked
// (within DialTimeout and ReadTimeout). An error wraps
// filestore.ErrScannerUnavailable, or ctx's error when ctx ends first.
func (c *ClamAV) Version(ctx context.Context) (Version, error) {
	v, err := c.cachedVersion(ctx)
	if err != nil {
		return Version{}, c.fail(ctx, ctx, "VERSION", err)
	}
	return v, nil
}

// versionWithin is cachedVersion for a Scan: clamd answers VERSION from its
// main thread, as it does PING, so the answer is waited for at most wait
// (ProbeTimeout) when that is shorter than ReadTimeout.
func (c *ClamAV) versionWithin(ctx context.Context, wait time.Duration) (Version, error) {
	if wait >= c.opts.ReadTimeout {
		return c.cachedVersion(ctx)
	}
	vctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	v, err := c.cachedVersion(vctx)
	if err != nil && ctx.Err() == nil && vctx.Err() != nil {
		err = fmt.Errorf("no answer within ProbeTimeout %v: %w", wait, filestore.ErrScannerUnavailable)
	}
	return v, err
}

// cachedVersion is Version with raw errors.
func (c *ClamAV) cachedVersion(ctx context.Context) (Version, error) {
	c.mu.Lock()
	v, at := c.version, c.versionAt
	c.mu.Unlock()
	if !at.IsZero() && time.Since(at) < versionTTL {
		return v, nil
	}
	reply, err := c.command(ctx, cmdVersion)
	if err != nil {
		return Version{}, err
	}
	v, err = parseVersion(reply)
	if err != nil {
		return Version{}, err
	}
	c.mu.Lock()
	c.version, c.versionAt = v, time.Now()
	c.mu.Unlock()
	return v, nil
}
