package filestore_test

import (
	"context"
	"errors"
	"io/fs"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/storage"
	"github.com/google/go-cmp/cmp"
)

// The naming rule these tests pin down (names.go, CleanName): a name is
// taken literally, as an opaque identifier compared byte for byte after NFC
// (not NFKC: compatibility look-alikes such as fullwidth dots stay distinct
// names). It never becomes a path or a storage key, so traversal syntax is
// either refused (anything with "/" or "\", ".", "..") or inert (percent
// encodings are just characters). Refused: NUL and other C0/C1 controls and
// DEL, bidi controls (U+061C, U+200E, U+200F, U+202A-U+202E,
// U+2066-U+2069), invisible characters with no use in a name (format
// characters such as U+00AD, U+200B, U+2060, U+2061-U+2064, U+FEFF and
// U+FFF9-U+FFFB; other default-ignorables such as the Hangul fillers
// U+3164 and U+FFA0; U+2028, U+2029; a variation selector after an ASCII
// letter; tag characters outside an emoji flag), invalid UTF-8. Allowed and
// kept: ZWJ and ZWNJ (U+200D, U+200C), needed in emoji sequences and in
// Persian and Indic scripts — so "a\u200db" and "ab" are two different
// names, as "rеport" with a Cyrillic е is not "report" — and variation
// selectors and tags where emoji and CJK text use them.

// hostileNames are hostile or look-alike names that are valid: each must
// be stored under exactly this name (they are all NFC already).
var hostileNames = []string{
	"%2e%2e%2fetc%2fpasswd", "..%2f..%2fsecret", "%2e%2e", "%00", "%252e%252e%252f",
	"..\u2215etc", "\uff0e\uff0e", "\uff0e\uff0e\uff0fetc", "\u2024\u2024", "...", "..x", ".htaccess",
	"CON", "nul.txt", "a:b", "file.txt::$DATA", "~", "$HOME", "`id`", "'; DROP TABLE files; --",
	"report\u200d.pdf", "r\u0435port.pdf",
	"\U0001F468\u200d\U0001F469\u200d\U0001F467", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
	englandFlag + ".png", "\u2764\ufe0f.txt", "1\ufe0f\u20e3 #\ufe0f\u20e3.txt", "\u845b\U000E0100\u57ce.txt",
	"\u0600\u0661\u0662.txt", "a\u034f\u0300b.txt",
}

// englandFlag is an emoji tag sequence: U+1F3F4, the tags "gbeng", U+E007F.
const englandFlag = "\U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F"

// refusedNames break the naming rule as names, refusedFolders as folders.
var (
	refusedNames = []string{
		"..", ".", "../x", "a/../../b", `..\x`, `a\b`, "/etc/passwd", "x/", "a\x00", "\x00", "\x00.txt",
		"x\u202egpj.exe", "\u200e", "\u200fx", "\u061c", "\u2066x\u2069", "a\x1b[31m", "a\u0085b", "\xc0\xaf",
		"report\u200b.pdf", "\ufeffbom.txt", "word\u2060joiner", "line\u2028separator", "para\u2029",
		"invoice\u00ad.pdf", "invoice.pdf\u2064", "invoice.pdf\u2061", "invoice.pdf\u180e", "invoice\U000E0020.pdf",
		"\u3164", "a\u3164b", "\uffa0.txt", "\u115f.txt", "x\ufff9y\ufffbz", "x\U0001BCA0", "x\U0001D173",
		"report.pdf\ufe0f", "\ufe0fx", "a\ufe0f\ufe0f", "x\U000E0100",
		"\U000E007F", "\U0001F3F4\U000E007F", "\U0001F3F4\U000E0067\U000E0062", "x\U000E0067\U000E007F",
		englandFlag[:len(englandFlag)-4] + "x\U000E007F", "\U0001F3F4\U000E0001\U000E007F",
	}
	refusedFolders = []string{"..", "../x", "a/..", "a/./b", "/abs", "a\\b", "a\x00", "a//b", "x/", "\u202e"}
)

func TestHostileNamesRefused(t *testing.T) {
	st := openStore(t, "sqlite", "mem", filestore.Options{})
	ctx := context.Background()
	got := map[string]string{}
	for _, name := range refusedNames {
		_, err := st.Put(ctx, "alice", "", name, strings.NewReader("x"), nil)
		got["name "+strconvQuoteASCII(name)] = classifyName(err)
	}
	for _, folder := range refusedFolders {
		_, err := st.Put(ctx, "alice", folder, "x", strings.NewReader("x"), nil)
		got["folder "+strconvQuoteASCII(folder)] = classifyName(err)
	}
	want := map[string]string{}
	for k := range got {
		want[k] = "ErrInvalidName"
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Put with refused names (-want +got):\n%s", diff)
	}
	if s, err := st.Stats(ctx); err != nil || s.Files != 0 || s.Objects != 0 {
		t.Errorf("after refused names: %+v, %v; want nothing stored", s, err)
	}
}

// Hostile names that are valid are stored literally, in hostile folders
// too, listed as they are, and never reach the file system: every file under
// the bucket's directory is an object key made by the store, and nothing is
// created beside it.
func TestHostileNamesStayLiteral(t *testing.T) {
	dbURL, bucketURL := pairURLs(t, "sqlite", "file")
	st := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL})
	ctx := context.Background()
	u, err := url.Parse(bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.FromSlash(u.Path)
	var want, got []string
	for i, name := range hostileNames {
		folder := []string{"", "%2e%2e", "\uff0e\uff0e/\uff0e\uff0e", "..x/...", "a\u200db"}[i%5]
		f, err := st.Put(ctx, "alice", folder, name, strings.NewReader(name), nil)
		if err != nil {
			t.Errorf("Put(%q, %q): %v", folder, name, err)
			continue
		}
		want = append(want, folder+" | "+name)
		got = append(got, f.Folder+" | "+f.Name)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored paths (-want +got):\n%s", diff)
	}
	page, err := st.List(ctx, "alice", &filestore.ListOptions{Recursive: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, f := range page.Files {
		listed = append(listed, f.Folder+" | "+f.Name)
	}
	sort.Strings(want)
	sort.Strings(listed)
	if diff := cmp.Diff(want, listed); diff != "" {
		t.Errorf("listed paths (-want +got):\n%s", diff)
	}

	keyRE := regexp.MustCompile(`^o/[0-9a-f]{2}/[0-9a-f]{32}-t[0-9]+$`)
	dirRE := regexp.MustCompile(`^o(/[0-9a-f]{2})?$`)
	var bad []string
	err = filepath.WalkDir(filepath.Dir(root), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir() && (path == filepath.Dir(root) || rel == "." || dirRE.MatchString(rel)):
		case !d.IsDir() && keyRE.MatchString(rel):
		case !d.IsDir() && rel == storage.MarkerKey: // the bucket's marker, written by Open
		default:
			bad = append(bad, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("the bucket's directory holds paths that are not object keys: %q", bad)
	}
	checkInvariants(t, dbURL, bucketURL, true)
}

// Look-alike names are distinct files: none conflicts with another, and a
// search for one finds only itself.
func TestHostileLookAlikesAreDistinct(t *testing.T) {
	st := openStore(t, "sqlite", "mem", filestore.Options{})
	ctx := context.Background()
	names := []string{"report.pdf", "report\u200d.pdf", "r\u0435port.pdf", "report.pdf\u200c", "REPORT.pdf", "report\uff0epdf"}
	ids := map[string]bool{}
	for _, n := range names {
		f, err := st.Put(ctx, "alice", "", n, strings.NewReader(n), nil)
		if err != nil {
			t.Fatalf("Put(%q): %v", n, err)
		}
		ids[f.ID] = true
	}
	if len(ids) != len(names) {
		t.Fatalf("%d look-alike names gave %d files", len(names), len(ids))
	}
	page, err := st.List(ctx, "alice", &filestore.ListOptions{Query: "report.pdf"})
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, f := range page.Files {
		found = append(found, f.Name)
	}
	// Case folding makes REPORT.pdf match; no invisible or look-alike
	// character is folded away.
	if diff := cmp.Diff([]string{"REPORT.pdf", "report.pdf", "report.pdf\u200c"}, found); diff != "" {
		t.Errorf("List(Query \"report.pdf\") (-want +got):\n%s", diff)
	}
}

// classifyName names the sentinel that err wraps, for the tables above.
func classifyName(err error) string {
	switch {
	case err == nil:
		return "accepted"
	case errors.Is(err, filestore.ErrInvalidName):
		return "ErrInvalidName"
	}
	return err.Error()
}

// strconvQuoteASCII quotes s with every non-ASCII or invalid byte escaped,
// for readable subtest keys.
func strconvQuoteASCII(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			b.WriteByte(c)
			continue
		}
		b.WriteString(`\x`)
		b.WriteByte("0123456789abcdef"[c>>4])
		b.WriteByte("0123456789abcdef"[c&15])
	}
	b.WriteByte('"')
	return b.String()
}
