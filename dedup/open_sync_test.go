package dedup_test

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"

	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/internal/testenv"
)

// TestOpenPostgresSynchronousCommit: a PostgreSQL catalogue commits
// durably (the WAL flushed before COMMIT returns) even on a database or
// role whose synchronous_commit is off, on every pooled connection; any
// other level the server has is kept, and a synchronous_commit parameter
// in the URL is the caller's explicit choice, honoured as it is. Before,
// a database set to off acknowledged uploads whose rows a server crash
// could lose.
func TestOpenPostgresSynchronousCommit(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		database string // the database's own synchronous_commit ("": the server's, on)
		param    string // the URL's synchronous_commit
		want     string
	}{
		{name: "server default", want: "on"},
		{name: "database off", database: "off", want: "on"},
		{name: "database local", database: "local", want: "local"},
		{name: "database remote_apply", database: "remote_apply", want: "remote_apply"},
		{name: "database off, URL off", database: "off", param: "off", want: "off"},
		{name: "URL off", param: "off", want: "off"},
		{name: "URL local", param: "local", want: "local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := testenv.PostgresDatabase(t)
			u, err := url.Parse(base)
			if err != nil {
				t.Fatal(err)
			}
			if tt.database != "" {
				admin, err := dedup.OpenDB(ctx, base)
				if err != nil {
					t.Fatal(err)
				}
				_, err = admin.ExecContext(ctx, "ALTER DATABASE "+strings.TrimPrefix(u.Path, "/")+" SET synchronous_commit = "+tt.database)
				admin.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			if tt.param != "" {
				q := u.Query()
				q.Set("synchronous_commit", tt.param)
				u.RawQuery = q.Encode()
			}
			db, err := dedup.OpenDB(ctx, u.String())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			eachConn(t, db, 3, func(i int, conn *sql.Conn) {
				var got string
				scanRows(t, conn, map[string]any{"SHOW synchronous_commit": &got})
				if got != tt.want {
					t.Errorf("connection %d: synchronous_commit %q, want %q", i, got, tt.want)
				}
			})
		})
	}
}
