package dedup

import (
	"context"

	"github.com/uptrace/bun"
)

// MigrateTo brings a database's schema to version n (an older one, to test
// upgrades).
func MigrateTo(ctx context.Context, db *bun.DB, n int) error {
	return migrate(ctx, db, migrations()[:n], nil)
}

// ObjectsOfSizeSQL is the text of ObjectsOfSize's query, to check its plan.
func ObjectsOfSizeSQL(c *Catalog, owner string, size int64) string {
	return c.objectsOfSize(owner, size).String()
}

// RefusedTransient is refusedTransient, for the tests of the errors it
// accepts.
var RefusedTransient = refusedTransient
