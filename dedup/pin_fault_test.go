package dedup_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/internal/faults"
	"github.com/filestore-go/filestore/internal/retry"
	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"
)

// openFaultCatalog opens a Catalog on a new database of dialect whose
// calls fail as in's rules say, on clk, retrying without delay.
func openFaultCatalog(t *testing.T, dialect string, in *faults.Injector, clk *testenv.Clock) *dedup.Catalog {
	t.Helper()
	url := "sqlite://" + filepath.Join(t.TempDir(), "c.db")
	if dialect == "postgres" {
		url = testenv.PostgresDatabase(t)
	}
	c, err := dedup.New(context.Background(), faults.OpenDB(t, url, in),
		&dedup.Options{Now: clk.Now, Retry: retry.Policy{Attempts: 3, Base: time.Microsecond, Max: time.Microsecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestUnpinReleasesOnce: an Unpin whose release fails is retried only
// when the database says that the release took no effect. After a
// release whose reply was lost, a second one would release another
// upload's pin: the object, its last file then purged, would be deleted
// under that upload (before, Unpin retried it, and the purge doomed the
// object). Unpin reports the error instead, and its pin, if it was not
// released, waits for its expiry.
func TestUnpinReleasesOnce(t *testing.T) {
	// The release's statement: on PostgreSQL it commits with its
	// transaction, on SQLite alone.
	release := func(q string) bool { return strings.Contains(q, "pins - 1") }
	// applied is a rule that makes the release take effect and then fail
	// with err, as when the connection goes away before its reply.
	applied := func(err error) func(dialect string) faults.Rule {
		return func(dialect string) faults.Rule {
			if dialect == "postgres" {
				return faults.Rule{Op: faults.OpCommit, Applied: true, Err: err}
			}
			return faults.Rule{Op: faults.OpQuery, Match: release, Applied: true, Err: err}
		}
	}
	tests := []struct {
		name    string
		rule    func(dialect string) faults.Rule
		wantErr error
	}{{
		name: "refused once, retried",
		rule: func(string) faults.Rule {
			return faults.Rule{Op: faults.OpQuery, Match: release, Err: faults.SerializationFailure()}
		},
	}, {
		name:    "applied, connection closed before the reply",
		rule:    applied(faults.ConnClosed()),
		wantErr: pgconn.ErrConnClosed,
	}, {
		name:    "applied, connection reset before the reply",
		rule:    applied(faults.Unavailable()),
		wantErr: faults.Unavailable().Err,
	}}
	for _, d := range []string{"sqlite", "postgres"} {
		for _, tt := range tests {
			t.Run(d+"/"+tt.name, func(t *testing.T) {
				ctx := context.Background()
				in := faults.New()
				clk := testenv.NewClock(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
				c := openFaultCatalog(t, d, in, clk)
				commit(t, c, "a", "a", "k1")
				until := dedup.Micros(clk.Now().Add(time.Hour))
				pinTimes(t, c, 2, until) // two uploads
				rule := tt.rule(d)
				in.Arm(rule)
				doomed, unpinErr := c.Unpin(ctx, []string{sha})
				if n := in.Fired(rule.Op); n != 1 {
					t.Errorf("the rule fired %d times, want 1", n)
				}
				in.Disarm()
				// The other upload's pin holds the object through the
				// purge of its last file.
				if d, err := c.Purge(ctx, "o", "a"); err != nil || d != nil {
					t.Errorf("Purge of the last file: %+v, %v; want nothing doomed", d, err)
				}
				if diff := cmp.Diff(&pinState{"k1", 0, "live", 1, &until}, pins(t, c)); diff != "" {
					t.Fatalf("object after one upload's Unpin and the purge (-want +got):\n%s", diff)
				}
				if !errors.Is(unpinErr, tt.wantErr) || tt.wantErr == nil && unpinErr != nil || len(doomed) != 0 {
					t.Errorf("Unpin: %+v, %v; want nothing doomed and an error wrapping %v", doomed, unpinErr, tt.wantErr)
				}
				if doomed, err := c.Unpin(ctx, []string{sha}); err != nil || len(doomed) != 1 {
					t.Errorf("the other upload's Unpin: %+v, %v; want the object doomed", doomed, err)
				}
			})
		}
	}
}

// TestRefusedTransient: the errors after which a change that is not
// idempotent may be retried.
func TestRefusedTransient(t *testing.T) {
	for _, tt := range []struct {
		name string
		give error
		want bool
	}{
		{"serialization failure", faults.SerializationFailure(), true},
		{"connection refused", faults.ConnRefused(), true},
		{"bad connection", driver.ErrBadConn, true},
		{"connection closed, reply lost", faults.ConnClosed(), false},
		{"connection reset", faults.Unavailable(), false},
		{"no answer", dedup.ErrNoAnswer, false},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, false},
		{"connection failure", &pgconn.PgError{Code: "08006"}, false},
		{"unique violation, not transient", &pgconn.PgError{Code: "23505"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := dedup.RefusedTransient(tt.give); got != tt.want {
				t.Errorf("refusedTransient(%v) = %v, want %v", tt.give, got, tt.want)
			}
		})
	}
}
