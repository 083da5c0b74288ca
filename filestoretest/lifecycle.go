package filestoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/filestore-go/filestore"
	"github.com/google/go-cmp/cmp"
)

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

func testLifecycle(t *testing.T, newStore Harness) {
	st := newStore(t)
	ctx := context.Background()
	data := Content(21, 10000)
	f := mustPut(t, st, "alice", "docs", "a.txt", data)
	other := mustPut(t, st, "alice", "docs", "b.txt", []byte("other"))

	// Conflicts and overwrite.
	_, err := st.Put(ctx, "alice", "docs", "a.txt", bytes.NewReader([]byte("new")), nil)
	wantErr(t, "Put on a taken path", err, filestore.ErrConflict)

	// Rename and move touch only the catalogue.
	g, err := st.Update(ctx, "alice", f.ID, filestore.Update{Name: ptr("c.txt")})
	if err != nil || g.Name != "c.txt" || g.Folder != "docs" || g.SHA256 != f.SHA256 {
		t.Fatalf("rename: %+v, %v", g, err)
	}
	g, err = st.Update(ctx, "alice", f.ID, filestore.Update{Folder: ptr("archive/2024")})
	if err != nil || g.Name != "c.txt" || g.Folder != "archive/2024" {
		t.Fatalf("move: %+v, %v", g, err)
	}
	g, err = st.Update(ctx, "alice", f.ID, filestore.Update{Name: ptr("a.txt"), Folder: ptr("docs")})
	if err != nil || g.Name != "a.txt" || g.Folder != "docs" || !g.UpdatedAt.After(f.UpdatedAt) && !g.UpdatedAt.Equal(f.UpdatedAt) {
		t.Fatalf("rename and move: %+v, %v", g, err)
	}
	_, err = st.Update(ctx, "alice", f.ID, filestore.Update{Name: ptr("b.txt")})
	wantErr(t, "rename onto a taken path", err, filestore.ErrConflict)
	_, err = st.Update(ctx, "alice", f.ID, filestore.Update{})
	wantErr(t, "update with nothing", err, filestore.ErrInvalidArgument)
	_, err = st.Update(ctx, "alice", f.ID, filestore.Update{Name: ptr("../x")})
	wantErr(t, "rename to an invalid name", err, filestore.ErrInvalidName)
	if got := readAll(t, st, "alice", f.ID); !bytes.Equal(got, data) {
		t.Fatal("content changed by renames")
	}

	// Overwrite trashes the old file.
	o, err := st.Put(ctx, "alice", "docs", "b.txt", bytes.NewReader([]byte("replacement")), &filestore.PutOptions{Overwrite: true})
	if err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	if old, err := st.Stat(ctx, "alice", other.ID); err != nil || old.DeletedAt == nil {
		t.Fatalf("overwritten file: %+v, %v; want it in the trash", old, err)
	}

	// Soft delete.
	if err := st.Delete(ctx, "alice", f.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := st.Delete(ctx, "alice", f.ID); err != nil {
		t.Fatalf("Delete of a trashed file: %v, want nil", err)
	}
	_, _, err = st.Get(ctx, "alice", f.ID)
	wantErr(t, "Get of a trashed file", err, filestore.ErrNotFound)
	s, err := st.Stat(ctx, "alice", f.ID)
	if err != nil || s.DeletedAt == nil {
		t.Fatalf("Stat of a trashed file: %+v, %v", s, err)
	}
	if diff := cmp.Diff([]string{"docs|b.txt"}, paths(listAll(t, st, "alice", filestore.ListOptions{Folder: "docs"}))); diff != "" {
		t.Errorf("live listing (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"docs|a.txt", "docs|b.txt"}, paths(listAll(t, st, "alice", filestore.ListOptions{Folder: "docs", Trash: true}))); diff != "" {
		t.Errorf("trash listing (-want +got):\n%s", diff)
	}
	_, err = st.Update(ctx, "alice", f.ID, filestore.Update{Name: ptr("z")})
	wantErr(t, "rename of a trashed file", err, filestore.ErrNotFound)

	// The path is free again; restore then conflicts.
	taker := mustPut(t, st, "alice", "docs", "a.txt", []byte("taker"))
	_, err = st.Restore(ctx, "alice", f.ID)
	wantErr(t, "Restore onto a taken path", err, filestore.ErrConflict)
	if err := st.Purge(ctx, "alice", taker.ID); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	r, err := st.Restore(ctx, "alice", f.ID)
	if err != nil || r.DeletedAt != nil || r.Name != "a.txt" {
		t.Fatalf("Restore: %+v, %v", r, err)
	}
	r2, err := st.Restore(ctx, "alice", f.ID)
	if err != nil || r2.UpdatedAt != r.UpdatedAt {
		t.Fatalf("Restore of a live file: %+v, %v; want it unchanged", r2, err)
	}
	if got := readAll(t, st, "alice", f.ID); !bytes.Equal(got, data) {
		t.Fatal("content changed by delete and restore")
	}

	// Purge is for good.
	if err := st.Purge(ctx, "alice", f.ID); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	_, err = st.Stat(ctx, "alice", f.ID)
	wantErr(t, "Stat of a purged file", err, filestore.ErrNotFound)
	wantErr(t, "Purge of a purged file", st.Purge(ctx, "alice", f.ID), filestore.ErrNotFound)
	wantErr(t, "Delete of a purged file", st.Delete(ctx, "alice", f.ID), filestore.ErrNotFound)
	_, err = st.Restore(ctx, "alice", f.ID)
	wantErr(t, "Restore of a purged file", err, filestore.ErrNotFound)
	if got := readAll(t, st, "alice", o.ID); string(got) != "replacement" {
		t.Errorf("overwriting file reads %q", got)
	}
}

func testDedup(t *testing.T, newStore Harness) {
	st := newStore(t)
	ctx := context.Background()
	data := Content(31, 300000)
	a := mustPut(t, st, "alice", "", "a.bin", data)
	b := mustPut(t, st, "bob", "x", "b.bin", data)
	a2 := mustPut(t, st, "alice", "copies", "a2.bin", data)
	if a.SHA256 != b.SHA256 || a.SHA256 != a2.SHA256 {
		t.Fatalf("same content, different digests: %s %s %s", a.SHA256, b.SHA256, a2.SHA256)
	}
	if s := stats(t, st); s.Objects != 1 || s.StoredBytes != 300000 || s.LogicalBytes != 900000 || s.Files != 3 || s.Owners != 2 {
		t.Fatalf("after 3 uploads of one content: %+v; want 1 object of 300000 bytes, 900000 logical, 3 files, 2 owners", s)
	}
	if err := st.Purge(ctx, "alice", a.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "alice", a2.ID); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, st, "bob", b.ID); !bytes.Equal(got, data) {
		t.Fatal("bob's copy is not readable after alice purged hers")
	}
	if err := st.Purge(ctx, "bob", b.ID); err != nil {
		t.Fatal(err)
	}
	// The trashed copy still holds a reference.
	if s := stats(t, st); s.Objects != 1 {
		t.Fatalf("with one trashed reference left: %+v, want 1 object", s)
	}
	r, err := st.Restore(ctx, "alice", a2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, st, "alice", r.ID); !bytes.Equal(got, data) {
		t.Fatal("restored copy unreadable")
	}
	if err := st.Purge(ctx, "alice", a2.ID); err != nil {
		t.Fatal(err)
	}
	if s := stats(t, st); s.Objects != 0 || s.StoredBytes != 0 || s.Files != 0 {
		t.Fatalf("after the last reference went: %+v, want nothing", s)
	}
	// The content can come back.
	c := mustPut(t, st, "carol", "", "c.bin", data)
	if got := readAll(t, st, "carol", c.ID); !bytes.Equal(got, data) {
		t.Fatal("re-uploaded content unreadable")
	}
	if s := stats(t, st); s.Objects != 1 {
		t.Fatalf("after re-upload: %+v, want 1 object", s)
	}
}

// testDedupDeclaredSize: uploads without a digest but with their size
// declared (PutOptions.Size), of stored content and of content that differs
// from it late or is a prefix of it: each reads back as uploaded, and
// identical content is one object.
func testDedupDeclaredSize(t *testing.T, newStore Harness) {
	st := newStore(t)
	ctx := context.Background()
	const size = 2<<20 + 100
	data := Content(37, size)
	late := bytes.Clone(data)
	late[size-2] ^= 1
	bodies := [][]byte{data, data, late, data[:size-1]}
	var files []*filestore.File
	for i, body := range bodies {
		f, err := st.Put(ctx, "alice", "", fmt.Sprintf("f%d.bin", i), bytes.NewReader(body), &filestore.PutOptions{Size: size})
		if err != nil {
			t.Fatalf("Put %d with a declared size: %v", i, err)
		}
		files = append(files, f)
	}
	for i, f := range files {
		if got := readAll(t, st, "alice", f.ID); !bytes.Equal(got, bodies[i]) {
			t.Errorf("file %d reads back %d bytes that differ from the %d uploaded", i, len(got), len(bodies[i]))
		}
	}
	if files[0].SHA256 != files[1].SHA256 {
		t.Errorf("identical uploads have digests %s and %s", files[0].SHA256, files[1].SHA256)
	}
	if s := stats(t, st); s.Objects != 3 || s.Files != 4 || s.StoredBytes != 3*size-1 {
		t.Errorf("Stats %+v, want 4 files of 3 objects, %d bytes stored", s, 3*size-1)
	}
}

func testIsolation(t *testing.T, newStore Harness) {
	st := newStore(t)
	ctx := context.Background()
	f := mustPut(t, st, "alice", "private", "secret.txt", []byte("alice's secret"))
	trashed := mustPut(t, st, "alice", "private", "old.txt", []byte("old"))
	if err := st.Delete(ctx, "alice", trashed.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{f.ID, trashed.ID, "00000000-0000-7000-8000-000000000000", "nonsense"} {
		_, _, err := st.Get(ctx, "mallory", id)
		wantErr(t, "Get by another owner", err, filestore.ErrNotFound)
		_, err = st.Stat(ctx, "mallory", id)
		wantErr(t, "Stat by another owner", err, filestore.ErrNotFound)
		_, err = st.Update(ctx, "mallory", id, filestore.Update{Name: ptr("mine.txt")})
		wantErr(t, "Update by another owner", err, filestore.ErrNotFound)
		wantErr(t, "Delete by another owner", st.Delete(ctx, "mallory", id), filestore.ErrNotFound)
		_, err = st.Restore(ctx, "mallory", id)
		wantErr(t, "Restore by another owner", err, filestore.ErrNotFound)
		wantErr(t, "Purge by another owner", st.Purge(ctx, "mallory", id), filestore.ErrNotFound)
	}
	for _, opts := range []filestore.ListOptions{{Recursive: true}, {Folder: "private"}, {Recursive: true, Trash: true}, {Recursive: true, Query: "secret"}} {
		if got := listAll(t, st, "mallory", opts); len(got) != 0 {
			t.Errorf("mallory lists %d of alice's files with %+v", len(got), opts)
		}
	}
	// The same path is free for another owner, and stays separate.
	m := mustPut(t, st, "mallory", "private", "secret.txt", []byte("mallory's"))
	if m.ID == f.ID {
		t.Fatal("two owners share a file id")
	}
	if got := readAll(t, st, "alice", f.ID); string(got) != "alice's secret" {
		t.Fatalf("alice's file reads %q after mallory's attempts", got)
	}
	s, err := st.Stat(ctx, "alice", trashed.ID)
	if err != nil || s.DeletedAt == nil || s.Name != "old.txt" {
		t.Fatalf("alice's trashed file changed: %+v, %v", s, err)
	}
}

func testCollect(t *testing.T, newStore Harness) {
	st := newStore(t)
	ctx := context.Background()
	keep := mustPut(t, st, "alice", "", "keep.bin", Content(41, 5000))
	shared := Content(42, 6000)
	s1 := mustPut(t, st, "alice", "", "s1.bin", shared)
	s2 := mustPut(t, st, "bob", "", "s2.bin", shared)
	lone := mustPut(t, st, "alice", "", "lone.bin", Content(43, 7000))
	for _, f := range []*filestore.File{s1, lone} {
		if err := st.Delete(ctx, "alice", f.ID); err != nil {
			t.Fatal(err)
		}
	}
	// Within the retention, nothing goes.
	res, err := st.Collect(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *res != (filestore.CollectResult{}) {
		t.Fatalf("Collect within retention: %+v, want nothing removed", res)
	}
	res, err = st.Collect(ctx, &filestore.CollectOptions{TrashRetention: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := (filestore.CollectResult{PurgedFiles: 2, RemovedObjects: 1}); *res != want {
		t.Fatalf("Collect: %+v, want %+v", res, want)
	}
	for _, f := range []*filestore.File{s1, lone} {
		_, err := st.Stat(ctx, "alice", f.ID)
		wantErr(t, "Stat of collected trash", err, filestore.ErrNotFound)
	}
	if got := readAll(t, st, "bob", s2.ID); !bytes.Equal(got, shared) {
		t.Fatal("shared content lost")
	}
	readAll(t, st, "alice", keep.ID)
	if s := stats(t, st); s.Objects != 2 || s.Files != 2 {
		t.Fatalf("after Collect: %+v, want 2 objects and 2 files", s)
	}
}
