package faults

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
)

// Connector is a database/sql connector that delegates to an inner one (pgx's
// stdlib.GetConnector, modernc's sqlite.NewConnector, ...) and fails the
// connects, pings, transaction begins, statements and commits that its
// Injector's rules select. Open a pool with sql.OpenDB(connector); no
// driver is registered.
type Connector struct {
	inner driver.Connector
	in    *Injector
}

var _ driver.Connector = (*Connector)(nil)

// NewConnector returns a connector over inner whose faults in decides.
func NewConnector(inner driver.Connector, in *Injector) *Connector {
	return &Connector{inner: inner, in: in}
}

// Connect opens a connection of the inner connector, unless OpConnect
// fails.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	if r := c.in.check(OpConnect, ""); r != nil {
		return nil, c.in.fire(r)
	}
	cn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &conn{inner: cn, in: c.in}, nil
}

// Driver returns the inner connector's driver.
func (c *Connector) Driver() driver.Driver { return c.inner.Driver() }

// conn wraps one connection. It implements the optional interfaces that
// database/sql looks for, delegating to the inner connection when it has
// them and answering driver.ErrSkip (use the generic path) when it has not.
type conn struct {
	inner driver.Conn
	in    *Injector
}

var (
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
)

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// PrepareContext prepares a statement whose executions fail like the
// connection's own: OpExec and OpQuery rules apply to them too.
func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var st driver.Stmt
	var err error
	if p, ok := c.inner.(driver.ConnPrepareContext); ok {
		st, err = p.PrepareContext(ctx, query)
	} else {
		st, err = c.inner.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &stmt{inner: st, in: c.in, query: query}, nil
}

func (c *conn) Close() error { return c.inner.Close() }

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx begins a transaction, unless OpBegin fails.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if r := c.in.check(OpBegin, ""); r != nil {
		return nil, c.in.fire(r)
	}
	var tx driver.Tx
	var err error
	if b, ok := c.inner.(driver.ConnBeginTx); ok {
		tx, err = b.BeginTx(ctx, opts)
	} else {
		//lint:ignore SA1019 the fallback database/sql itself uses for drivers without BeginTx
		tx, err = c.inner.Begin()
	}
	if err != nil {
		return nil, err
	}
	return &txn{inner: tx, in: c.in}, nil
}

// ExecContext runs a statement, unless OpExec fails it (after running it,
// for an Applied rule).
func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.inner.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	return c.in.exec(query, func() (driver.Result, error) { return e.ExecContext(ctx, query, args) })
}

// QueryContext runs a query, unless OpQuery fails it (after running it to
// its end, for an Applied rule).
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.inner.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	return c.in.query(query, func() (driver.Rows, error) { return q.QueryContext(ctx, query, args) })
}

// exec runs a statement under the OpExec rules (see underRule).
func (in *Injector) exec(query string, run func() (driver.Result, error)) (driver.Result, error) {
	return underRule(in, OpExec, query, run, nil)
}

// query runs a query under the OpQuery rules (see underRule); an Applied
// rule runs the query to its end first.
func (in *Injector) query(query string, run func() (driver.Rows, error)) (driver.Rows, error) {
	return underRule(in, OpQuery, query, run, drain)
}

// underRule runs a call of op under the matching rule: a failed call has
// no effect, unless the rule is Applied, in which case the call runs (and
// finish, when not nil, completes it) before the rule's error is returned.
func underRule[T any](in *Injector, op Op, query string, run func() (T, error), finish func(T) error) (T, error) {
	var none T
	r := in.check(op, query)
	if r != nil && !r.Applied {
		return none, in.fire(r)
	}
	v, err := run()
	if err != nil || r == nil {
		return v, err
	}
	if finish != nil {
		if err := finish(v); err != nil {
			return none, err
		}
	}
	return none, in.fire(r)
}

// drain reads rows to their end and closes them, so that the statement
// has completed (and, outside a transaction, committed).
func drain(rows driver.Rows) error {
	dest := make([]driver.Value, len(rows.Columns()))
	for {
		err := rows.Next(dest)
		if err == io.EOF {
			return rows.Close()
		}
		if err != nil {
			_ = rows.Close()
			return err
		}
	}
}

// Ping pings the inner connection, unless OpPing fails.
func (c *conn) Ping(ctx context.Context) error {
	if r := c.in.check(OpPing, ""); r != nil {
		return c.in.fire(r)
	}
	if p, ok := c.inner.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *conn) ResetSession(ctx context.Context) error {
	if s, ok := c.inner.(driver.SessionResetter); ok {
		return s.ResetSession(ctx)
	}
	return nil
}

func (c *conn) IsValid() bool {
	if v, ok := c.inner.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.inner.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// txn wraps a transaction whose Commit can fail.
type txn struct {
	inner driver.Tx
	in    *Injector
}

// Commit commits, unless OpCommit fails it: the transaction is then rolled
// back, or, for an Applied rule, committed with the error returned anyway
// (the reply was lost).
func (t *txn) Commit() error {
	r := t.in.check(OpCommit, "")
	if r == nil {
		return t.inner.Commit()
	}
	if !r.Applied {
		_ = t.inner.Rollback()
		return t.in.fire(r)
	}
	if err := t.inner.Commit(); err != nil {
		return err
	}
	return t.in.fire(r)
}

func (t *txn) Rollback() error { return t.inner.Rollback() }

// stmt wraps a prepared statement, failing its executions as conn fails
// the unprepared ones.
type stmt struct {
	inner driver.Stmt
	in    *Injector
	query string
}

var (
	_ driver.StmtExecContext  = (*stmt)(nil)
	_ driver.StmtQueryContext = (*stmt)(nil)
)

func (s *stmt) Close() error  { return s.inner.Close() }
func (s *stmt) NumInput() int { return s.inner.NumInput() }

// Exec is never called: database/sql uses ExecContext.
func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return nil, errors.New("faults: Stmt.Exec without a context is not supported")
}

// Query is never called: database/sql uses QueryContext.
func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return nil, errors.New("faults: Stmt.Query without a context is not supported")
}

// ExecContext runs the statement, unless OpExec fails it (after running
// it, for an Applied rule).
func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	e, ok := s.inner.(driver.StmtExecContext)
	if !ok {
		return nil, errors.New("faults: the driver's statement has no ExecContext")
	}
	return s.in.exec(s.query, func() (driver.Result, error) { return e.ExecContext(ctx, args) })
}

// QueryContext runs the statement as a query, unless OpQuery fails it
// (after running it to its end, for an Applied rule).
func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := s.inner.(driver.StmtQueryContext)
	if !ok {
		return nil, errors.New("faults: the driver's statement has no QueryContext")
	}
	return s.in.query(s.query, func() (driver.Rows, error) { return q.QueryContext(ctx, args) })
}
