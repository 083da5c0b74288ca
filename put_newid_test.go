package filestore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/internal/faults"
)

// TestNewIDRepeated: when Options.NewID repeats an id, the second upload
// fails with ErrIDTaken and stores nothing, whatever its owner, content
// and path, on SQLite and PostgreSQL; the first file is unchanged. Before,
// an upload by the same owner of the same content returned the first file
// (another path) with no error, and one of other content failed with an
// error that matched no sentinel.
func TestNewIDRepeated(t *testing.T) {
	second := []struct {
		name, owner, folder, file, content string
	}{
		{"same owner and content, another path", "alice", "docs", "second.txt", "same content"},
		{"same owner, other content", "alice", "", "third.txt", strings.Repeat("other", 20000)},
		{"other owner, same content", "bob", "", "first.txt", "same content"},
	}
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			ctx := context.Background()
			dbURL, bucketURL := pairURLs(t, db, "file")
			st := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL, NewID: func() string { return "id-1" }})
			first, err := st.Put(ctx, "alice", "", "first.txt", strings.NewReader("same content"), nil)
			if err != nil {
				t.Fatalf("first Put: %v", err)
			}
			for _, tt := range second {
				f, err := st.Put(ctx, tt.owner, tt.folder, tt.file, strings.NewReader(tt.content), nil)
				if !errors.Is(err, filestore.ErrIDTaken) {
					t.Errorf("%s: Put = %+v, %v; want ErrIDTaken", tt.name, f, err)
				}
			}
			for _, owner := range []string{"alice", "bob"} {
				page, err := st.List(ctx, owner, &filestore.ListOptions{Recursive: true})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, f := range page.Files {
					got = append(got, f.Folder+"/"+f.Name+" "+f.ID)
				}
				want := ""
				if owner == "alice" {
					want = "/first.txt id-1"
				}
				if strings.Join(got, ",") != want {
					t.Errorf("%s's files: %q, want %q", owner, got, want)
				}
			}
			if got := readAll(t, st, "alice", first.ID); string(got) != "same content" {
				t.Errorf("first file reads %q", got)
			}
			if _, err := st.Collect(ctx, &filestore.CollectOptions{StagingTTL: time.Nanosecond}); err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, dbURL, bucketURL, true)
		})
	}
}

// TestNewIDInvalid: an id that is empty, too long, or has characters a URL
// does not carry as they are fails the upload with an error naming
// Options.NewID (no sentinel: not the caller's ErrInvalidArgument, which
// httpapi would answer 400), and nothing is stored. Before, an id with a NUL was stored, and the file
// could never be found again (Stat: ErrNotFound).
func TestNewIDInvalid(t *testing.T) {
	for _, tt := range []struct{ name, id string }{
		{"empty", ""}, {"NUL", "bad\x00id"}, {"slash", "a/b"}, {"space", "a b"}, {"non-ASCII", "é"}, {"129 characters", strings.Repeat("a", 129)},
	} {
		id := tt.id
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dbURL, bucketURL := pairURLs(t, "sqlite", "file")
			st := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL, InlineMax: -1, NewID: func() string { return id }})
			f, err := st.Put(ctx, "alice", "", "x.txt", strings.NewReader("content"), nil)
			want := fmt.Sprintf("filestore: put: Options.NewID returned %q, which is no file id (1 to 128 characters of A-Z, a-z, 0-9 and \"-._~\"); nothing is stored", id)
			if err == nil || err.Error() != want || errors.Is(err, filestore.ErrInvalidArgument) {
				t.Fatalf("Put with id %q = %+v, %v; want the error %q, which is not the caller's ErrInvalidArgument", id, f, err, want)
			}
			page, err := st.List(ctx, "alice", nil)
			if err != nil || len(page.Files) != 0 {
				t.Errorf("files after the refusal: %+v, %v", page, err)
			}
			if n := checkInvariants(t, dbURL, bucketURL, true); n != 0 {
				t.Errorf("%d objects after the refusal, want 0", n)
			}
		})
	}
	ok := strings.Repeat("Az09-._~", 16)
	dbURL, bucketURL := pairURLs(t, "sqlite", "file")
	st := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL, NewID: func() string { return ok }})
	f, err := st.Put(context.Background(), "alice", "", "x.txt", strings.NewReader("content"), nil)
	if err != nil || f.ID != ok {
		t.Errorf("Put with the 128-character id %q = %+v, %v", ok, f, err)
	}
}

// TestNewIDRepeatedLostStatement: on PostgreSQL, when the one-statement
// commit of an upload whose id repeats another file's loses its connection
// (nothing applied), Put still fails with ErrIDTaken, and the other file
// is unchanged. Before, the fallback's ErrIDTaken was taken for an unknown
// outcome, and recoverCommit, finding a row with the id, returned the
// other file as this upload's (found by the review of this session's
// diff).
func TestNewIDRepeatedLostStatement(t *testing.T) {
	ctx := context.Background()
	env := newFaultEnv(t, "postgres", 3, func(o *filestore.Options) { o.NewID = func() string { return "dup-id" } })
	one := strings.Repeat("1", 200<<10)
	if _, err := env.st.Put(ctx, "alice", "", "one.bin", strings.NewReader(one), nil); err != nil {
		t.Fatal(err)
	}
	env.in.Arm(faults.Rule{Op: faults.OpQuery, Match: isCommitStatement, Err: faults.ConnClosed()})
	f, err := env.st.Put(ctx, "alice", "", "two.bin", strings.NewReader(strings.Repeat("2", 200<<10)), nil)
	env.in.Disarm()
	if !errors.Is(err, filestore.ErrIDTaken) {
		t.Errorf("Put with a repeated id and a lost statement = %+v, %v; want ErrIDTaken", f, err)
	}
	page, err := env.st.List(ctx, "alice", nil)
	if err != nil || len(page.Files) != 1 || page.Files[0].Name != "one.bin" {
		t.Fatalf("files: %+v, %v; want one.bin alone", page, err)
	}
	if got := readAll(t, env.st, "alice", "dup-id"); string(got) != one {
		t.Errorf("one.bin reads %d bytes, want its %d", len(got), len(one))
	}
}
