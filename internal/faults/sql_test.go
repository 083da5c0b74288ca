package faults_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/internal/faults"
	"github.com/google/go-cmp/cmp"
	"modernc.org/sqlite"
)

func newDB(t *testing.T) (*sql.DB, *faults.Injector) {
	t.Helper()
	c, err := sqlite.NewConnector("file:" + filepath.Join(t.TempDir(), "t.db") + "?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	in := faults.New()
	db := sql.OpenDB(faults.NewConnector(c, in))
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	return db, in
}

func rows(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rs, err := db.Query(`SELECT v FROM t ORDER BY v`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var vs []int
	for rs.Next() {
		var v int
		if err := rs.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

// insertTx inserts v in a transaction.
func insertTx(ctx context.Context, db *sql.DB, v int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, v); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func TestConnectorFaults(t *testing.T) {
	isInsert := func(q string) bool { return strings.HasPrefix(q, "INSERT") }
	tests := []struct {
		name      string
		rule      faults.Rule
		op        func(ctx context.Context, db *sql.DB) error
		transient bool
		want      []int
	}{
		{"begin", faults.Rule{Op: faults.OpBegin},
			func(ctx context.Context, db *sql.DB) error { return insertTx(ctx, db, 2) }, true, []int{1}},
		{"exec, matched by its SQL", faults.Rule{Op: faults.OpExec, Match: isInsert, Err: faults.SerializationFailure()},
			func(ctx context.Context, db *sql.DB) error { return insertTx(ctx, db, 2) }, true, []int{1}},
		{"commit fails: rolled back", faults.Rule{Op: faults.OpCommit},
			func(ctx context.Context, db *sql.DB) error { return insertTx(ctx, db, 2) }, true, []int{1}},
		{"commit applied, reply lost: committed", faults.Rule{Op: faults.OpCommit, Applied: true},
			func(ctx context.Context, db *sql.DB) error { return insertTx(ctx, db, 2) }, true, []int{1, 2}},
		{"exec applied outside a transaction", faults.Rule{Op: faults.OpExec, Applied: true},
			func(ctx context.Context, db *sql.DB) error {
				_, err := db.ExecContext(ctx, `INSERT INTO t (v) VALUES (3)`)
				return err
			}, true, []int{1, 3}},
		{"query denied", faults.Rule{Op: faults.OpQuery, Err: faults.Denied()},
			func(ctx context.Context, db *sql.DB) error {
				var n int
				return db.QueryRowContext(ctx, `SELECT COUNT(*) FROM t`).Scan(&n)
			}, false, []int{1}},
		{"prepared exec, matched by its SQL", faults.Rule{Op: faults.OpExec, Match: isInsert},
			func(ctx context.Context, db *sql.DB) error {
				st, err := db.PrepareContext(ctx, `INSERT INTO t (v) VALUES (?)`)
				if err != nil {
					return err
				}
				defer st.Close()
				_, err = st.ExecContext(ctx, 4)
				return err
			}, true, []int{1}},
		{"prepared exec applied", faults.Rule{Op: faults.OpExec, Applied: true},
			func(ctx context.Context, db *sql.DB) error {
				st, err := db.PrepareContext(ctx, `INSERT INTO t (v) VALUES (?)`)
				if err != nil {
					return err
				}
				defer st.Close()
				_, err = st.ExecContext(ctx, 5)
				return err
			}, true, []int{1, 5}},
		{"prepared query denied", faults.Rule{Op: faults.OpQuery, Err: faults.Denied()},
			func(ctx context.Context, db *sql.DB) error {
				st, err := db.PrepareContext(ctx, `SELECT COUNT(*) FROM t WHERE v > ?`)
				if err != nil {
					return err
				}
				defer st.Close()
				var n int
				return st.QueryRowContext(ctx, 0).Scan(&n)
			}, false, []int{1}},
		{"query applied outside a transaction: committed, reply lost", faults.Rule{Op: faults.OpQuery, Applied: true},
			func(ctx context.Context, db *sql.DB) error {
				var v int
				return db.QueryRowContext(ctx, `INSERT INTO t (v) VALUES (6) RETURNING v`).Scan(&v)
			}, true, []int{1, 6}},
		{"prepared query applied", faults.Rule{Op: faults.OpQuery, Applied: true},
			func(ctx context.Context, db *sql.DB) error {
				st, err := db.PrepareContext(ctx, `INSERT INTO t (v) VALUES (?) RETURNING v`)
				if err != nil {
					return err
				}
				defer st.Close()
				var v int
				return st.QueryRowContext(ctx, 7).Scan(&v)
			}, true, []int{1, 7}},
		{"ping", faults.Rule{Op: faults.OpPing},
			func(ctx context.Context, db *sql.DB) error { return db.PingContext(ctx) }, true, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db, in := newDB(t)
			if err := insertTx(ctx, db, 1); err != nil {
				t.Fatal(err)
			}
			if tt.rule.Err == nil {
				tt.rule.Err = faults.Unavailable()
			}
			in.Arm(tt.rule)
			err := tt.op(ctx, db)
			if !errors.Is(err, tt.rule.Err) {
				t.Fatalf("error %v, want the injected one", err)
			}
			if got := dedup.IsTransient(err); got != tt.transient {
				t.Errorf("dedup.IsTransient(%v) = %v, want %v", err, got, tt.transient)
			}
			in.Disarm()
			if diff := cmp.Diff(tt.want, rows(t, db)); diff != "" {
				t.Errorf("rows afterwards (-want +got):\n%s", diff)
			}
			if n := in.Fired(tt.rule.Op); n != 1 {
				t.Errorf("Fired(%s) = %d, want 1", tt.rule.Op, n)
			}
		})
	}
}

// A connect failure reaches the caller; database/sql retries
// driver.ErrBadConn itself on a fresh connection, which a test of retries
// must know: it is invisible above database/sql.
func TestConnectorConnectAndBadConn(t *testing.T) {
	ctx := context.Background()
	db, in := newDB(t)
	db.SetMaxIdleConns(0) // every call connects
	in.Arm(faults.Rule{Op: faults.OpConnect})
	if err := db.PingContext(ctx); !dedup.IsTransient(err) {
		t.Fatalf("Ping with a failing connect: %v, want a transient error", err)
	}
	in.Reset()
	in.Arm(faults.Rule{Op: faults.OpExec, Err: driver.ErrBadConn})
	if _, err := db.ExecContext(ctx, `INSERT INTO t (v) VALUES (5)`); err != nil {
		t.Fatalf("Exec after one bad connection: %v; database/sql should have retried it", err)
	}
	if diff := cmp.Diff([]int{5}, rows(t, db)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if got := [2]int{in.Calls(faults.OpExec), in.Fired(faults.OpExec)}; got != [2]int{2, 1} {
		t.Errorf("Exec calls, fired = %v, want [2 1]", got)
	}
}
