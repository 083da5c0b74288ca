package dedup_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"path/filepath"
	"sync"
	"testing"

	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// connectLog records, in order, which wrapper's Connect ran.
type connectLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *connectLog) add(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, name)
}

func (l *connectLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

// loggedConnector notes each Connect under its name before the inner one.
type loggedConnector struct {
	driver.Connector
	name string
	log  *connectLog
}

func (c loggedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	c.log.add(c.name)
	return c.Connector.Connect(ctx)
}

// TestOpenWithConnector: WithConnector's wrappers see every connection
// the pool opens, OpenDB's own first one included, the last option
// outermost, nil ones (and a wrap that returns nil) ignored; and the pool
// keeps OpenDB's size and, on PostgreSQL, synchronous_commit turned on
// where the database has it off (SQLite's settings through a wrapper:
// TestOpenSQLiteSettings).
func TestOpenWithConnector(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name     string
		url      func(t *testing.T) string
		settings map[string]string // query -> value on every connection
		maxConns int
	}{
		{
			name: "sqlite",
			url:  func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "c.db") },
			// Its settings through a wrapper: TestOpenSQLiteSettings.
			maxConns: 8,
		},
		{
			name: "postgres",
			url: func(t *testing.T) string {
				url := testenv.PostgresDatabase(t)
				admin, err := dedup.OpenDB(ctx, url)
				if err != nil {
					t.Fatal(err)
				}
				defer admin.Close()
				var name string
				if err := admin.QueryRowContext(ctx, "SELECT current_database()").Scan(&name); err != nil {
					t.Fatal(err)
				}
				if _, err := admin.ExecContext(ctx, "ALTER DATABASE "+name+" SET synchronous_commit = off"); err != nil {
					t.Fatal(err)
				}
				return url
			},
			settings: map[string]string{"SHOW synchronous_commit": "on"},
			maxConns: 32,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var log connectLog
			wrapper := func(name string) func(driver.Connector) driver.Connector {
				return func(c driver.Connector) driver.Connector {
					return loggedConnector{Connector: c, name: name, log: &log}
				}
			}
			returnsNil := dedup.WithConnector(func(driver.Connector) driver.Connector { return nil })
			db, err := dedup.OpenDB(ctx, tt.url(t), dedup.WithConnector(wrapper("inner")), nil,
				dedup.WithConnector(nil), returnsNil, dedup.WithConnector(wrapper("outer")))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got, want := log.get(), []string{"outer", "inner"}; !cmp.Equal(got, want) {
				t.Fatalf("connects after OpenDB: %q, want %q (its first connection, through both wrappers, the last outermost)", got, want)
			}
			const n = 4
			eachConn(t, db, n, func(i int, conn *sql.Conn) {
				for query, want := range tt.settings {
					var got string
					if err := conn.QueryRowContext(t.Context(), query).Scan(&got); err != nil {
						t.Fatalf("connection %d: %s: %v", i, query, err)
					}
					if got != want {
						t.Errorf("connection %d: %s = %q, want %q", i, query, got, want)
					}
				}
			})
			opened := db.Stats().OpenConnections
			if got := len(log.get()); opened < n || got != 2*opened {
				t.Errorf("%d connects seen by the wrappers for %d open connections (at least %d held at once), want two per connection", got, opened, n)
			}
			if got := db.Stats().MaxOpenConnections; got != tt.maxConns {
				t.Errorf("pool of %d connections, want %d", got, tt.maxConns)
			}
		})
	}
}
