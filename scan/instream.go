package scan

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
// never reads r after it has returned. clamd itself drops a stream that
// pauses for longer than its own ReadTimeout (120s by default). It stops
// early with an error:
//   - wrapping filestore.ErrScanLimit when the content exceeds what clamd
//     scans: over StreamMaxLength (clamd's "INSTREAM size limit exceeded",
//     or Options.StreamMaxLength), or a "Heuristics.Limits.Exceeded.*"
//     verdict of AlertExceedsMax, which means not (wholly) scanned rather
//     than infected;
//   - wrapping filestore.ErrScannerUnavailable when clamd cannot be reached,
//     answers an error or nonsense, or misses DialTimeout, ReadTimeout or
//     ScanTimeout;
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
	ctx, cancel := context.WithTimeout(ctx, c.opts.ScanTimeout)
	defer cancel()

	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, c.fail(parent, ctx, "waiting for a free connection", ctx.Err())
	}
	defer func() { <-c.slots }()

	v, err := c.cachedVersion(ctx)
	if err != nil {
		return nil, c.fail(parent, ctx, "VERSION", err)
	}
	sig, sent, err := c.instream(ctx, r)
	var rerr *readError
	switch {
	case err == nil:
	case parent.Err() == nil && errors.As(err, &rerr):
		err = fmt.Errorf("scan: read content: %w", rerr.err)
	default:
		err = c.fail(parent, ctx, "INSTREAM", err)
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
// returns. Errors are raw except ErrScanLimit/ErrScannerUnavailable ones and
// *readError; Scan classifies them.
func (c *ClamAV) instream(ctx context.Context, r io.Reader) (sig string, sent int64, err error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return "", 0, err
	}
	release := closeOnDone(ctx, conn)
	defer release()

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

	write := func(b []byte) error {
		if err := conn.SetWriteDeadline(time.Now().Add(c.opts.ReadTimeout)); err != nil {
			return err
		}
		_, err := conn.Write(b)
		return err
	}
	ended := false // the terminating zero-length chunk was sent
	writeErr := write([]byte(cmdInstream))
	buf := make([]byte, 4+c.opts.ChunkSize)
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
		n, rerr := fill(r, buf[4:])
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
		res = <-replies
		replied = true
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

// fill reads into b until it is full or r fails, and returns r's own error:
// io.EOF at the end of the content. io.ReadFull would turn an end after
// some bytes into io.ErrUnexpectedEOF, the very error a reader of a body
// cut off returns, and the scan would then take truncated content for
// whole.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
