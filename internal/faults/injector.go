// Package faults injects failures into the two dependencies of a Store, for
// tests: a gocloud.dev/blob driver (Bucket) and a database/sql connector
// (Connector) that delegate to real ones and make chosen calls fail, once,
// a few times or for good, before the call, mid-stream, or after it took
// effect (a lost reply).
//
// Both consult an Injector, which holds the armed Rules and counts calls:
//
//	in := faults.New()
//	bkt := faults.OpenBucket(fileblobBucket, in)                  // *blob.Bucket
//	db := bun.NewDB(sql.OpenDB(faults.NewConnector(c, in)), dialect)
//	st, _ := filestore.New(ctx, db, bkt, opts)
//	in.Arm(faults.Rule{Op: faults.OpCommit, Err: faults.Unavailable()})
//
// The package also starts private instances of the real services (versitygw,
// PostgreSQL) that tests stop and restart; see S3Server and PostgresServer.
// Nothing here keeps package-level state.
package faults

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"gocloud.dev/gcerrors"
)

// Op names an operation that a Rule can fail.
type Op string

// Bucket operations (see Bucket). For OpWrite and OpRead a call is one
// stream: a writer or reader counts as one call when it is opened, and its
// failure happens once Rule.After bytes have passed through it.
const (
	OpNewWriter  Op = "bucket.NewTypedWriter"
	OpWrite      Op = "bucket.Write"
	OpClose      Op = "bucket.WriterClose"
	OpNewReader  Op = "bucket.NewRangeReader"
	OpRead       Op = "bucket.Read"
	OpDelete     Op = "bucket.Delete"
	OpList       Op = "bucket.ListPaged"
	OpAttributes Op = "bucket.Attributes"
	OpCopy       Op = "bucket.Copy"
)

// Database operations (see Connector). The subject a Rule's Match sees is
// the SQL text for OpExec and OpQuery, and "" for the others.
const (
	OpConnect Op = "db.Connect"
	OpPing    Op = "db.Ping"
	OpBegin   Op = "db.Begin"
	OpExec    Op = "db.Exec"
	OpQuery   Op = "db.Query"
	OpCommit  Op = "db.Commit"
)

// Forever as Rule.Times makes a rule fail every matching call.
const Forever = -1

// Rule makes calls of one operation fail.
type Rule struct {
	// Op is the operation to fail.
	Op Op
	// Match, when set, restricts the rule to the calls whose subject it
	// accepts: the object key for bucket operations (the prefix for
	// OpList), the SQL text for OpExec and OpQuery.
	Match func(subject string) bool
	// Skip lets this many matching calls through before the first failure.
	Skip int
	// Times is how many matching calls fail after the skipped ones: 0 means
	// one, Forever means all of them.
	Times int
	// After, for OpWrite and OpRead, lets this many bytes of the stream
	// through before the failure; the stream fails mid-way (never, if it is
	// shorter). Other operations ignore it.
	After int64
	// Applied makes the operation take effect before the error is returned,
	// as when the reply to a successful request is lost: the transaction
	// commits (OpCommit), the object is stored (OpClose), deleted
	// (OpDelete), the statement runs (OpExec), the query runs to its end
	// (OpQuery; outside a transaction, it commits). Otherwise the failed call
	// has no effect: a failed commit rolls back, a writer failed mid-stream
	// or at Close discards its object.
	Applied bool
	// Err is the error to return. Nil means Unavailable().
	Err error
	// OnFire, when set, is called each time the rule fails a call, before
	// the error is returned (for example to cancel the caller's context at
	// that exact point).
	OnFire func()
}

// Injector holds armed rules and counts calls. It is safe for concurrent use;
// the zero value is not usable, make one with New.
type Injector struct {
	mu    sync.Mutex
	rules []*armed
	calls map[Op]int
	fired map[Op]int
}

type armed struct {
	Rule
	seen, due int
}

// New returns an Injector with no rule armed.
func New() *Injector {
	return &Injector{calls: map[Op]int{}, fired: map[Op]int{}}
}

// Arm adds a rule. Rules are tried in the order they were armed: the first
// one due fails the call, and the rules after it do not see that call.
func (in *Injector) Arm(r Rule) {
	if r.Err == nil {
		r.Err = Unavailable()
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = append(in.rules, &armed{Rule: r})
}

// Disarm removes every rule; calls succeed again. Counts are kept.
func (in *Injector) Disarm() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = nil
}

// Reset removes every rule and zeroes the counts.
func (in *Injector) Reset() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = nil
	in.calls = map[Op]int{}
	in.fired = map[Op]int{}
}

// Calls returns how many calls of op were made (failed ones included) since
// New or Reset.
func (in *Injector) Calls(op Op) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.calls[op]
}

// Fired returns how many calls of op failed by injection since New or Reset.
func (in *Injector) Fired(op Op) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.fired[op]
}

// check counts a call of op on subject and returns the rule that is due to
// fail it, or nil. The failure itself is reported by fire.
func (in *Injector) check(op Op, subject string) *Rule {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.calls[op]++
	for _, a := range in.rules {
		if a.Op != op || (a.Match != nil && !a.Match(subject)) {
			continue
		}
		a.seen++
		if a.seen <= a.Skip {
			continue
		}
		if a.Times != Forever && a.due >= max(a.Times, 1) {
			continue
		}
		a.due++
		r := a.Rule
		return &r
	}
	return nil
}

// count counts a call of op that no rule may fail (the Close of a writer
// whose stream already failed).
func (in *Injector) count(op Op) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.calls[op]++
}

// fire records that r failed a call and returns its error.
func (in *Injector) fire(r *Rule) error {
	in.mu.Lock()
	in.fired[r.Op]++
	in.mu.Unlock()
	if r.OnFire != nil {
		r.OnFire()
	}
	return r.Err
}

// Error is an injected failure. It carries the gcerrors code that Bucket's
// ErrorCode reports for it, and unwraps to a realistic cause that the
// database error classifiers recognise.
type Error struct {
	// Code is what a Bucket reports for this error (gcerrors.Code of the
	// error a *blob.Bucket returns).
	Code gcerrors.ErrorCode
	// Err is the cause: a syscall errno or a PostgreSQL error.
	Err error
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("faults: injected: %v", e.Err) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Unavailable returns a new transient error, as a dependency that is down or
// overloaded gives: a bucket reports gcerrors.Internal (retried by
// storage.IsTransient) and the cause is a reset connection (retried by
// dedup.IsTransient).
func Unavailable() *Error {
	return &Error{Code: gcerrors.Internal, Err: syscall.ECONNRESET}
}

// SerializationFailure returns a new transient database error: PostgreSQL's
// serialization failure (SQLSTATE 40001), retried by dedup.IsTransient
// whatever the database.
func SerializationFailure() *Error {
	return &Error{Code: gcerrors.Internal, Err: &pgconn.PgError{Severity: "ERROR", Code: "40001", Message: "could not serialize access (injected)"}}
}

// ConnClosed returns a new database error as pgx gives it when the server
// went away after a request was sent, so that its outcome is unknown: it
// wraps pgconn.ErrConnClosed (what a COMMIT whose reply was lost returns).
func ConnClosed() *Error {
	return &Error{Code: gcerrors.Internal, Err: fmt.Errorf("%w (injected)", pgconn.ErrConnClosed)}
}

// ConnRefused returns a new transient database error: pgx's
// *pgconn.ConnectError of a connection that could not be opened (the
// server is down), obtained by connecting to a port where nothing listens.
// A statement that fails with it was never sent.
func ConnRefused() *Error {
	_, err := pgconn.Connect(context.Background(), "postgres://injected@127.0.0.1:1/injected?sslmode=disable&connect_timeout=5")
	if err == nil {
		err = errors.New("faults: connecting to 127.0.0.1:1 succeeded")
	}
	return &Error{Code: gcerrors.Internal, Err: err}
}

// Denied returns a new permanent error, as a dependency that refuses the
// caller gives: a bucket reports gcerrors.PermissionDenied and the database
// cause is SQLSTATE 42501 (insufficient privilege). Neither
// storage.IsTransient nor dedup.IsTransient retries it.
func Denied() *Error {
	return &Error{Code: gcerrors.PermissionDenied, Err: &pgconn.PgError{Severity: "ERROR", Code: "42501", Message: "permission denied (injected)"}}
}
