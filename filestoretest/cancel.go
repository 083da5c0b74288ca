package filestoretest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/filestore-go/filestore"
	"github.com/google/go-cmp/cmp"
)

// testCancelled: every method called with a ctx already cancelled returns
// an error wrapping context.Canceled and changes nothing ("Every method
// honours ctx"). Each call is repeated, since a select between a done ctx
// and work that is ready picks at random.
func testCancelled(t *testing.T, newStore Harness) {
	st := newStore(t)
	live := mustPut(t, st, "alice", "docs", "live.txt", []byte("live content"))
	trashed := mustPut(t, st, "alice", "docs", "trashed.txt", []byte("trashed content"))
	if err := st.Delete(context.Background(), "alice", trashed.ID); err != nil {
		t.Fatal(err)
	}
	big := Content(41, 300<<10) // not inline, whatever Options.InlineMax says
	before := stats(t, st)
	listing := paths(listAll(t, st, "alice", filestore.ListOptions{Recursive: true}))
	trash := paths(listAll(t, st, "alice", filestore.ListOptions{Recursive: true, Trash: true}))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	get := func(owner, id string) error {
		_, rd, err := st.Get(ctx, owner, id)
		if rd != nil {
			rd.Close()
		}
		return err
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"Put small", func() error {
			_, err := st.Put(ctx, "alice", "docs", "new.txt", bytes.NewReader([]byte("new")), nil)
			return err
		}},
		{"Put large", func() error {
			_, err := st.Put(ctx, "alice", "docs", "new.bin", bytes.NewReader(big), nil)
			return err
		}},
		{"Put overwrite", func() error {
			_, err := st.Put(ctx, "alice", "docs", "live.txt", bytes.NewReader([]byte("over")), &filestore.PutOptions{Overwrite: true})
			return err
		}},
		{"Get", func() error { return get("alice", live.ID) }},
		{"Stat", func() error { _, err := st.Stat(ctx, "alice", live.ID); return err }},
		{"List", func() error { _, err := st.List(ctx, "alice", nil); return err }},
		{"Update", func() error {
			_, err := st.Update(ctx, "alice", live.ID, filestore.Update{Name: ptr("renamed.txt")})
			return err
		}},
		{"Delete", func() error { return st.Delete(ctx, "alice", live.ID) }},
		{"Restore", func() error { _, err := st.Restore(ctx, "alice", trashed.ID); return err }},
		{"Purge", func() error { return st.Purge(ctx, "alice", trashed.ID) }},
		{"Collect", func() error {
			_, err := st.Collect(ctx, &filestore.CollectOptions{TrashRetention: 1, StagingTTL: 1})
			return err
		}},
		{"Stats", func() error { _, err := st.Stats(ctx); return err }},
		{"Ping", func() error { return st.Ping(ctx) }},
		// An owner or id that names no file (one Put refuses) is answered
		// without the catalogue, and still not as found or empty.
		{"Get no owner", func() error { return get("", live.ID) }},
		{"Stat bad id", func() error { _, err := st.Stat(ctx, "alice", "\xff"); return err }},
		{"List no owner", func() error { _, err := st.List(ctx, "", nil); return err }},
		{"Update no owner", func() error {
			_, err := st.Update(ctx, "", live.ID, filestore.Update{Name: ptr("renamed.txt")})
			return err
		}},
		{"Delete no owner", func() error { return st.Delete(ctx, "", live.ID) }},
		{"Restore no owner", func() error { _, err := st.Restore(ctx, "", trashed.ID); return err }},
		{"Purge no owner", func() error { return st.Purge(ctx, "", trashed.ID) }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			for i := range 100 {
				if err := c.call(); !errors.Is(err, context.Canceled) {
					t.Fatalf("call %d with a cancelled ctx: %v, want context.Canceled", i, err)
				}
			}
		})
	}
	t.Run("NothingChanged", func(t *testing.T) {
		if after := stats(t, st); after != before {
			t.Errorf("totals changed: before %+v, after %+v", before, after)
		}
		if diff := cmp.Diff(listing, paths(listAll(t, st, "alice", filestore.ListOptions{Recursive: true}))); diff != "" {
			t.Errorf("live files (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(trash, paths(listAll(t, st, "alice", filestore.ListOptions{Recursive: true, Trash: true}))); diff != "" {
			t.Errorf("trash (-before +after):\n%s", diff)
		}
		if got := readAll(t, st, "alice", live.ID); string(got) != "live content" {
			t.Errorf("live file reads %q", got)
		}
	})
}
