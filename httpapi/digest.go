package httpapi

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
)

// digests are the integrity headers of an upload, both optional.
type digests struct {
	// content is the sha-256 of Content-Digest (RFC 9530), as lowercase
	// hex: the digest of the whole request body.
	content string
	// file is X-Content-SHA256 as lowercase hex: the digest of the file
	// (for a raw body, the same bytes as the body).
	file string
}

// parseDigests reads Content-Digest and X-Content-SHA256. A malformed
// value is 400 bad_request. Content-Digest members of other algorithms
// than sha-256 are ignored, as RFC 9530 allows.
func parseDigests(h http.Header) (digests, error) {
	var d digests
	if vs, ok := h["Content-Digest"]; ok {
		v := strings.Join(vs, ",")
		sum, err := parseContentDigest(v)
		if err != nil {
			return d, err
		}
		d.content = sum
	}
	if vs, ok := h["X-Content-Sha256"]; ok {
		v := strings.TrimSpace(strings.Join(vs, ","))
		if len(v) != 64 {
			return d, badRequest("X-Content-SHA256 must be 64 hex digits")
		}
		if _, err := hex.DecodeString(v); err != nil {
			return d, badRequest("X-Content-SHA256 must be 64 hex digits")
		}
		d.file = strings.ToLower(v)
	}
	return d, nil
}

// parseContentDigest parses an RFC 9530 Content-Digest field (an RFC 8941
// dictionary of byte sequences) and returns its sha-256 member as hex, or
// "" when it has none. The member's base64 may lack its padding ("=");
// other than that it must be canonical and decode to 32 bytes.
func parseContentDigest(v string) (string, error) {
	errBad := badRequest("Content-Digest must look like sha-256=:<base64 of 32 bytes>:")
	if strings.TrimSpace(v) == "" {
		return "", errBad
	}
	var sum string
	for member := range strings.SplitSeq(v, ",") {
		member = strings.TrimSpace(member)
		key, value, ok := strings.Cut(member, "=")
		if !ok || !sfKey(key) {
			return "", errBad
		}
		// Parameters (";key=value") are allowed by RFC 8941 and ignored.
		value, _, _ = strings.Cut(value, ";")
		if len(value) < 2 || value[0] != ':' || value[len(value)-1] != ':' {
			return "", errBad
		}
		if key != "sha-256" {
			continue
		}
		b64, enc := value[1:len(value)-1], base64.StdEncoding.Strict()
		if !strings.HasSuffix(b64, "=") {
			// RFC 8941 4.2.7: a parser should not fail when the
			// padding is absent.
			enc = base64.RawStdEncoding.Strict()
		}
		raw, err := enc.DecodeString(b64)
		if err != nil || len(raw) != 32 {
			return "", errBad
		}
		sum = hex.EncodeToString(raw)
	}
	return sum, nil
}

// sfKey reports whether s is an RFC 8941 dictionary key.
func sfKey(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] == '*') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("_-.*", c) >= 0) {
			return false
		}
	}
	return true
}
