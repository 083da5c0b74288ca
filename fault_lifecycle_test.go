package filestore_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/internal/faults"
	"github.com/google/go-cmp/cmp"
)

// lifecycleCase is one fault during an operation on a stored file.
type lifecycleCase struct {
	name  string
	rules []faults.Rule
	// op runs the operation on env, where id is a live file of alice's with
	// content lifeContent, and an orphan staged key (what a crash leaves)
	// exists.
	op   func(ctx context.Context, env *faultEnv, id string) error
	want outcome
}

var lifeContent = filestoretest.Content(7, 600<<10)

func getAll(ctx context.Context, env *faultEnv, id string) error {
	_, rd, err := env.st.Get(ctx, "alice", id)
	if err != nil {
		return err
	}
	defer rd.Close()
	got, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, lifeContent) {
		return io.ErrShortBuffer // a wrong read that reported no error: classified as its text
	}
	return nil
}

func purge(ctx context.Context, env *faultEnv, id string) error {
	return env.st.Purge(ctx, "alice", id)
}
func trash(ctx context.Context, env *faultEnv, id string) error {
	return env.st.Delete(ctx, "alice", id)
}

// collect runs Collect with a staging TTL of 1ns, so that the orphan is due.
func collect(ctx context.Context, env *faultEnv, _ string) error {
	_, err := env.st.Collect(ctx, &filestore.CollectOptions{StagingTTL: 1})
	return err
}

var lifecycleCases = []lifecycleCase{
	{
		// Three requests: the first Read's (io.ReadAll's 512 bytes), its
		// retry, and the one for the rest of the object.
		name: "get: open transient once, retried", rules: []faults.Rule{{Op: faults.OpNewReader}}, op: getAll,
		want: outcome{Calls: map[faults.Op]int{faults.OpNewReader: 3}, Files: 1, Keys: 2, Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
	{
		name: "get: open persistent", rules: []faults.Rule{{Op: faults.OpNewReader, Times: faults.Forever}}, op: getAll,
		want: outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpNewReader: 3}, Files: 1, Keys: 2, Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
	{
		name: "get: open denied, not retried", rules: []faults.Rule{{Op: faults.OpNewReader, Err: faults.Denied()}}, op: getAll,
		want: outcome{Err: "injected", Calls: map[faults.Op]int{faults.OpNewReader: 1}, Files: 1, Keys: 2, Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
	{
		// A reader that breaks mid-stream reports the error: never a short
		// read passed off as the end of the file. (The rule breaks the
		// first request, of io.ReadAll's first 512 bytes.)
		// A reset connection is the bucket's failure: ErrUnavailable.
		name: "get: read fails mid-stream", rules: []faults.Rule{{Op: faults.OpRead, After: 100}}, op: getAll,
		want: outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpRead: 1}, Files: 1, Keys: 2, Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
	{
		name: "get: catalogue read transient once", rules: []faults.Rule{{Op: faults.OpQuery}}, op: getAll,
		want: outcome{Files: 1, Keys: 2, Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
	{
		name: "purge: delete of the bytes transient once, retried", rules: []faults.Rule{{Op: faults.OpDelete}}, op: purge,
		want: outcome{Calls: map[faults.Op]int{faults.OpDelete: 2}, Keys: 1, Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
	{
		// The reference is gone for good; the object stays marked and
		// Collect deletes it.
		name: "purge: delete of the bytes persistent, left to Collect", rules: []faults.Rule{{Op: faults.OpDelete, Times: faults.Forever}}, op: purge,
		want: outcome{Calls: map[faults.Op]int{faults.OpDelete: 3}, Keys: 2, Collected: filestore.CollectResult{RemovedObjects: 1, RemovedStaging: 1}},
	},
	{
		name: "purge: commit transient once", rules: []faults.Rule{{Op: faults.OpCommit}}, op: purge,
		want: outcome{Calls: map[faults.Op]int{faults.OpCommit: 2}, Keys: 1, Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
	{
		// The retry no longer finds the file it purged: the purge is
		// reported done, and the bytes are left to Collect (the object row
		// is marked).
		name: "purge: commit applied, reply lost", rules: []faults.Rule{{Op: faults.OpCommit, Applied: true}}, op: purge,
		want: outcome{Calls: map[faults.Op]int{faults.OpCommit: 2, faults.OpDelete: 0}, Keys: 2,
			Collected: filestore.CollectResult{RemovedObjects: 1, RemovedStaging: 1}},
	},
	{
		name: "purge: commit persistent", rules: []faults.Rule{{Op: faults.OpCommit, Times: faults.Forever}}, op: purge,
		want: outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpCommit: 3, faults.OpDelete: 0}, Files: 1, Keys: 2,
			Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
	{
		name: "trash: commit persistent", rules: []faults.Rule{{Op: faults.OpCommit, Times: faults.Forever}}, op: trash,
		want: outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpCommit: 3}, Files: 1, Keys: 2,
			Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
	{
		name: "collect: listing transient once, retried", rules: []faults.Rule{{Op: faults.OpList}}, op: collect,
		want: outcome{Calls: map[faults.Op]int{faults.OpList: 2, faults.OpDelete: 1}, Files: 1, Keys: 1},
	},
	{
		name: "collect: listing persistent", rules: []faults.Rule{{Op: faults.OpList, Times: faults.Forever}}, op: collect,
		want: outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpList: 3, faults.OpDelete: 0}, Files: 1, Keys: 2,
			Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
	{
		name: "collect: delete of the orphan transient twice, retried", rules: []faults.Rule{{Op: faults.OpDelete, Times: 2}}, op: collect,
		want: outcome{Calls: map[faults.Op]int{faults.OpDelete: 3}, Files: 1, Keys: 1},
	},
	{
		name: "collect: delete of the orphan persistent", rules: []faults.Rule{{Op: faults.OpDelete, Times: faults.Forever}}, op: collect,
		want: outcome{Err: "ErrUnavailable", Calls: map[faults.Op]int{faults.OpDelete: 3}, Files: 1, Keys: 2,
			Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
	{
		name: "collect: catalogue transient once", rules: []faults.Rule{{Op: faults.OpBegin}}, op: collect,
		want: outcome{Calls: map[faults.Op]int{faults.OpDelete: 1}, Files: 1, Keys: 1},
	},
	{
		name: "collect: catalogue denied", rules: []faults.Rule{{Op: faults.OpBegin, Times: faults.Forever, Err: faults.Denied()}}, op: collect,
		want: outcome{Err: "injected", Calls: map[faults.Op]int{faults.OpBegin: 1, faults.OpDelete: 0}, Files: 1, Keys: 2,
			Collected: filestore.CollectResult{RemovedStaging: 1}},
	},
}

// TestFaultLifecycle: faults while reading, purging, trashing and
// collecting. Transient faults are retried (RetryAttempts 3) and succeed;
// persistent ones give ErrUnavailable (a permanent one its own error) and
// change nothing that the next Collect without faults cannot finish.
func TestFaultLifecycle(t *testing.T) {
	for _, tt := range lifecycleCases {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			env := newFaultEnv(t, "sqlite", 3)
			f, err := env.st.Put(ctx, "alice", "", "file", bytes.NewReader(lifeContent), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := env.bkt.WriteAll(ctx, "o/0a/0a0b0c0d0e0f00112233445566778899", []byte("left by a crash"), nil); err != nil {
				t.Fatal(err)
			}
			env.in.Reset()
			for _, r := range tt.rules {
				env.in.Arm(r)
			}
			err = tt.op(ctx, env, f.ID)
			got := outcome{Err: classify(err), Calls: calls(env.in, tt.want.Calls)}
			env.settle(t, &got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%v; outcome (-want +got):\n%s", err, diff)
			}
		})
	}
}

// TestCollectCountsWhatItRemoved: while a Collect deletes the bytes of an
// object whose last reference it purged (the delete applied, its reply
// lost, so it retries), another Collect finds the object marked and
// removes it first. Each object counts in the one Collect that deleted its
// row, so that the counts of concurrent Collects add up to what they
// removed; before, both counted it.
func TestCollectCountsWhatItRemoved(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			ctx := context.Background()
			env := newFaultEnv(t, db, 3)
			other := openURLs(t, filestore.Options{Database: env.dbURL, Bucket: env.bucketURL})
			f, err := env.st.Put(ctx, "alice", "", "file", bytes.NewReader(lifeContent), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := env.st.Delete(ctx, "alice", f.ID); err != nil {
				t.Fatal(err)
			}
			var during *filestore.CollectResult
			env.in.Arm(faults.Rule{Op: faults.OpDelete, Applied: true, OnFire: func() {
				var err error
				if during, err = other.Collect(ctx, nil); err != nil {
					t.Errorf("the other Collect: %v", err)
				}
			}})
			first, err := env.st.Collect(ctx, &filestore.CollectOptions{TrashRetention: time.Nanosecond})
			if err != nil {
				t.Fatal(err)
			}
			if during == nil {
				t.Fatal("the other Collect did not run")
			}
			want := []filestore.CollectResult{{PurgedFiles: 1}, {RemovedObjects: 1}}
			if diff := cmp.Diff(want, []filestore.CollectResult{*first, *during}); diff != "" {
				t.Errorf("the first Collect's and the other's counts (-want +got):\n%s", diff)
			}
			env.in.Disarm()
			checkInvariants(t, env.dbURL, env.bucketURL, true)
		})
	}
}
