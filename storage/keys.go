package storage

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// keyPrefix starts every key of the object key space.
const keyPrefix = "o/"

// maxKeyLen bounds a key's length in bytes.
const maxKeyLen = 512

// NewKey returns a fresh, unguessable key in the object key space:
// "o/" + two hex digits + "/" + 32 random hex digits (128 bits from
// crypto/rand), e.g. "o/3f/3f9a…". The two-digit directory spreads a local
// bucket over 256 directories. Keys never derive from user-visible names.
func (b *Bucket) NewKey() string {
	var r [16]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails (it crashes the program instead)
	h := hex.EncodeToString(r[:])
	return keyPrefix + h[:2] + "/" + h
}

// checkKey returns an error wrapping ErrInvalidKey unless key is in the
// object key space: it starts with "o/", is at most maxKeyLen bytes, and its
// "/"-separated segments are non-empty, not "." or "..", and made of ASCII
// letters, digits, '.', '_' and '-'. Keys from NewKey pass, and so do the
// temporary files a local writer leaves behind when it crashes.
func checkKey(key string) error {
	if !strings.HasPrefix(key, keyPrefix) || len(key) > maxKeyLen {
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q", ErrInvalidKey, key)
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
			if !ok {
				return fmt.Errorf("%w: %q", ErrInvalidKey, key)
			}
		}
	}
	return nil
}
