package scan

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/filestore-go/filestore"
)

// engineName is the Engine of every ScanResult of ClamAV.
const engineName = "clamav"

// Scan sends the content of r to clamd (INSTREAM) and returns its verdict,
// with Engine "clamav" and Version from Version: a non-empty Signature when
// clamd found malware, an empty one when the whole content was scanned clean.
//
// It reads r until io.EOF, one chunk at a time and only as fast as clamd
// takes the chunks (it holds one ChunkSize buffer, never the content), and
// never reads r after it has returned. Under a context with a tenant
// (storage.WithTenant), it first waits for one of the tenant's
// Options.MaxPerTenant connections, for as long as ctx allows (the
// tenant's scans that hold them end within their ScanTimeout), and only
// then starts its ScanTimeout and waits for one of MaxConcurrent. It stops
// early with an error:
//   - wrapping filestore.ErrScanLimit when the content exceeds what clamd
//     scans: over StreamMaxLength (clamd's "INSTREAM size limit exceeded",
//     or Options.StreamMaxLength), or a "Heuristics.Limits.Exceeded.*"
//     verdict of AlertExceedsMax, which means not (wholly) scanned rather
//     than infected;
//   - wrapping filestore.ErrScanIncomplete when the content came too
//     slowly: r delivered no chunk within StallTimeout, the content did not
//     end within ScanTimeout, clamd dropped the stream after its own
//     ReadTimeout ("COMMAND READ TIMED OUT"). The connection is closed and
//     the slot freed as soon as the scan gives up, even while a Read of r
//     is still pending; Scan returns once that Read does;
//   - wrapping filestore.ErrScannerBusy when ScanTimeout ends while the
//     Scan waits for a slot or for the verdict, or ReadTimeout ends a wait
//     for clamd to take a chunk or give the verdict, and clamd then answers
//     a PING within ProbeTimeout: clamd is up but had no time for this
//     content (so a Scan can last ProbeTimeout beyond those limits);
//   - wrapping filestore.ErrScannerUnavailable when clamd cannot be reached,
//     answers an error or nonsense, misses DialTimeout, or misses
//     ScanTimeout or ReadTimeout and then answers no PING either, or when it has
//     kept the Scan waiting ProbeAfter and then answers no PING within
//     ProbeTimeout (a frozen clamd; see Options.ProbeAfter): every Scan
//     under way or queued ends at once, and later ones, before reading r,
//     until a PING answers again;
//   - wrapping ctx's error when ctx ends first: the connection is closed at
//     once, so Scan returns as soon as a pending r.Read does (a reader that
//     blocks forever must be unblocked by its owner, as Put does by closing
//     its pipe);
//   - wrapping r's error when r fails.
//
// A nil r gives an error wrapping filestore.ErrInvalidArgument.
func (c *ClamAV) Scan(ctx context.Context, r io.Reader) (*filestore.ScanResult, error) {
	if r == nil {
		return nil, fmt.Errorf("scan: nil reader: %w", filestore.ErrInvalidArgument)
	}
	start := time.Now()
	parent := ctx
	// The tenant's share first, and only then the ScanTimeout clock: the
	// wait for the share (for the tenant's own scans to end) must not eat
	// the time this scan has for a connection and the stream.
	ts, err := c.takeShare(parent)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.ScanTimeout)
	defer cancel()
	// The scan's context: a stall of the content (cause errStalled), a
	// PING that clamd did not answer (see liveness), ScanTimeout and the
	// caller end it; whatever ends it closes the connection and frees the
	// slot at once.
	sctx, stall := context.WithCancelCause(ctx)
	defer stall(nil)
	defer c.live.register(stall)()
	if c.live.down.Load() {
		err := c.probe(sctx, true, false)
		if err == nil {
			err = sctx.Err()
		}
		if err != nil {
			c.giveShare(ts)
			return nil, c.fail(parent, sctx, "PING", err)
		}
	}

	if err := c.acquire(sctx); err != nil {
		c.giveShare(ts)
		return nil, c.fail(parent, sctx, "waiting for a free connection", err)
	}
	free := sync.OnceFunc(func() {
		<-c.slots
		c.giveShare(ts)
	})
	defer free()
	context.AfterFunc(sctx, free)

	v, err := c.versionWithin(sctx, c.opts.ProbeTimeout)
	if err != nil {
		return nil, c.fail(parent, sctx, "VERSION", err)
	}
	sig, sent, err := c.instream(sctx, r, func() { stall(errStalled) })
	var rerr *readError
	switch {
	case err == nil:
	case parent.Err() == nil && errors.As(err, &rerr):
		err = fmt.Errorf("scan: read content: %w", rerr.err)
	case parent.Err() == nil && errors.Is(err, filestore.ErrScanIncomplete):
		err = fmt.Errorf("scan: clamd %s: INSTREAM: %w", c.ep, err)
	default:
		err = c.fail(parent, sctx, "INSTREAM", err)
	}
	c.opts.Logger.LogAttrs(parent, slog.LevelDebug, "clamd scan",
		slog.String("clamd", c.ep.String()),
		slog.Int64("bytes", sent),
		slog.Duration("duration", time.Since(start)),
		slog.String("signature", sig),
		slog.Any("error", err))
	if err != nil {
		return nil, err
	}
	return &filestore.ScanResult{Engine: engineName, Version: v.String(), Signature: sig}, nil
}

// errStalled is the cause of a stream's context that StallTimeout ended.
var errStalled = errors.New("stalled")

// readError marks an error of the content reader, which is the caller's
// failure rather than clamd's.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// reply is what the reply reader goroutine of instream hands back.
type reply struct {
	text string
	err  error
}

// instream runs one INSTREAM on a new connection: it streams r to clamd in
// chunks while a second goroutine waits for the reply, so that a reply clamd
// sends before the end (the size limit) is seen even when the connection is
// then reset and writes fail. It returns the signature ("" when clean) and
// how many content bytes clamd accepted. Both goroutines have ended when it
// returns. Errors are raw except ErrScanLimit, ErrScanIncomplete and
// ErrScannerUnavailable ones and *readError; Scan classifies them.
//
// onStall runs when r has not filled a chunk (or ended) within
// StallTimeout; it must end ctx with the cause errStalled. ctx ending
// before the terminating chunk was sent, by a stall or by ScanTimeout,
// gives ErrScanIncomplete (Scan looks at its caller's context first).
func (c *ClamAV) instream(ctx context.Context, r io.Reader, onStall func()) (sig string, sent int64, err error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return "", 0, err
	}
	release := closeOnDone(ctx, conn)
	defer release()

	ended := false // the terminating zero-length chunk was sent
	defer func() {
		switch {
		case err == nil || ended || ctx.Err() == nil:
		case context.Cause(ctx) == errStalled:
			err = fmt.Errorf("the content reader delivered no chunk within StallTimeout %v: %w", c.opts.StallTimeout, filestore.ErrScanIncomplete)
		case errors.Is(context.Cause(ctx), filestore.ErrScannerUnavailable):
			err = context.Cause(ctx) // clamd did not answer PING
		default:
			err = fmt.Errorf("the content did not end within ScanTimeout %v: %w", c.opts.ScanTimeout, filestore.ErrScanIncomplete)
		}
	}()

	replies := make(chan reply, 1)
	go func() {
		text, err := readReply(conn)
		replies <- reply{text, err}
	}()
	var res reply
	replied := false
	defer func() {
		if !replied { // unblock and join the reply reader
			conn.Close()
			<-replies
		}
	}()

	// write sends b within ReadTimeout, asking for a PING (probe) every
	// ProbeAfter that clamd takes nothing: a failure ends ctx, which closes
	// conn. A write that times out has sent b[:n] and may go on after a new
	// deadline.
	write := func(b []byte) error {
		limit := time.Now().Add(c.opts.ReadTimeout)
		for {
			deadline, probe := limit, false
			if t := time.Now().Add(c.opts.ProbeAfter); t.Before(limit) {
				deadline, probe = t, true
			}
			if err := conn.SetWriteDeadline(deadline); err != nil {
				return err
			}
			n, err := conn.Write(b)
			b = b[n:]
			if !probe || !errors.Is(err, os.ErrDeadlineExceeded) {
				return err
			}
			c.probe(ctx, false, false)
		}
	}
	writeErr := write([]byte(cmdInstream))
	buf := make([]byte, 4+c.opts.ChunkSize)
	var watch *time.Timer // StallTimeout of the chunk being filled
	defer func() {
		if watch != nil {
			watch.Stop()
		}
	}()
	for writeErr == nil && !ended {
		select {
		case res = <-replies: // clamd answered before the end: stop sending
			replied = true
		default:
		}
		if replied {
			break
		}
		if err := ctx.Err(); err != nil {
			return "", sent, err
		}
		if watch == nil {
			watch = time.AfterFunc(c.opts.StallTimeout, onStall)
		} else {
			watch.Reset(c.opts.StallTimeout)
		}
		n, rerr := fill(r, buf[4:], ctx.Done())
		if !watch.Stop() {
			<-ctx.Done() // onStall is ending it
		}
		if err := ctx.Err(); err != nil {
			return "", sent, err
		}
		if n > 0 {
			if lim := c.opts.StreamMaxLength; lim > 0 && sent+int64(n) > lim {
				return "", sent, fmt.Errorf("content exceeds StreamMaxLength %d: %w", lim, filestore.ErrScanLimit)
			}
			binary.BigEndian.PutUint32(buf[:4], uint32(n))
			if writeErr = write(buf[:4+n]); writeErr != nil {
				break
			}
			sent += int64(n)
		}
		switch {
		case rerr == nil:
		case rerr == io.EOF:
			clear(buf[:4])
			if writeErr = write(buf[:4]); writeErr == nil {
				ended = true
			}
		default:
			return "", sent, &readError{rerr}
		}
	}

	if !replied {
		// A write error (EPIPE, ECONNRESET) may follow a reply clamd sent
		// before closing, so the reply is read in every case. Setting the
		// deadline fails only on a connection closed by ctx, and then the
		// reader returns at once anyway.
		_ = conn.SetReadDeadline(time.Now().Add(c.opts.ReadTimeout))
		res = c.awaitReply(ctx, replies)
		replied = true
	}
	if strings.HasPrefix(res.text, replyReadTimedOut) {
		return "", sent, fmt.Errorf("clamd dropped the stream, fed too slowly: %q: %w", strings.TrimSpace(res.text), filestore.ErrScanIncomplete)
	}
	if res.err != nil {
		if writeErr != nil {
			return "", sent, fmt.Errorf("%w (after write error: %v)", res.err, writeErr)
		}
		return "", sent, res.err
	}
	sig, err = parseScanReply(res.text)
	if err == nil && sig == "" && !ended {
		err = fmt.Errorf("clamd answered %q before the end of the stream: %w", res.text, filestore.ErrScannerUnavailable)
	}
	return sig, sent, err
}

// acquire waits for a scan slot until ctx ends, asking for a PING (probe)
// every ProbeAfter of the wait: a failure ends ctx. It takes no slot once
// ctx has ended, even when one is free, nor while clamd is down: a failed
// PING ends the registered scans one after the other, and the slots of the
// first ones are freed while the others are still to be ended (a scan
// that sees clamd down here is one of those, since new scans wait for a
// PING that answers before they come here).
func (c *ClamAV) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case c.slots <- struct{}{}:
	default:
		if err := c.waitSlot(ctx); err != nil {
			return err
		}
	}
	if c.live.down.Load() || ctx.Err() != nil {
		<-c.slots
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// waitSlot is acquire's wait for a slot that is not free at once.
func (c *ClamAV) waitSlot(ctx context.Context) error {
	t := time.NewTimer(c.opts.ProbeAfter)
	defer t.Stop()
	for {
		select {
		case c.slots <- struct{}{}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			c.probe(ctx, false, false)
			t.Reset(c.opts.ProbeAfter)
		}
	}
}

// awaitReply returns the reply reader's answer, asking for a PING (probe)
// every ProbeAfter of the wait: a failure ends ctx, which closes the
// connection and so ends the reader.
func (c *ClamAV) awaitReply(ctx context.Context, replies <-chan reply) reply {
	if c.opts.ProbeAfter >= c.opts.ReadTimeout {
		return <-replies
	}
	t := time.NewTimer(c.opts.ProbeAfter)
	defer t.Stop()
	for {
		select {
		case r := <-replies:
			return r
		case <-t.C:
			c.probe(ctx, false, false)
			t.Reset(c.opts.ProbeAfter)
		}
	}
}

// fill reads into b until it is full, r fails or done is closed (checked
// after every Read), and returns r's own error: io.EOF at the end of the
// content. io.ReadFull would turn an end after some bytes into
// io.ErrUnexpectedEOF, the very error a reader of a body cut off returns,
// and the scan would then take truncated content for whole.
func fill(r io.Reader, b []byte, done <-chan struct{}) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
		select {
		case <-done:
			return n, nil
		default:
		}
	}
	return n, nil
}
