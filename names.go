package filestore

import (
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
// use in a name (U+200B zero width space, U+2060 word joiner, U+FEFF zero
// width no-break space, U+2028 and U+2029 line and paragraph separators).
// The zero width joiner and non-joiner (U+200D, U+200C) stay allowed: emoji
// sequences and Persian and Indic scripts need them. A valid name is kept
// byte-exact after NFC: it is never rewritten into another name.
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
	for _, r := range n {
		switch {
		case r == '/' || r == '\\':
			return "", fmt.Errorf("%w: contains a path separator", ErrInvalidName)
		case unicode.IsControl(r):
			return "", fmt.Errorf("%w: contains control character %U", ErrInvalidName, r)
		case unicode.Is(unicode.Bidi_Control, r):
			return "", fmt.Errorf("%w: contains bidi control %U", ErrInvalidName, r)
		case invisible(r):
			return "", fmt.Errorf("%w: contains invisible character %U", ErrInvalidName, r)
		}
	}
	return n, nil
}

// invisible reports whether r is an invisible character that names refuse.
func invisible(r rune) bool {
	switch r {
	case '\u200B', '\u2060', '\uFEFF', '\u2028', '\u2029':
		return true
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

// notFound is the error of an operation on a pair that names no file.
func notFound(op, id string) error {
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
