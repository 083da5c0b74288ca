package faults

import (
	"database/sql/driver"
	"testing"

	"github.com/filestore-go/filestore/dedup"
	"github.com/uptrace/bun"
)

// OpenDB opens the database at rawURL with dedup.OpenDB, every setting
// of it included, and its connections through a Connector that fails
// calls as in's rules say (dedup.WithConnector); the database closes when
// t ends. OpenDB's own first connection and ping go through in too, so
// rules added before OpenDB see them. An error fails t.
func OpenDB(t testing.TB, rawURL string, in *Injector) *bun.DB {
	t.Helper()
	db, err := dedup.OpenDB(t.Context(), rawURL, dedup.WithConnector(func(c driver.Connector) driver.Connector {
		return NewConnector(c, in)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
