// Package scan holds filestore.Scanner implementations. ClamAV talks to a
// ClamAV daemon (clamd) over TCP or a unix socket with clamd's own protocol
// (zINSTREAM, zPING, zVERSION); it needs no clamd client library.
//
//	clam, err := scan.New("tcp://127.0.0.1:3310", nil)
//	st, err := filestore.Open(ctx, filestore.Options{Scanner: clam})
//
// Connections: every Scan dials its own connection and closes it after the
// verdict, and at most Options.MaxConcurrent scans run at once. clamd's
// IDSESSION would let one connection carry several scans, but clamd closes a
// session after IdleTimeout and on any INSTREAM error (a stream over
// StreamMaxLength ends the whole connection), and a session must interleave
// reading replies with writing data; meanwhile a dial on loopback or a unix
// socket costs microseconds next to scanning a file. Dial-per-scan keeps a
// failure confined to the one scan it hit and leaves no idle connection to
// go stale when clamd restarts; the bound keeps a burst of uploads from
// opening more connections than clamd has threads.
//
// A frozen clamd: a clamd that is stopped or hung still accepts connections
// (the kernel's backlog does) and answers nothing. A Scan that has waited
// Options.ProbeAfter (5s) on clamd, for a slot, for clamd to take a chunk or
// for the verdict, checks it with a PING on a new connection, which clamd
// answers from its main thread even while every scanning thread is busy. No
// PONG within ProbeTimeout (5s) ends every Scan under way or queued with
// filestore.ErrScannerUnavailable, and new Scans check clamd first until a
// PING answers again; a busy clamd that answers is waited for, up to
// ScanTimeout, after which the Scan ends with filestore.ErrScannerBusy (busy
// is not down: filestore's Put refuses such an upload even under fail-open).
//
// Slow streams: a Scan that its reader leaves waiting gives up with an error
// wrapping filestore.ErrScanIncomplete, not ErrScannerUnavailable, when no
// chunk comes within Options.StallTimeout (20s), when the content has not
// ended within ScanTimeout, or when clamd drops the stream after its own
// ReadTimeout; it closes its connection and frees its slot at once, so that
// stalled uploads cannot hold every slot. filestore's Put then scans the
// complete content again from the staged copy, at full speed, so a client's
// pace never decides the verdict nor turns fail-open into "unscanned".
package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/filestore-go/filestore"
	tenantctx "github.com/filestore-go/filestore/internal/tenant"
)

// ClamAV is a filestore.Scanner and filestore.Pinger backed by clamd. It is
// safe for concurrent use; it holds no connection between calls, so it needs
// no Close, and it keeps working across clamd restarts.
type ClamAV struct {
	ep    endpoint
	opts  Options
	slots chan struct{} // semaphore of MaxConcurrent scans
	live  liveness

	tenants *tenantctx.Shares[tenantShare] // of the scans under way or waiting

	// onShareWait, if set (tests), is called when a scan finds its
	// tenant's share held and starts waiting for it.
	onShareWait func(tenant string)

	mu        sync.Mutex
	version   Version
	versionAt time.Time // zero: nothing cached
}

var (
	_ filestore.Scanner = (*ClamAV)(nil)
	_ filestore.Pinger  = (*ClamAV)(nil)
)

// New returns a ClamAV for the clamd at addr: "tcp://host:port" (port
// 1-65535, 3310 when absent) or "unix:///path/to/clamd.sock". A nil opts uses the defaults
// of Options. It does not contact clamd (call Ping for that); a malformed
// address or option gives an error wrapping filestore.ErrInvalidArgument.
func New(addr string, opts *Options) (*ClamAV, error) {
	ep, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &ClamAV{ep: ep, opts: o, slots: make(chan struct{}, o.MaxConcurrent), tenants: tenantctx.NewShares(func(tenant string) *tenantShare {
		return &tenantShare{tenant: tenant, slots: make(chan struct{}, o.MaxPerTenant)}
	})}, nil
}

// Ping checks that clamd answers PING with PONG, within DialTimeout and
// ProbeTimeout, on a new connection (or takes the outcome of a Scan's PING
// under way); it does not wait for a scan slot, so it answers while every
// slot is busy. An error wraps filestore.ErrScannerUnavailable and
// filestore.ErrScannerDown, and a failure ends every Scan under way or
// queued, as a Scan's own unanswered PING does (see Options.ProbeAfter).
// When ctx ends first, the error wraps ctx's.
func (c *ClamAV) Ping(ctx context.Context) error {
	err := c.probe(ctx, true, true)
	if err == nil {
		err = callerErr(ctx) // a PING that ctx ended counts for nothing
	}
	if err != nil {
		return fmt.Errorf("scan: clamd %s: PING: %w", c.ep, err)
	}
	return nil
}

// command sends one z-command on a new connection and returns the reply
// without its NUL. Errors are raw; callers classify them with fail.
func (c *ClamAV) command(ctx context.Context, cmd string) (string, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return "", err
	}
	release := closeOnDone(ctx, conn)
	defer release()
	if err := conn.SetDeadline(time.Now().Add(c.opts.ReadTimeout)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(conn, cmd); err != nil {
		return "", err
	}
	return readReply(conn)
}

func (c *ClamAV) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: c.opts.DialTimeout}
	return d.DialContext(ctx, c.ep.network, c.ep.address)
}

// closeOnDone closes conn as soon as ctx is done, so that a Read or Write
// blocked on it returns at once. The returned release stops watching, waits
// for a close already under way (nothing is left running) and closes conn.
func closeOnDone(ctx context.Context, conn net.Conn) (release func()) {
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		conn.Close()
		close(closed)
	})
	return func() {
		if !stop() {
			<-closed
		}
		conn.Close()
	}
}

// fail turns err from an operation op into the error a caller sees: the
// caller's context error when parent is done (or past its deadline); ctx's
// cause when a PING that clamd did not answer ended ctx (see liveness);
// for a timeout (ScanTimeout: ctx past its deadline while parent is not;
// or ReadTimeout on one reply or write), ErrScannerBusy when clamd answers
// a PING that it sends now, or that another scan had under way (a fresh
// probe), and ErrScannerUnavailable when it does not or did not within
// ProbeAfter; ErrScannerUnavailable for I/O errors; err itself, with context,
// when it already wraps ErrScannerUnavailable or ErrScanLimit.
func (c *ClamAV) fail(parent, ctx context.Context, op string, err error) error {
	if cerr := callerErr(parent); cerr != nil {
		return fmt.Errorf("scan: clamd %s: %s: %w", c.ep, op, cerr)
	}
	switch {
	case errors.Is(context.Cause(ctx), filestore.ErrScannerUnavailable):
		return fmt.Errorf("scan: clamd %s: %s: %w", c.ep, op, context.Cause(ctx))
	case expired(ctx), errors.Is(err, os.ErrDeadlineExceeded):
		// A timeout. A clamd that answers PING is busy, not down: its
		// threads or this client's connections were taken, or the
		// content takes it that long.
		limit := fmt.Sprintf("no verdict within ScanTimeout %v", c.opts.ScanTimeout)
		if !expired(ctx) {
			limit = fmt.Sprintf("no answer within ReadTimeout %v", c.opts.ReadTimeout)
		} else {
			err = context.DeadlineExceeded
		}
		perr := c.probe(parent, true, true)
		if cerr := callerErr(parent); cerr != nil {
			return fmt.Errorf("scan: clamd %s: %s: %w", c.ep, op, cerr)
		}
		if perr != nil { // it wraps ErrScannerUnavailable and ErrScannerDown
			return fmt.Errorf("scan: clamd %s: %s: %s, and %w: %w", c.ep, op, limit, perr, err)
		}
		return fmt.Errorf("scan: clamd %s: %s: %s, and clamd answers PING: %w", c.ep, op, limit, filestore.ErrScannerBusy)
	case errors.Is(err, filestore.ErrScannerUnavailable), errors.Is(err, filestore.ErrScanLimit):
		return fmt.Errorf("scan: clamd %s: %s: %w", c.ep, op, err)
	default:
		return fmt.Errorf("scan: clamd %s: %s: %w: %w", c.ep, op, filestore.ErrScannerUnavailable, err)
	}
}

// callerErr is ctx's error, or context.DeadlineExceeded when its deadline
// has passed but ctx does not say so yet (see expired); nil otherwise.
func callerErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if expired(ctx) {
		return context.DeadlineExceeded
	}
	return nil
}

// expired reports whether ctx's deadline has passed, even when ctx does not
// say so yet: an operation bounded by the same deadline (a dial, a
// connection's deadline) can fail with its own timeout just before ctx's
// timer ends ctx.
func expired(ctx context.Context) bool {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}
