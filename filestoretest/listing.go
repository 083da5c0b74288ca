package filestoretest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/filestore-go/filestore"
	"github.com/google/go-cmp/cmp"
)

// paths returns "folder|name" of each file.
func paths(files []*filestore.File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Folder+"|"+f.Name)
	}
	return out
}

func testListing(t *testing.T, newStore Harness) {
	st := newStore(t)
	ctx := context.Background()
	layout := []string{
		"|b.txt", "|A.txt", "|a.txt",
		"a|x", "a|Y",
		"a/b|1", "a/b/c|2",
		"a0|3", "ab|4", "a-b|5",
		"docs|Report.PDF", "docs|report_2024.pdf", "docs|100%.txt", "docs|a_b", "docs|\u017Fecret.txt", "docs|plain",
		"docs|Caf\u00e9.txt",
	}
	for _, p := range layout {
		folder, name, _ := strings.Cut(p, "|")
		mustPut(t, st, "alice", folder, name, []byte(p))
	}
	mustPut(t, st, "bob", "a", "bob-only", []byte("b"))

	tests := []struct {
		name string
		opts filestore.ListOptions
		want []string
	}{
		{"Root", filestore.ListOptions{}, []string{"|A.txt", "|a.txt", "|b.txt"}},
		{"Folder", filestore.ListOptions{Folder: "a"}, []string{"a|Y", "a|x"}},
		{"Subtree", filestore.ListOptions{Folder: "a", Recursive: true}, []string{"a|Y", "a|x", "a/b|1", "a/b/c|2"}},
		{"Everything", filestore.ListOptions{Recursive: true}, []string{
			"|A.txt", "|a.txt", "|b.txt", "a|Y", "a|x", "a-b|5", "a/b|1", "a/b/c|2", "a0|3", "ab|4",
			"docs|100%.txt", "docs|Caf\u00e9.txt", "docs|Report.PDF", "docs|a_b", "docs|plain", "docs|report_2024.pdf", "docs|\u017Fecret.txt"}},
		{"QueryIgnoresCase", filestore.ListOptions{Folder: "docs", Query: "REPORT"}, []string{"docs|Report.PDF", "docs|report_2024.pdf"}},
		{"QueryPercentIsLiteral", filestore.ListOptions{Folder: "docs", Query: "%"}, []string{"docs|100%.txt"}},
		{"QueryUnderscoreIsLiteral", filestore.ListOptions{Folder: "docs", Query: "_"}, []string{"docs|a_b", "docs|report_2024.pdf"}},
		{"QuerySimpleFolding", filestore.ListOptions{Folder: "docs", Query: "SEC"}, []string{"docs|\u017Fecret.txt"}},
		{"QueryRecursive", filestore.ListOptions{Recursive: true, Query: "a.TXT"}, []string{"|A.txt", "|a.txt"}},
		// Names are stored in NFC; a query in another canonically
		// equivalent spelling (NFD, as macOS sends) finds them too.
		{"QueryNFC", filestore.ListOptions{Folder: "docs", Query: "CAF\u00c9"}, []string{"docs|Caf\u00e9.txt"}},
		{"QueryNFD", filestore.ListOptions{Folder: "docs", Query: "cafe\u0301"}, []string{"docs|Caf\u00e9.txt"}},
		{"QueryNoMatch", filestore.ListOptions{Recursive: true, Query: "nothing"}, nil},
		{"EmptyFolder", filestore.ListOptions{Folder: "nowhere"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, paths(listAll(t, st, "alice", tt.opts))); diff != "" {
				t.Errorf("List(%+v) mismatch (-want +got):\n%s", tt.opts, diff)
			}
		})
	}
	t.Run("BadArguments", func(t *testing.T) {
		for _, opts := range []filestore.ListOptions{{Limit: -1}, {Limit: 1001}, {Cursor: "garbage!"}, {Cursor: "eyJ4IjoxfQ"}, {Folder: "/a"}} {
			_, err := st.List(ctx, "alice", &opts)
			if !errorsIsAny(err, filestore.ErrInvalidArgument, filestore.ErrInvalidName) {
				t.Errorf("List(%+v): got %v, want ErrInvalidArgument or ErrInvalidName", opts, err)
			}
		}
	})
	t.Run("CursorWithTrailingData", func(t *testing.T) {
		p, err := st.List(ctx, "alice", &filestore.ListOptions{Limit: 1})
		if err != nil || p.NextCursor == "" {
			t.Fatalf("List(Limit 1) = %+v, %v; want a page with a cursor", p, err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(p.NextCursor)
		if err != nil {
			t.Fatalf("cursor %q is not unpadded base64url: %v", p.NextCursor, err)
		}
		for _, tail := range []string{` {"id":"x"}`, "}", "x", " 1"} {
			bad := base64.RawURLEncoding.EncodeToString(append(raw[:len(raw):len(raw)], tail...))
			if _, err := st.List(ctx, "alice", &filestore.ListOptions{Limit: 1, Cursor: bad}); !errors.Is(err, filestore.ErrInvalidArgument) {
				t.Errorf("cursor %s%s: got %v, want ErrInvalidArgument", raw, tail, err)
			}
		}
		for _, tail := range []string{"", " ", "\n"} { // whitespace after it is no harm
			ok := base64.RawURLEncoding.EncodeToString(append(raw[:len(raw):len(raw)], tail...))
			if _, err := st.List(ctx, "alice", &filestore.ListOptions{Limit: 1, Cursor: ok}); err != nil {
				t.Errorf("cursor %q: %v", string(raw)+tail, err)
			}
		}
	})
	t.Run("CursorOfAnotherListing", func(t *testing.T) {
		p, err := st.List(ctx, "alice", &filestore.ListOptions{Folder: "docs", Limit: 1})
		if err != nil || p.NextCursor == "" {
			t.Fatalf("List(docs, Limit 1) = %+v, %v; want a page with a cursor", p, err)
		}
		for _, opts := range []filestore.ListOptions{
			{Folder: "a", Cursor: p.NextCursor},
			{Folder: "docs", Recursive: true, Cursor: p.NextCursor},
			{Folder: "docs", Query: "report", Cursor: p.NextCursor},
			{Folder: "docs", Trash: true, Cursor: p.NextCursor},
		} {
			if _, err := st.List(ctx, "alice", &opts); !errors.Is(err, filestore.ErrInvalidArgument) {
				t.Errorf("List(%+v) with a cursor of folder docs: got %v, want ErrInvalidArgument", opts, err)
			}
		}
		// The page size may change from page to page.
		if _, err := st.List(ctx, "alice", &filestore.ListOptions{Folder: "docs", Limit: 5, Cursor: p.NextCursor}); err != nil {
			t.Errorf("next page with another limit: %v", err)
		}
		// A query is the same listing under simple case folding.
		q, err := st.List(ctx, "alice", &filestore.ListOptions{Recursive: true, Query: "A", Limit: 1})
		if err != nil || q.NextCursor == "" {
			t.Fatalf("List(query A, Limit 1) = %+v, %v; want a page with a cursor", q, err)
		}
		if _, err := st.List(ctx, "alice", &filestore.ListOptions{Recursive: true, Query: "a", Cursor: q.NextCursor}); err != nil {
			t.Errorf("next page of query a with the cursor of query A: %v", err)
		}
	})
	t.Run("TextThatNamesNothing", func(t *testing.T) {
		// A NUL or bytes that are not UTF-8 cannot be stored, so they name
		// no file and match nothing; the catalogue is never asked (SQL
		// cannot even quote a NUL).
		p, err := st.List(ctx, "alice", &filestore.ListOptions{Limit: 1})
		if err != nil || len(p.Files) != 1 {
			t.Fatalf("List(Limit 1) = %+v, %v", p, err)
		}
		f := p.Files[0]
		for _, id := range []string{f.ID + "\x00", "\x00", "\xff", f.ID[:len(f.ID)-1] + "\xff"} {
			if _, err := st.Stat(ctx, "alice", id); !errors.Is(err, filestore.ErrNotFound) {
				t.Errorf("Stat(%q): got %v, want ErrNotFound", id, err)
			}
			if _, _, err := st.Get(ctx, "alice", id); !errors.Is(err, filestore.ErrNotFound) {
				t.Errorf("Get(%q): got %v, want ErrNotFound", id, err)
			}
			name := "renamed.txt"
			if _, err := st.Update(ctx, "alice", id, filestore.Update{Name: &name}); !errors.Is(err, filestore.ErrNotFound) {
				t.Errorf("Update(%q): got %v, want ErrNotFound", id, err)
			}
			if err := st.Delete(ctx, "alice", id); !errors.Is(err, filestore.ErrNotFound) {
				t.Errorf("Delete(%q): got %v, want ErrNotFound", id, err)
			}
			if _, err := st.Restore(ctx, "alice", id); !errors.Is(err, filestore.ErrNotFound) {
				t.Errorf("Restore(%q): got %v, want ErrNotFound", id, err)
			}
			if err := st.Purge(ctx, "alice", id); !errors.Is(err, filestore.ErrNotFound) {
				t.Errorf("Purge(%q): got %v, want ErrNotFound", id, err)
			}
		}
		for _, owner := range []string{"alice\x00", "alic\xff"} {
			if _, err := st.Stat(ctx, owner, f.ID); !errors.Is(err, filestore.ErrNotFound) {
				t.Errorf("Stat as %q: got %v, want ErrNotFound", owner, err)
			}
			if p, err := st.List(ctx, owner, &filestore.ListOptions{Recursive: true}); err != nil || len(p.Files) != 0 {
				t.Errorf("List as %q: got %v, %v; want an empty page", owner, paths(p.Files), err)
			}
		}
		nulCursor := base64.RawURLEncoding.EncodeToString([]byte(`{"f":"","n":"a","i":"x\u0000"}`))
		for _, opts := range []filestore.ListOptions{{Query: "a\x00"}, {Query: "\xff"}, {Cursor: nulCursor}} {
			if _, err := st.List(ctx, "alice", &opts); !errors.Is(err, filestore.ErrInvalidArgument) {
				t.Errorf("List(%+v): got %v, want ErrInvalidArgument", opts, err)
			}
		}
		if got, err := st.Stat(ctx, "alice", f.ID); err != nil || got.Name != f.Name || got.DeletedAt != nil {
			t.Errorf("the file after it all: %+v, %v", got, err)
		}
	})
	t.Run("NilOptions", func(t *testing.T) {
		p, err := st.List(ctx, "alice", nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"|A.txt", "|a.txt", "|b.txt"}, paths(p.Files)); diff != "" || p.NextCursor != "" {
			t.Errorf("List(nil) = %v, cursor %q (-want +got):\n%s", paths(p.Files), p.NextCursor, diff)
		}
	})
}

func testPagination(t *testing.T, newStore Harness) {
	st := newStore(t)
	ctx := context.Background()
	var want []string
	for i := range 37 {
		folder := fmt.Sprintf("f%d", i%4)
		name := fmt.Sprintf("n%03d", i)
		mustPut(t, st, "alice", folder, name, []byte(name))
		want = append(want, folder+"|"+name)
	}
	slices.Sort(want)
	for _, limit := range []int{1, 5, 36, 37, 38, 1000} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			opts := filestore.ListOptions{Recursive: true, Limit: limit}
			var got []string
			pages := 0
			for {
				p, err := st.List(ctx, "alice", &opts)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(p.Files) > limit || (p.NextCursor != "" && len(p.Files) != limit) {
					t.Fatalf("page %d has %d files with cursor %q, limit %d", pages, len(p.Files), p.NextCursor, limit)
				}
				got = append(got, paths(p.Files)...)
				if p.NextCursor == "" {
					break
				}
				opts.Cursor = p.NextCursor
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pages joined differ from the full order (-want +got):\n%s", diff)
			}
			if wantPages := (37 + limit - 1) / limit; pages != wantPages {
				t.Errorf("%d pages, want %d (next_cursor only when more follow)", pages, wantPages)
			}
		})
	}
	t.Run("StableUnderInserts", func(t *testing.T) {
		opts := filestore.ListOptions{Folder: "f1", Limit: 4}
		p, err := st.List(ctx, "alice", &opts)
		if err != nil {
			t.Fatal(err)
		}
		got := paths(p.Files)
		// One file before the cursor's position, one after it.
		mustPut(t, st, "alice", "f1", "a-before", []byte("x"))
		mustPut(t, st, "alice", "f1", "z-after", []byte("y"))
		opts.Cursor = p.NextCursor
		got = append(got, paths(listAll(t, st, "alice", opts))...)
		var wantF1 []string
		for _, w := range want {
			if strings.HasPrefix(w, "f1|") {
				wantF1 = append(wantF1, w)
			}
		}
		wantF1 = append(wantF1, "f1|z-after")
		if diff := cmp.Diff(wantF1, got); diff != "" {
			t.Errorf("listing across inserts (-want +got):\n%s", diff)
		}
	})
}
