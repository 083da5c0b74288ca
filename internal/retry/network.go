package retry

import (
	"errors"
	"net"
	"syscall"
)

// Network reports whether err is a failure of the network worth retrying:
// a *net.OpError (a dial, read or write of a connection that failed), a
// net.Error that timed out, or one of a connection's own errnos (reset,
// refused, aborted, broken pipe, timed out). Not any net.Error: a
// syscall.Errno has a net.Error's methods too, and the file system's
// (ENOTDIR, EACCES, ENOSPC...) are no reason to retry.
func Network(err error) bool {
	var opErr *net.OpError
	var netErr net.Error
	return errors.As(err, &opErr) || errors.As(err, &netErr) && netErr.Timeout() ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ETIMEDOUT)
}
