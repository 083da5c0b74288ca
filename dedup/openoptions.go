package dedup

import "database/sql/driver"

// An OpenOption changes how OpenDB opens a database.
type OpenOption func(*openOptions)

// openOptions is what OpenOptions set.
type openOptions struct {
	wrappers []func(driver.Connector) driver.Connector
}

// WithConnector has OpenDB open its connections through wrap(c), where c
// is the connector it would use: pgx's for a PostgreSQL URL, modernc's
// for a SQLite one, each with every setting OpenDB's documentation
// promises (pragmas, the transaction lock, synchronous_commit, the
// connect timeout). The wrapper sees every connection the pool opens,
// including the first, which OpenDB pings, and on SQLite the one that
// puts the file in WAL mode; the pool's size is OpenDB's. It is for
// instrumentation (tracing, metrics) and fault injection: a wrapper that
// changes what its connections do changes the catalogue's guarantees.
// Several WithConnector options wrap in order, the last outermost; a nil
// wrap, or one that returns nil, is ignored.
func WithConnector(wrap func(driver.Connector) driver.Connector) OpenOption {
	return func(o *openOptions) {
		if wrap != nil {
			o.wrappers = append(o.wrappers, wrap)
		}
	}
}

// wrap returns c wrapped by o's wrappers, in order.
func (o openOptions) wrap(c driver.Connector) driver.Connector {
	for _, w := range o.wrappers {
		if wc := w(c); wc != nil {
			c = wc
		}
	}
	return c
}
