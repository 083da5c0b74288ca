package meta

import (
	"fmt"
	"mime"
	"strings"

	"github.com/filestore-go/filestore"
)

// ParseAllowList parses the server's comma-separated allow list, such as
// "image/*,application/pdf", into patterns for Options.AllowedTypes.
// Spaces around items and empty items are ignored; an empty or blank s
// gives nil, which allows every type. Each pattern is "type/subtype",
// "type/*" or "*/*", matched case-insensitively; known aliases are
// canonicalised ("image/jpg" becomes "image/jpeg", "audio/x-wav"
// "audio/wav"). Anything else, including parameters, is an error wrapping
// filestore.ErrInvalidArgument that names the pattern.
func ParseAllowList(s string) ([]string, error) {
	var out []string
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := parsePattern(item)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// parsePattern validates and canonicalises one allow-list pattern.
func parsePattern(p string) (string, error) {
	bad := func() (string, error) {
		return "", fmt.Errorf("meta: invalid content type pattern %q: %w", p, filestore.ErrInvalidArgument)
	}
	lower := strings.ToLower(strings.TrimSpace(p))
	typ, sub, ok := strings.Cut(lower, "/")
	if !ok || (!isToken(typ) && typ != "*") {
		return bad()
	}
	switch {
	case typ == "*" && sub == "*":
		return "*/*", nil
	case typ == "*":
		return bad()
	case sub == "*":
		return typ + "/*", nil
	case !isToken(sub):
		return bad()
	}
	return canonicalType(lower), nil
}

// isToken reports whether s is a non-empty RFC 2045 token without "*".
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?=*`, c) {
			return false
		}
	}
	return true
}

// allowed reports whether the media type t (parameters are ignored) matches
// one of the patterns.
func allowed(patterns []string, t string) bool {
	bare := bareType(t)
	typ, _, _ := strings.Cut(bare, "/")
	for _, p := range patterns {
		if p == "*/*" || p == bare || p == typ+"/*" {
			return true
		}
	}
	return false
}

// bareType is t lowercased without parameters; "" when t does not parse.
func bareType(t string) string {
	mt, _, err := mime.ParseMediaType(t)
	if err != nil {
		return ""
	}
	return mt
}

// canonicalType maps the aliases in common use to the type Extract
// reports; other types are returned unchanged.
func canonicalType(t string) string {
	switch t {
	case "image/jpg", "image/pjpeg", "image/jfif":
		return typeJPEG
	case "image/x-png", "image/apng", "image/vnd.mozilla.apng":
		return typePNG
	case "image/x-bmp", "image/x-ms-bmp", "image/x-windows-bmp":
		return typeBMP
	case "image/tif", "image/x-tiff":
		return typeTIFF
	case "application/x-pdf":
		return typePDF
	case "application/x-zip", "application/x-zip-compressed", "multipart/x-zip":
		return typeZIP
	case "application/x-gzip", "application/gzipped":
		return typeGZIP
	case "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/x-pn-wav":
		return typeWAV
	case "audio/mp3", "audio/x-mp3", "audio/mpeg3", "audio/x-mpeg", "audio/x-mpeg-3":
		return typeMP3
	case "audio/x-m4a", "audio/m4a":
		return typeM4A
	case "audio/x-flac":
		return typeFLAC
	case "video/avi", "video/msvideo":
		return typeAVI
	case "application/x-msdownload", "application/x-ms-dos-executable", "application/x-msdos-program":
		return typePE
	case "application/x-elf":
		return typeELF
	}
	return t
}
