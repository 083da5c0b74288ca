package filestore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/filestoretest"
)

// TestPutRepeatedID: an Options.NewID that repeats an id in use makes the
// Put fail with dedup.ErrIDTaken, for another owner's file and for one of
// the same owner's of other content, inline and in the bucket. Before, the commit took the
// row with that id for an earlier attempt of its own and answered with it:
// bob's Put returned alice's file and stored nothing.
func TestPutRepeatedID(t *testing.T) {
	for _, d := range databases {
		t.Run(d.name, func(t *testing.T) {
			dbURL, bucketURL := pairURLs(t, d.name, "file")
			st := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL, NewID: func() string { return "same-id" }})
			ctx := context.Background()
			secret := []byte("alice's data")
			first, err := st.Put(ctx, "alice", "private", "secret.txt", bytes.NewReader(secret), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				owner, name string
				content     []byte
			}{
				{"bob", "mine.txt", []byte("bob's data")},
				{"bob", "big.bin", filestoretest.Content(3, 3<<20)},
				{"alice", "other.txt", []byte("more of alice's")},
				{"alice", "big.bin", filestoretest.Content(4, 3<<20)},
			} {
				f, err := st.Put(ctx, tc.owner, "", tc.name, bytes.NewReader(tc.content), nil)
				if !errors.Is(err, dedup.ErrIDTaken) {
					t.Errorf("%s's Put of %s with a repeated id: got %+v, %v; want dedup.ErrIDTaken", tc.owner, tc.name, f, err)
				}
			}
			f, rc, err := st.Get(ctx, "alice", first.ID)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, secret) || f.Folder != "private" || f.Name != "secret.txt" {
				t.Errorf("alice's file after the refused Puts: %+v, %q, %v", f, got, err)
			}
			for owner, want := range map[string]int{"alice": 1, "bob": 0} {
				p, err := st.List(ctx, owner, &filestore.ListOptions{Recursive: true})
				if err != nil || len(p.Files) != want {
					t.Errorf("%s lists %d files (%v), want %d", owner, len(p.Files), err, want)
				}
			}
			checkInvariants(t, dbURL, bucketURL, false)
		})
	}
}
