package faults

import (
	"context"
	"database/sql/driver"
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

func (c *conn) Prepare(query string) (driver.Stmt, error) { return c.inner.Prepare(query) }

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if p, ok := c.inner.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	return c.inner.Prepare(query)
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
	r := c.in.check(OpExec, query)
	if r != nil && !r.Applied {
		return nil, c.in.fire(r)
	}
	res, err := e.ExecContext(ctx, query, args)
	if err != nil || r == nil {
		return res, err
	}
	return nil, c.in.fire(r)
}

// QueryContext runs a query, unless OpQuery fails it.
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.inner.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	if r := c.in.check(OpQuery, query); r != nil {
		return nil, c.in.fire(r)
	}
	return q.QueryContext(ctx, query, args)
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
