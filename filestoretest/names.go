package filestoretest

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/filestore-go/filestore"
)

func testNames(t *testing.T, newStore Harness) {
	st := newStore(t)
	ctx := context.Background()
	bad := []struct{ name, folder string }{
		{"", ""}, {" ", ""}, {"   ", ""}, {".", ""}, {"..", ""},
		{"a/b", ""}, {`a\b`, ""}, {"a\x00b", ""}, {"a\nb", ""}, {"a\x7fb", ""}, {"a\u0085b", ""},
		{"evil\u202Egpj.exe", ""}, {"a\u2066b", ""}, {"a\u200Eb", ""}, {"\xff\xfe", ""},
		{strings.Repeat("x", 256), ""},
		{"ok", "/a"}, {"ok", "a/"}, {"ok", "a//b"}, {"ok", "a/../b"}, {"ok", ".."}, {"ok", "a/./b"},
		{"ok", strings.Repeat("abcdefghi/", 103)}, {"ok", "a/b\x00"},
	}
	for _, tt := range bad {
		_, err := st.Put(ctx, "alice", tt.folder, tt.name, strings.NewReader("x"), nil)
		wantErr(t, "Put(folder "+strconvQuote(tt.folder)+", name "+strconvQuote(tt.name)+")", err, filestore.ErrInvalidName)
	}
	for _, owner := range []string{"", strings.Repeat("o", 256)} {
		_, err := st.Put(ctx, owner, "", "x", strings.NewReader("x"), nil)
		wantErr(t, "Put with owner of "+strconvQuote(owner), err, filestore.ErrInvalidName)
	}
	_, err := st.Put(ctx, "alice", "", "nil.txt", nil, nil)
	wantErr(t, "Put of a nil reader", err, filestore.ErrInvalidArgument)
	if files := listAll(t, st, "alice", filestore.ListOptions{Recursive: true}); len(files) != 0 {
		t.Fatalf("invalid names stored %d files", len(files))
	}

	// Valid names are kept byte-exact after NFC.
	good := []string{strings.Repeat("x", 255), "日本語.txt", " lead and trail ", "..x", "a.", "ünïcödé", "emoji 👨‍👩‍👧.png", "%_*?.txt"}
	for _, name := range good {
		f, err := st.Put(ctx, "alice", "good", name, strings.NewReader("x"), nil)
		if err != nil {
			t.Errorf("Put(%q): %v", name, err)
			continue
		}
		if f.Name != name {
			t.Errorf("Put(%q) stored name %q", name, f.Name)
		}
	}
	// NFD input is stored as NFC, so both spellings are one path.
	f, err := st.Put(ctx, "alice", "cafe\u0301", "e\u0301.txt", bytes.NewReader([]byte("nfd")), nil)
	if err != nil {
		t.Fatalf("Put NFD: %v", err)
	}
	if f.Name != "\u00e9.txt" || f.Folder != "caf\u00e9" {
		t.Errorf("NFD name stored as %q in %q, want NFC %q in %q", f.Name, f.Folder, "\u00e9.txt", "caf\u00e9")
	}
	_, err = st.Put(ctx, "alice", "caf\u00e9", "\u00e9.txt", bytes.NewReader([]byte("nfc")), nil)
	wantErr(t, "Put of the NFC spelling of a stored NFD name", err, filestore.ErrConflict)
}

func strconvQuote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return "\"" + strings.ToValidUTF8(s, "?") + "\""
}
