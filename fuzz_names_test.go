package filestore_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/filestore-go/filestore"
	"golang.org/x/text/unicode/norm"
)

// The seed corpora are in testdata/fuzz/FuzzCleanName and
// testdata/fuzz/FuzzCleanFolder. Run a target with, for example:
//
//	go test -run '^$' -fuzz '^FuzzCleanName$' -fuzztime 20s .

// forbiddenInName reports whether r may not appear in a name whatever
// surrounds it, by the rule of CleanName's documentation, spelled out
// independently of it: "/", "\", C0 controls and NUL, DEL, C1 controls,
// the bidi controls U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069,
// U+2028, U+2029, and the invisible format characters (Cf) and other
// default-ignorable code points, except ZWJ, ZWNJ, U+034F, the prepended
// concatenation marks, the Egyptian hieroglyph format controls, and the
// variation selectors and tags, which depend on their neighbours
// (forbiddenInContext).
func forbiddenInName(r rune) bool {
	switch {
	case r == '/' || r == '\\':
		return true
	case r <= 0x1f || r >= 0x7f && r <= 0x9f:
		return true
	case r == 0x061c || r == 0x200e || r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x2028 || r == 0x2029:
		return true
	case r == 0x200c || r == 0x200d || r == 0x034f, r >= 0x13430 && r <= 0x1343f,
		r >= 0xe0020 && r <= 0xe007f, unicode.Is(unicode.Variation_Selector, r),
		unicode.Is(unicode.Prepended_Concatenation_Mark, r):
		return false
	}
	return unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point)
}

// flagTags matches the tags of emoji tag sequences (U+1F3F4, tags
// U+E0020-U+E007E, U+E007F), the only places where tags are allowed.
var flagTags = regexp.MustCompile("\U0001F3F4[\U000E0020-\U000E007E]+\U000E007F")

// forbiddenInContext reports whether n (in NFC) has a variation selector
// after nothing, after another variation selector or after an ASCII
// character other than a digit, "#" or "*", or a tag character outside an
// emoji tag sequence.
func forbiddenInContext(n string) bool {
	rs := []rune(n)
	for i, r := range rs {
		if !unicode.Is(unicode.Variation_Selector, r) {
			continue
		}
		if i == 0 || unicode.Is(unicode.Variation_Selector, rs[i-1]) ||
			(rs[i-1] < 0x80 && !strings.ContainsRune("0123456789#*", rs[i-1])) {
			return true
		}
	}
	rest := flagTags.ReplaceAllString(n, "\U0001F3F4")
	return strings.IndexFunc(rest, func(r rune) bool { return r >= 0xe0020 && r <= 0xe007f }) >= 0
}

// nameOK is the documented rule as an oracle: whether CleanName must
// accept s, and the name it must return.
func nameOK(s string) (string, bool) {
	if !utf8.ValidString(s) {
		return "", false
	}
	n := norm.NFC.String(s)
	if n == "." || n == ".." || len(n) > filestore.MaxNameBytes || strings.IndexFunc(n, func(r rune) bool { return !unicode.IsSpace(r) }) < 0 {
		return "", false
	}
	if strings.IndexFunc(n, forbiddenInName) >= 0 || forbiddenInContext(n) {
		return "", false
	}
	return n, true
}

// checkName checks CleanName's properties on one input.
func checkName(t *testing.T, in string) {
	out, err := filestore.CleanName(in)
	want, ok := nameOK(in)
	if err != nil {
		if !errors.Is(err, filestore.ErrInvalidName) || out != "" {
			t.Fatalf("CleanName(%q) = %q, %v; a refusal must be \"\" and wrap ErrInvalidName", in, out, err)
		}
		if ok {
			t.Fatalf("CleanName(%q) refused a valid name (want %q): %v", in, want, err)
		}
		return
	}
	switch {
	case !ok:
		t.Fatalf("CleanName(%q) = %q, accepted a name the rule refuses", in, out)
	case out != want:
		t.Fatalf("CleanName(%q) = %q, want its NFC form %q unchanged otherwise", in, out, want)
	case !utf8.ValidString(out) || !norm.NFC.IsNormalString(out):
		t.Fatalf("CleanName(%q) = %q: not valid UTF-8 in NFC", in, out)
	case strings.IndexFunc(out, forbiddenInName) >= 0 || strings.IndexFunc(out, unicode.IsControl) >= 0:
		t.Fatalf("CleanName(%q) = %q: contains a separator, control or bidi control", in, out)
	case out == "" || len(out) > filestore.MaxNameBytes || out == "." || out == "..":
		t.Fatalf("CleanName(%q) = %q: empty, dot, dot-dot or too long", in, out)
	}
	again, err := filestore.CleanName(out)
	if err != nil || again != out {
		t.Fatalf("CleanName is not idempotent: CleanName(%q) = %q, then %q, %v", in, out, again, err)
	}
}

func FuzzCleanName(f *testing.F) {
	f.Add("report.pdf")
	f.Add("e\u0301.txt")
	f.Add("\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F x\ufe0f")
	f.Fuzz(func(t *testing.T, in string) { checkName(t, in) })
}

// folderOK is the documented folder rule as an oracle.
func folderOK(s string) (string, bool) {
	if s == "" {
		return "", true
	}
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		n, ok := nameOK(seg)
		if !ok {
			return "", false
		}
		segs[i] = n
	}
	f := strings.Join(segs, "/")
	return f, len(f) <= filestore.MaxFolderBytes
}

func FuzzCleanFolder(f *testing.F) {
	f.Add("a/b/c")
	f.Add("a/../b")
	f.Fuzz(func(t *testing.T, in string) {
		out, err := filestore.CleanFolder(in)
		want, ok := folderOK(in)
		if err != nil {
			if !errors.Is(err, filestore.ErrInvalidName) || out != "" {
				t.Fatalf("CleanFolder(%q) = %q, %v; a refusal must be \"\" and wrap ErrInvalidName", in, out, err)
			}
			if ok {
				t.Fatalf("CleanFolder(%q) refused a valid folder (want %q): %v", in, want, err)
			}
			return
		}
		if !ok || out != want {
			t.Fatalf("CleanFolder(%q) = %q; the rule says %q (valid %v)", in, out, want, ok)
		}
		if out != norm.NFC.String(in) {
			t.Fatalf("CleanFolder(%q) = %q, want the input's NFC form %q", in, out, norm.NFC.String(in))
		}
		if out != "" {
			if strings.HasPrefix(out, "/") || strings.HasSuffix(out, "/") || strings.Contains(out, "//") {
				t.Fatalf("CleanFolder(%q) = %q: a leading, trailing or doubled /", in, out)
			}
			for _, seg := range strings.Split(out, "/") {
				checkName(t, seg)
				if c, err := filestore.CleanName(seg); err != nil || c != seg {
					t.Fatalf("CleanFolder(%q) = %q has segment %q that is not a clean name", in, out, seg)
				}
			}
		}
		again, err := filestore.CleanFolder(out)
		if err != nil || again != out {
			t.Fatalf("CleanFolder is not idempotent: CleanFolder(%q) = %q, then %q, %v", in, out, again, err)
		}
	})
}
