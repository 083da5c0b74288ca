package scan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/filestore-go/filestore"
)

// clamd's protocol, as used here: one command per connection, z-prefixed, so
// that the command and every reply end in a NUL byte. INSTREAM's data follows
// the command as chunks, each a 4-byte big-endian length and that many bytes,
// ended by a zero length.
const (
	cmdPing     = "zPING\x00"
	cmdVersion  = "zVERSION\x00"
	cmdInstream = "zINSTREAM\x00"

	// maxReplyLen bounds a reply, so that a peer that is not clamd cannot
	// make a Scan buffer without end. Real replies are a line.
	maxReplyLen = 4 << 10

	replyPong          = "PONG"
	streamPrefix       = "stream: "
	replyOK            = "OK"
	suffixFound        = " FOUND"
	suffixError        = " ERROR"
	sizeLimitExceeded  = "INSTREAM size limit exceeded"
	limitsExceededName = "Heuristics.Limits.Exceeded"

	// replyReadTimedOut is what clamd says, ending it in a newline rather
	// than a NUL, before closing a connection whose stream sent nothing for
	// its ReadTimeout.
	replyReadTimedOut = "COMMAND READ TIMED OUT"
)

// errNoReply is the cause when clamd closes the connection without a word.
var errNoReply = errors.New("connection closed without a reply")

// readReply reads one NUL-terminated reply and returns it without the NUL.
// Bytes after the NUL are ignored (one command per connection). A reply cut
// short by the end of the connection comes back as it is, with an error
// wrapping io.ErrUnexpectedEOF: clamd ends some replies (replyReadTimedOut)
// in a newline and closes.
func readReply(r io.Reader) (string, error) {
	var buf [512]byte
	var reply []byte
	for {
		n, err := r.Read(buf[:])
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			return string(append(reply, buf[:i]...)), nil
		}
		reply = append(reply, buf[:n]...)
		if len(reply) > maxReplyLen {
			return "", fmt.Errorf("reply longer than %d bytes without a NUL", maxReplyLen)
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF) && len(reply) == 0:
			return "", errNoReply
		case errors.Is(err, io.EOF):
			return string(reply), fmt.Errorf("reply %q cut short: %w", reply, io.ErrUnexpectedEOF)
		default:
			return "", err
		}
	}
}

// unnamedSignature is the Signature of a finding whose reply gave no name.
const unnamedSignature = "(unnamed)"

// parseScanReply reads clamd's answer to INSTREAM, NUL already removed:
//
//	stream: OK                                  clean: "", nil
//	stream: <name> FOUND                        infected: name, nil (any name:
//	                                            control characters become ?,
//	                                            none is "(unnamed)")
//	stream: Heuristics.Limits.Exceeded.* FOUND  not scanned (AlertExceedsMax): ErrScanLimit
//	INSTREAM size limit exceeded. ERROR         not scanned: ErrScanLimit
//	<anything> ERROR                            ErrScannerUnavailable
//
// Anything else is a protocol error wrapping ErrScannerUnavailable.
func parseScanReply(reply string) (signature string, err error) {
	if msg, ok := strings.CutSuffix(reply, suffixError); ok {
		msg = strings.TrimPrefix(msg, streamPrefix)
		if strings.HasPrefix(msg, sizeLimitExceeded) {
			return "", fmt.Errorf("clamd refused the stream (over its StreamMaxLength): %q: %w", msg, filestore.ErrScanLimit)
		}
		return "", fmt.Errorf("clamd error %q: %w", msg, filestore.ErrScannerUnavailable)
	}
	rest, ok := strings.CutPrefix(reply, streamPrefix)
	if !ok {
		return "", fmt.Errorf("unexpected clamd reply %q: %w", reply, filestore.ErrScannerUnavailable)
	}
	if rest == replyOK {
		return "", nil
	}
	name, ok := strings.CutSuffix(rest, suffixFound)
	if !ok {
		return "", fmt.Errorf("unexpected clamd reply %q: %w", reply, filestore.ErrScannerUnavailable)
	}
	// clamd found something: whatever the name looks like (a third-party
	// signature may have spaces), that is a finding, never a scanner that
	// could not answer, which fail-open would store.
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, strings.TrimSpace(name))
	if name == "" {
		name = unnamedSignature
	}
	if name == limitsExceededName || strings.HasPrefix(name, limitsExceededName+".") {
		return "", fmt.Errorf("clamd did not scan it all: %s: %w", name, filestore.ErrScanLimit)
	}
	return name, nil
}
