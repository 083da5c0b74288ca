package filestore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"maps"
	"strings"
	"testing"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/internal/faults"
	"github.com/google/go-cmp/cmp"
)

// putCase is one fault during Put.
type putCase struct {
	name string
	// attempts is Options.RetryAttempts (0: 3).
	attempts int
	// dedup uploads the same content first, so that Put is a dedup hit
	// (and deletes its staged copy after the commit).
	dedup bool
	// rules are armed just before Put; cancelOnFire makes the first rule
	// cancel Put's context when it fires, downOnFire makes it take the
	// whole database down (every later begin, query and statement fails).
	rules                    []faults.Rule
	cancelOnFire, downOnFire bool
	// overwrite puts with PutOptions.Overwrite (at a free path), which on
	// PostgreSQL commits as a transaction rather than one statement.
	overwrite bool
	want      outcome
}

// putContent is the content of every Put: 1 MiB, four chunks of the upload
// pass, so that a fault can hit the stream in its middle.
var putContent = filestoretest.Content(42, 1<<20)

// isPathCheck matches the path check before staging: the statement that
// the commit also uses (prepared on SQLite, with $n on PostgreSQL), or
// bun's EXISTS query once the catalogue is closed.
func isPathCheck(q string) bool {
	return strings.HasPrefix(q, "SELECT EXISTS") || strings.HasPrefix(q, "SELECT id FROM files WHERE owner = ")
}

// Faults of the bucket during Put: the staging writer is not retried (the
// bytes cannot be read again), so a transient fault fails the upload with
// ErrUnavailable and leaves nothing visible; the delete of a staged copy
// after a dedup hit is retried, and its persistent failure only leaves an
// orphan for Collect.
var putBucketCases = []putCase{
	{
		name:  "open staging writer: transient, not retried",
		rules: []faults.Rule{{Op: faults.OpNewWriter}},
		want:  outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpNewWriter: 1}},
	},
	{
		name:  "staging write fails mid-stream: transient",
		rules: []faults.Rule{{Op: faults.OpWrite, After: 300 << 10}},
		want:  outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpWrite: 1, faults.OpClose: 1}},
	},
	{
		name:  "staging write fails at once: permanent",
		rules: []faults.Rule{{Op: faults.OpWrite, Err: faults.Denied()}},
		want:  outcome{Err: "injected", Calls: map[faults.Op]int{faults.OpWrite: 1, faults.OpClose: 1}},
	},
	{
		name:  "staging close fails: transient",
		rules: []faults.Rule{{Op: faults.OpClose}},
		want:  outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpClose: 1}},
	},
	{
		// The object was stored but Put does not know it: Put deletes it
		// (an object whose close failed is not known durable).
		name:  "staging close applied, reply lost",
		rules: []faults.Rule{{Op: faults.OpClose, Applied: true}},
		want:  outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpClose: 1, faults.OpDelete: 1}},
	},
	{
		name:  "dedup hit, delete of the staged copy: transient once, retried",
		dedup: true,
		rules: []faults.Rule{{Op: faults.OpDelete}},
		want:  outcome{Calls: map[faults.Op]int{faults.OpDelete: 2}, Files: 2, Keys: 1},
	},
	{
		name:  "dedup hit, delete of the staged copy: persistent, left to Collect",
		dedup: true,
		rules: []faults.Rule{{Op: faults.OpDelete, Times: faults.Forever}},
		want: outcome{Calls: map[faults.Op]int{faults.OpDelete: 3}, Files: 2, Keys: 2,
			Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
}

// Faults of the database during Put: every catalogue step is retried as a
// whole transaction, RetryAttempts times in all; a commit whose reply was
// lost is recognised by its file id on the next attempt.
var putDBCases = []putCase{
	{
		name:  "path check: transient once",
		rules: []faults.Rule{{Op: faults.OpQuery, Match: isPathCheck}},
		want:  outcome{Files: 1, Keys: 1},
	},
	{
		name:  "path check: persistent",
		rules: []faults.Rule{{Op: faults.OpQuery, Match: isPathCheck, Times: faults.Forever}},
		want:  outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpNewWriter: 0}},
	},
	{
		name:  "begin: transient once",
		rules: []faults.Rule{{Op: faults.OpBegin}},
		want:  outcome{Calls: map[faults.Op]int{faults.OpBegin: 2, faults.OpCommit: 1}, Files: 1, Keys: 1},
	},
	{
		name:  "statement in the commit transaction: transient twice",
		rules: []faults.Rule{{Op: faults.OpExec, Times: 2, Err: faults.SerializationFailure()}},
		want:  outcome{Calls: map[faults.Op]int{faults.OpBegin: 3, faults.OpCommit: 1}, Files: 1, Keys: 1},
	},
	{
		name:  "commit: transient once, rolled back",
		rules: []faults.Rule{{Op: faults.OpCommit}},
		want:  outcome{Calls: map[faults.Op]int{faults.OpCommit: 2}, Files: 1, Keys: 1},
	},
	{
		name:  "commit: applied, reply lost",
		rules: []faults.Rule{{Op: faults.OpCommit, Applied: true}},
		want:  outcome{Calls: map[faults.Op]int{faults.OpCommit: 2}, Files: 1, Keys: 1},
	},
	{
		// What pgx returns for a pooled connection that a server restart
		// broke (seen at BEGIN in TestFaultPostgresRestart): nothing was
		// committed, and a retry on a fresh connection succeeds.
		name:  "begin: connection closed (stale pooled connection)",
		rules: []faults.Rule{{Op: faults.OpBegin, Err: faults.ConnClosed()}},
		want:  outcome{Calls: map[faults.Op]int{faults.OpBegin: 2, faults.OpCommit: 1}, Files: 1, Keys: 1},
	},
	{
		// What pgx returns when the server dies after COMMIT was sent: the
		// outcome is unknown; the row is found by its id (by a retry or a
		// lookup) and Put succeeds.
		name:  "commit: applied, connection closed before the reply",
		rules: []faults.Rule{{Op: faults.OpCommit, Applied: true, Err: faults.ConnClosed()}},
		want:  outcome{Files: 1, Keys: 1},
	},
	{
		// The commit failed for good, but Put cannot tell a failed commit
		// from one whose reply was lost: it leaves the staged bytes to
		// Collect rather than risk deleting a committed object.
		name:  "commit: persistent, 3 attempts",
		rules: []faults.Rule{{Op: faults.OpCommit, Times: faults.Forever}},
		want: outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpCommit: 3, faults.OpDelete: 0},
			Keys: 1, Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
	{
		name:     "commit: persistent, RetryAttempts 1",
		attempts: 1,
		rules:    []faults.Rule{{Op: faults.OpCommit, Times: faults.Forever}},
		want: outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpCommit: 1, faults.OpDelete: 0},
			Keys: 1, Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
	{
		name:     "commit: persistent, RetryAttempts 6",
		attempts: 6,
		rules:    []faults.Rule{{Op: faults.OpCommit, Times: faults.Forever}},
		want: outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpCommit: 6, faults.OpDelete: 0},
			Keys: 1, Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
	{
		// Not retried; an error at COMMIT leaves the outcome unknown,
		// which is ErrUnavailable whatever the cause.
		name:  "commit: permanent, not retried",
		rules: []faults.Rule{{Op: faults.OpCommit, Times: faults.Forever, Err: faults.Denied()}},
		want: outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpCommit: 1, faults.OpDelete: 0},
			Keys: 1, Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
	{
		// The commit happened, its reply was lost, and the database then
		// went down for good: Put cannot know the outcome. The file
		// exists, so its staged bytes (now the object) must stay.
		name:       "commit: applied, reply lost, then the database stays down",
		rules:      []faults.Rule{{Op: faults.OpCommit, Applied: true}},
		downOnFire: true,
		want:       outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpCommit: 1, faults.OpBegin: 3}, Files: 1, Keys: 1},
	},
	{
		// The client goes away while the commit is under way: the commit
		// is retried to its end (its reply was lost) and Put reports it.
		name:         "commit: applied, reply lost, the caller's context cancelled meanwhile",
		rules:        []faults.Rule{{Op: faults.OpCommit, Applied: true}},
		cancelOnFire: true,
		want:         outcome{Calls: map[faults.Op]int{faults.OpCommit: 2}, Files: 1, Keys: 1},
	},
}

func TestFaultPutBucket(t *testing.T) {
	for _, tt := range putBucketCases {
		t.Run(tt.name, func(t *testing.T) { runPutCase(t, "sqlite", tt, putContent) })
	}
}

// isCommitStatement matches PostgreSQL's one-statement commit of new
// content (dedup.commitStatement).
func isCommitStatement(q string) bool { return strings.HasPrefix(q, "WITH o AS (") }

// putStatementCases are the faults of PostgreSQL's one-statement commit.
// Whatever fails it falls back to a transaction, which is idempotent by
// file id: a PostgreSQL error means nothing was committed; a lost
// connection may have committed, and then a fallback that cannot reach
// the database leaves the outcome unknown, so the staged bytes stay.
var putStatementCases = []putCase{
	{
		name:  "statement: refused once (serialization failure), the transaction commits",
		rules: []faults.Rule{{Op: faults.OpQuery, Match: isCommitStatement, Err: faults.SerializationFailure()}},
		want:  outcome{Calls: map[faults.Op]int{faults.OpBegin: 1, faults.OpCommit: 1}, Files: 1, Keys: 1},
	},
	{
		name:  "statement: connection lost before it ran, the transaction commits",
		rules: []faults.Rule{{Op: faults.OpQuery, Match: isCommitStatement, Err: faults.ConnClosed()}},
		want:  outcome{Calls: map[faults.Op]int{faults.OpBegin: 1, faults.OpCommit: 1}, Files: 1, Keys: 1},
	},
	{
		name:  "statement: applied, connection closed before the reply; the transaction finds the row",
		rules: []faults.Rule{{Op: faults.OpQuery, Match: isCommitStatement, Applied: true, Err: faults.ConnClosed()}},
		want:  outcome{Calls: map[faults.Op]int{faults.OpBegin: 1, faults.OpCommit: 1}, Files: 1, Keys: 1},
	},
	{
		name:       "statement: applied, reply lost, then the database stays down",
		rules:      []faults.Rule{{Op: faults.OpQuery, Match: isCommitStatement, Applied: true, Err: faults.ConnClosed()}},
		downOnFire: true,
		want:       outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpBegin: 3, faults.OpDelete: 0}, Files: 1, Keys: 1},
	},
	{
		name:       "statement: connection lost before it ran, then the database stays down",
		rules:      []faults.Rule{{Op: faults.OpQuery, Match: isCommitStatement, Err: faults.ConnClosed()}},
		downOnFire: true,
		want: outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpBegin: 3, faults.OpDelete: 0},
			Keys: 1, Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
	{
		name:       "statement: refused, then the database stays down",
		rules:      []faults.Rule{{Op: faults.OpQuery, Match: isCommitStatement, Err: faults.SerializationFailure()}},
		downOnFire: true,
		want:       outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpBegin: 3, faults.OpDelete: 1}},
	},
	{
		// A connection that could not be opened sent nothing: the outcome
		// is known, and the staged bytes go at once. Before, they stayed
		// for Collect (after the staging TTL) as after a lost reply.
		name:       "statement: connection refused, then the database stays down",
		rules:      []faults.Rule{{Op: faults.OpQuery, Match: isCommitStatement, Err: faults.ConnRefused()}},
		downOnFire: true,
		want:       outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpBegin: 3, faults.OpDelete: 1}},
	},
	{
		name:         "statement: applied, reply lost, the caller's context cancelled meanwhile",
		rules:        []faults.Rule{{Op: faults.OpQuery, Match: isCommitStatement, Applied: true, Err: faults.ConnClosed()}},
		cancelOnFire: true,
		want:         outcome{Files: 1, Keys: 1},
	},
}

// dbCases are the database fault cases for db: on SQLite every commit is a
// transaction; on PostgreSQL new content commits as one statement, and the
// transaction cases run with Overwrite, which commits as a transaction (the
// path check cases do not apply to an overwrite, which skips that check).
func dbCases(db string) []putCase {
	if db == "sqlite" {
		return putDBCases
	}
	var cases []putCase
	for _, tt := range putDBCases {
		if strings.HasPrefix(tt.name, "path check") {
			cases = append(cases, tt)
			continue
		}
		tt.name = "overwrite, " + tt.name
		tt.overwrite = true
		cases = append(cases, tt)
	}
	return append(cases, putStatementCases...)
}

func TestFaultPutDatabase(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			for _, tt := range dbCases(db) {
				t.Run(tt.name, func(t *testing.T) { runPutCase(t, db, tt, putContent) })
			}
		})
	}
}

// TestFaultPutDatabaseInline runs the database cases with content small
// enough to be stored in its object row: the same outcomes, except that
// nothing ever reaches the bucket, so there is no staged key for Collect
// to remove after a commit that failed for good, nor to delete after a
// refused one. The path check cases do not apply: inline content is read
// whole before any path check would save reading it, so only the commit
// checks the path.
func TestFaultPutDatabaseInline(t *testing.T) {
	small := filestoretest.Content(43, 4096)
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			for _, tt := range dbCases(db) {
				if strings.HasPrefix(tt.name, "path check") {
					continue
				}
				tt.want.Keys, tt.want.Collected.RemovedStaging = 0, 0
				if _, ok := tt.want.Calls[faults.OpDelete]; ok {
					tt.want.Calls = maps.Clone(tt.want.Calls)
					tt.want.Calls[faults.OpDelete] = 0
				}
				t.Run(tt.name, func(t *testing.T) { runPutCase(t, db, tt, small) })
			}
		})
	}
}

// runPutCase runs Put under tt's faults and compares what happened with
// tt.want; a Put that succeeded must read back byte for byte, and the
// invariants must hold once the faults are gone and Collect has run.
func runPutCase(t *testing.T, db string, tt putCase, content []byte) {
	attempts := tt.attempts
	if attempts == 0 {
		attempts = 3
	}
	env := newFaultEnv(t, db, attempts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if tt.dedup {
		if _, err := env.st.Put(ctx, "alice", "", "first", bytes.NewReader(content), nil); err != nil {
			t.Fatalf("first Put: %v", err)
		}
	}
	env.in.Reset()
	for i, r := range tt.rules {
		switch {
		case i == 0 && tt.cancelOnFire:
			r.OnFire = cancel
		case i == 0 && tt.downOnFire:
			r.OnFire = func() {
				for _, op := range []faults.Op{faults.OpBegin, faults.OpQuery, faults.OpExec} {
					env.in.Arm(faults.Rule{Op: op, Times: faults.Forever})
				}
			}
		}
		env.in.Arm(r)
	}
	f, err := env.st.Put(ctx, "alice", "", "file", bytes.NewReader(content), &filestore.PutOptions{Overwrite: tt.overwrite})
	got := outcome{Err: classify(err), Calls: calls(env.in, tt.want.Calls)}
	env.settle(t, &got)
	if diff := cmp.Diff(tt.want, got); diff != "" {
		t.Errorf("Put returned %v; outcome (-want +got):\n%s", err, diff)
	}
	if err == nil {
		checkContent(t, env.st, "alice", f.ID, content)
	}
}

// checkContent reads owner's file id and compares it with want.
func checkContent(t *testing.T, st filestore.Store, owner, id string, want []byte) {
	t.Helper()
	f, rd, err := st.Get(context.Background(), owner, id)
	if err != nil {
		t.Fatalf("Get %s: %v", id, err)
	}
	defer rd.Close()
	h := sha256.New()
	n, err := io.Copy(h, rd)
	sum := sha256.Sum256(want)
	if err != nil || n != int64(len(want)) || !bytes.Equal(h.Sum(nil), sum[:]) || f.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("file %s: read %d bytes (%v) hashing to %x, record says %s; want %d bytes hashing to %x",
			id, n, err, h.Sum(nil), f.SHA256, len(want), sum)
	}
}
