package retry

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestNetwork(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"reset in an OpError", &net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}, true},
		{"dial refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{"bare reset", fmt.Errorf("conn: %w", syscall.ECONNRESET), true},
		{"broken pipe", syscall.EPIPE, true},
		{"deadline of a connection", os.ErrDeadlineExceeded, true},
		{"not a directory", &fs.PathError{Op: "open", Path: "o/ab", Err: syscall.ENOTDIR}, false},
		{"no space", syscall.ENOSPC, false},
		{"permission", fmt.Errorf("write: %w", &fs.PathError{Op: "write", Path: "x", Err: syscall.EACCES}), false},
		{"plain", errors.New("something else"), false},
	} {
		if got := Network(tt.err); got != tt.want {
			t.Errorf("Network(%s: %v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
