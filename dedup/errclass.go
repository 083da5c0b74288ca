package dedup

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"strings"

	"github.com/filestore-go/filestore/internal/retry"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// IsTransient reports whether err is a database error worth retrying: a
// broken or refused connection, a server shutting down, a serialization
// failure or deadlock (PostgreSQL), a busy or locked database (SQLite).
// Context errors and constraint violations are not transient.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	// Before the driver errors: it wraps the unique violation that lost
	// the race, which alone is not transient.
	if errors.Is(err, errRetryOverwrite) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "40001", pgErr.Code == "40P01", // serialization failure, deadlock
			pgErr.Code == "55P03",                                               // lock not available
			pgErr.Code == "53300",                                               // too many connections
			strings.HasPrefix(pgErr.Code, "08"),                                 // connection exceptions
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // shutdown, cannot connect now
			return true
		}
		return false
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
		return false
	}
	// A pooled connection that broke (say, the server restarted) fails at
	// its next use; a fresh one may well work.
	if errors.Is(err, pgconn.ErrConnClosed) {
		return true
	}
	if pgconn.SafeToRetry(err) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	if retry.Network(err) {
		return true
	}
	var connectErr *pgconn.ConnectError
	return errors.As(err, &connectErr)
}

// refusedTransient reports whether err is transient (IsTransient) and
// also says that the statement or commit it answers took no effect: the
// database refused it (a PostgreSQL error other than one of a connection
// or of a server going away, which may come after a commit took effect; a
// SQLite error), or it was never sent (no connection could be opened, pgx
// sent nothing, or database/sql found the connection bad before using
// it). A connection lost while waiting for the reply leaves the outcome
// unknown, as does a try that ran out of time (ErrNoAnswer): a retry of a
// change that is not idempotent would then risk making it twice.
func refusedTransient(err error) bool {
	if !IsTransient(err) {
		return false
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return !strings.HasPrefix(pgErr.Code, "08") && !strings.HasPrefix(pgErr.Code, "57")
	}
	var sqliteErr *sqlite.Error
	return errors.As(err, &sqliteErr) || pgconn.SafeToRetry(err) || errors.Is(err, driver.ErrBadConn)
}

// isUniqueViolation reports whether err is a unique-constraint violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		return sqliteErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || sqliteErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// errRetryOverwrite: an overwrite lost a race for the path to another
// insert; trying again trashes the winner.
var errRetryOverwrite = errors.New("dedup: overwrite raced with another insert")
