package dedup

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestIsTransient(t *testing.T) {
	tests := []struct {
		name string
		give error
		want bool
	}{
		{"nil", nil, false},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), false},
		{"deadline", context.DeadlineExceeded, false},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, true},
		{"deadlock", fmt.Errorf("tx: %w", &pgconn.PgError{Code: "40P01"}), true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"bad conn", driver.ErrBadConn, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{"overwrite race", errRetryOverwrite, true},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}, true},
		// A file system error (a bucket's, or SQLite's directory) is not
		// the network's: syscall.Errno has the methods of a net.Error.
		{"not a directory", &fs.PathError{Op: "open", Path: "o/ab", Err: syscall.ENOTDIR}, false},
		{"read-only file system", fmt.Errorf("write: %w", &fs.PathError{Op: "write", Path: "x", Err: syscall.EROFS}), false},
		{"no space", syscall.ENOSPC, false},
		// As insertFileRef returns it: the violation that lost the race,
		// not transient alone, wrapped.
		{"overwrite race, wrapping the violation", fmt.Errorf("%w: %w", errRetryOverwrite, &pgconn.PgError{Code: "23505"}), true},
		{"not found", ErrNotFound, false},
		{"conflict", ErrConflict, false},
		{"plain", errors.New("something else"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsTransient(tt.give); got != tt.want {
				t.Errorf("IsTransient(%v) = %v, want %v", tt.give, got, tt.want)
			}
		})
	}
}
