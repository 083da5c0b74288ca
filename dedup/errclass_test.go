package dedup

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
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
