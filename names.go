package filestore

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Name and path limits, in bytes after NFC normalisation.
const (
	MaxNameBytes   = 255
	MaxFolderBytes = 1024
	MaxOwnerBytes  = 255
)

// CleanName returns name in NFC, or an error wrapping ErrInvalidName when it
// is not a valid file or folder name: empty or only spaces, "." or "..",
// longer than MaxNameBytes, not UTF-8, or containing "/", "\", NUL, a
// control character (C0, DEL, C1), a bidi control (U+061C, U+200E,
// U+200F, U+202A-U+202E, U+2066-U+2069), or an invisible character with no
// use in a name (see invisible): such characters let two names that
// display alike live side by side, or hide what a name ends with. The zero
// width joiner and non-joiner (U+200D, U+200C) stay allowed, as do
// variation selectors after a character that takes them and tag
// characters in an emoji tag sequence (flags such as England's): emoji
// sequences and Persian, Indic and CJK text need them. A valid name is
// kept byte-exact after NFC: it is never rewritten into another name.
func CleanName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidName)
	}
	n := norm.NFC.String(name)
	switch {
	case strings.TrimSpace(n) == "" || strings.Trim(n, " ") == "":
		return "", fmt.Errorf("%w: empty", ErrInvalidName)
	case n == "." || n == "..":
		return "", fmt.Errorf("%w: %q is not a name", ErrInvalidName, n)
	case len(n) > MaxNameBytes:
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidName, MaxNameBytes)
	}
	prev := rune(-1)
	for i, r := range n {
		switch {
		case r == '/' || r == '\\':
			return "", fmt.Errorf("%w: contains a path separator", ErrInvalidName)
		case unicode.IsControl(r):
			return "", fmt.Errorf("%w: contains control character %U", ErrInvalidName, r)
		case unicode.Is(unicode.Bidi_Control, r):
			return "", fmt.Errorf("%w: contains bidi control %U", ErrInvalidName, r)
		case invisible(n, i, prev, r):
			return "", fmt.Errorf("%w: contains invisible character %U", ErrInvalidName, r)
		}
		prev = r
	}
	return n, nil
}

// invisible reports whether r, at byte offset i of name after prev (-1 at
// the start), is an invisible character that names refuse: a format
// character (Unicode category Cf, such as U+00AD soft hyphen, U+200B zero
// width space, U+2060 word joiner, U+2061-U+2064, U+FEFF, U+FFF9-U+FFFB),
// another default-ignorable code point (such as the Hangul fillers U+115F,
// U+1160, U+3164 and U+FFA0), or a line or paragraph separator (U+2028,
// U+2029). Excepted, because text needs them: the zero width joiner and
// non-joiner; the prepended concatenation marks (U+0600-U+0605 and the
// like, which are visible) and the Egyptian hieroglyph format controls; a
// variation selector after a character other than ASCII (or after an
// ASCII digit, "#" or "*", as in keycap emoji); and tag characters that
// follow U+1F3F4 (waving black flag) up to U+E007F (cancel tag), as in
// the flags of England, Scotland and Wales. The combining grapheme joiner
// U+034F stays allowed too.
func invisible(name string, i int, prev, r rune) bool {
	switch {
	case r == '\u2028' || r == '\u2029':
		return true
	case r == '\u200C' || r == '\u200D' || r == '\u034F':
		return false
	case unicode.Is(unicode.Variation_Selector, r):
		return prev < 0 || unicode.Is(unicode.Variation_Selector, prev) ||
			(prev < utf8.RuneSelf && !('0' <= prev && prev <= '9') && prev != '#' && prev != '*')
	case r >= 0xE0020 && r <= 0xE007F:
		return !inFlagTags(name, i)
	case unicode.Is(unicode.Prepended_Concatenation_Mark, r), r >= 0x13430 && r <= 0x1343F:
		return false
	}
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)
}

// inFlagTags reports whether the tag character at byte offset i of name is
// part of an emoji tag sequence: U+1F3F4, then tag characters
// (U+E0020-U+E007E), then U+E007F.
func inFlagTags(name string, i int) bool {
	j := i // back over the tags before i, to the flag
	for {
		r, size := utf8.DecodeLastRuneInString(name[:j])
		if r == 0x1F3F4 {
			break
		}
		if size == 0 || r < 0xE0020 || r > 0xE007E {
			return false
		}
		j -= size
	}
	at, size := utf8.DecodeRuneInString(name[i:])
	if at == 0xE007F {
		return j < i // the cancel tag ends a run of at least one tag
	}
	for _, r := range name[i+size:] { // on to the cancel tag
		switch {
		case r == 0xE007F:
			return true
		case r < 0xE0020 || r > 0xE007E:
			return false
		}
	}
	return false
}

// CleanFolder returns folder in NFC, or an error wrapping ErrInvalidName.
// "" is the root; otherwise it is names (each valid for CleanName) joined by
// "/", without a leading, trailing or doubled "/", at most MaxFolderBytes.
func CleanFolder(folder string) (string, error) {
	if folder == "" {
		return "", nil
	}
	segs := strings.Split(folder, "/")
	for i, s := range segs {
		if s == "" {
			return "", fmt.Errorf("%w: folder %q has an empty segment", ErrInvalidName, folder)
		}
		c, err := CleanName(s)
		if err != nil {
			return "", fmt.Errorf("folder segment %d: %w", i+1, err)
		}
		segs[i] = c
	}
	f := strings.Join(segs, "/")
	if len(f) > MaxFolderBytes {
		return "", fmt.Errorf("%w: folder longer than %d bytes", ErrInvalidName, MaxFolderBytes)
	}
	return f, nil
}

// findable reports whether owner and id can name a stored file: an owner
// that Put accepts, and an id that is text (see isText). Any other pair
// names no file.
func findable(owner, id string) bool {
	return checkOwner(owner) == nil && isText(id)
}

// isText reports whether s is valid UTF-8 without NUL: text the catalogue
// can store and be asked for (SQL cannot even quote a NUL).
func isText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// notFound is the error of an operation on a pair that names no file, or
// ctx's error once ctx is done: a cancelled call answers nothing about the
// files, as the calls that ask the catalogue do not.
func notFound(ctx context.Context, op, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("filestore: %s %q: %w", op, id, err)
	}
	return fmt.Errorf("filestore: %s %q: %w", op, id, ErrNotFound)
}

// checkOwner validates an owner id: 1-255 bytes of UTF-8 with no control
// characters.
func checkOwner(owner string) error {
	if owner == "" || len(owner) > MaxOwnerBytes || !utf8.ValidString(owner) {
		return fmt.Errorf("%w: owner must be 1-%d bytes of UTF-8", ErrInvalidName, MaxOwnerBytes)
	}
	if strings.IndexFunc(owner, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w: owner contains a control character", ErrInvalidName)
	}
	return nil
}

// maxIDLen is the longest file id Options.NewID may return.
const maxIDLen = 128

// validID reports whether id can be a file id: 1 to maxIDLen characters
// that URLs carry as they are (RFC 3986's unreserved characters).
func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}
