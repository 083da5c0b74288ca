package filestore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/filestore-go/filestore"
	"github.com/google/go-cmp/cmp"
)

// hostileCallers are owners other than "alice", several of them look-alikes
// of her or LIKE patterns that would match her if owners were compared with
// LIKE, or folded, trimmed or normalised.
var hostileCallers = []string{"mallory", "Alice", "ALICE", "alice ", " alice", "alice\u200b", "\u0430lice", "a%", "_lice", "%", "alic_", "../alice", "alice/..", ""}

// idMethods are the Store methods that take a file id, each reduced to its
// error.
var idMethods = []struct {
	name string
	call func(ctx context.Context, st filestore.Store, owner, id string) error
}{
	{"Get", func(ctx context.Context, st filestore.Store, owner, id string) error {
		_, rd, err := st.Get(ctx, owner, id)
		if rd != nil {
			rd.Close()
		}
		return err
	}},
	{"Stat", func(ctx context.Context, st filestore.Store, owner, id string) error {
		_, err := st.Stat(ctx, owner, id)
		return err
	}},
	{"Update name", func(ctx context.Context, st filestore.Store, owner, id string) error {
		n := "stolen.txt"
		_, err := st.Update(ctx, owner, id, filestore.Update{Name: &n})
		return err
	}},
	{"Update folder", func(ctx context.Context, st filestore.Store, owner, id string) error {
		f := "stolen"
		_, err := st.Update(ctx, owner, id, filestore.Update{Folder: &f})
		return err
	}},
	{"Delete", func(ctx context.Context, st filestore.Store, owner, id string) error {
		return st.Delete(ctx, owner, id)
	}},
	{"Restore", func(ctx context.Context, st filestore.Store, owner, id string) error {
		_, err := st.Restore(ctx, owner, id)
		return err
	}},
	{"Purge", func(ctx context.Context, st filestore.Store, owner, id string) error { return st.Purge(ctx, owner, id) }},
}

// TestHostileAcrossOwners calls every Store method that takes an id with
// alice's live, trashed and purged files' ids (and mangled forms of them) as
// every hostile caller, and alice's purged and mangled ids as alice: each
// call must answer ErrNotFound, exactly as for an id that never existed,
// and change nothing. Listings by other owners, with any options and with
// alice's own cursor, never show her files.
func TestHostileAcrossOwners(t *testing.T) {
	for _, pair := range []struct{ db, bucket string }{{"sqlite", "mem"}, {"postgres", "mem"}} {
		t.Run(pair.db, func(t *testing.T) {
			st := openStore(t, pair.db, pair.bucket, filestore.Options{})
			runAcrossOwners(t, st)
		})
	}
}

func runAcrossOwners(t *testing.T, st *filestore.Service) {
	ctx := context.Background()
	put := func(owner, folder, name string) *filestore.File {
		t.Helper()
		f, err := st.Put(ctx, owner, folder, name, strings.NewReader(owner+"/"+folder+"/"+name), nil)
		if err != nil {
			t.Fatalf("Put(%q, %q, %q): %v", owner, folder, name, err)
		}
		return f
	}
	live := put("alice", "docs", "a.txt")
	put("alice", "docs", "b.txt")
	trashed := put("alice", "docs", "old.txt")
	if err := st.Delete(ctx, "alice", trashed.ID); err != nil {
		t.Fatal(err)
	}
	purged := put("alice", "docs", "gone.txt")
	if err := st.Purge(ctx, "alice", purged.ID); err != nil {
		t.Fatal(err)
	}
	bobs := put("bob", "docs", "a.txt") // same path, other owner
	before := aliceState(t, st)
	statsBefore, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}

	ids := map[string]string{
		"live": live.ID, "trashed": trashed.ID, "purged": purged.ID,
		"live upper-cased": strings.ToUpper(live.ID), "live with a space": " " + live.ID,
		"live with %": live.ID[:len(live.ID)-1] + "%", "live with _": live.ID[:len(live.ID)-1] + "_",
		"traversal": "../" + live.ID, "empty": "", "unknown": "00000000-0000-7000-8000-000000000000",
	}
	got, want := map[string]string{}, map[string]string{}
	for kind, id := range ids {
		for _, caller := range hostileCallers {
			for _, m := range idMethods {
				k := fmt.Sprintf("%s calls %s on alice's %s id", strconvQuoteASCII(caller), m.name, kind)
				got[k], want[k] = classify(m.call(ctx, st, caller, id)), "ErrNotFound"
			}
		}
	}
	// Alice's own ids that are gone or mangled are as unknown to her.
	for _, kind := range []string{"purged", "live upper-cased", "live with a space", "live with %", "live with _", "traversal", "empty", "unknown"} {
		for _, m := range idMethods {
			k := fmt.Sprintf("alice calls %s on her %s id", m.name, kind)
			got[k], want[k] = classify(m.call(ctx, st, "alice", ids[kind])), "ErrNotFound"
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("calls with foreign, purged and mangled ids (-want +got):\n%s", diff)
	}
	t.Logf("%d calls with foreign, purged and mangled ids answered ErrNotFound", len(got))

	// Listings: no option, cursor or look-alike owner shows alice's files.
	first, err := st.List(ctx, "alice", &filestore.ListOptions{Folder: "docs", Limit: 1})
	if err != nil || first.NextCursor == "" {
		t.Fatalf("alice's first page: %+v, %v; want a cursor", first, err)
	}
	listings := []filestore.ListOptions{
		{}, {Folder: "docs"}, {Recursive: true}, {Recursive: true, Trash: true}, {Recursive: true, Query: "a"},
		{Recursive: true, Query: "%"}, {Recursive: true, Query: "_"}, {Folder: "docs", Cursor: first.NextCursor},
		// A cursor of another listing: refused, or an empty page for an
		// owner that cannot exist.
		{Recursive: true, Trash: true, Cursor: first.NextCursor},
	}
	seen := map[string]bool{}
	for _, caller := range append([]string{"bob"}, hostileCallers...) {
		for _, opts := range listings {
			page, err := st.List(ctx, caller, &opts)
			if err != nil && opts.Recursive && opts.Cursor != "" && errors.Is(err, filestore.ErrInvalidArgument) {
				continue
			}
			if err != nil {
				t.Errorf("List(%q, %+v): %v", caller, opts, err)
				continue
			}
			for _, f := range page.Files {
				if f.Owner != caller || f.ID == live.ID || f.ID == trashed.ID {
					t.Errorf("List(%q, %+v) shows %s's file %s/%s", caller, opts, f.Owner, f.Folder, f.Name)
				}
				seen[f.ID] = true
			}
		}
	}
	if !seen[bobs.ID] {
		t.Errorf("bob's own listings never showed his file: the listing check proves nothing")
	}

	if diff := cmp.Diff(before, aliceState(t, st)); diff != "" {
		t.Errorf("alice's files changed under the calls of others (-before +after):\n%s", diff)
	}
	statsAfter, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(statsBefore, statsAfter); diff != "" {
		t.Errorf("Stats changed (-before +after):\n%s", diff)
	}
	checkContent(t, st, "alice", live.ID, []byte("alice/docs/a.txt"))
}

// aliceState is every file of alice's, live and trashed.
func aliceState(t *testing.T, st filestore.Store) []*filestore.File {
	t.Helper()
	var all []*filestore.File
	for _, trash := range []bool{false, true} {
		page, err := st.List(context.Background(), "alice", &filestore.ListOptions{Recursive: true, Trash: trash, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Files...)
	}
	return all
}
