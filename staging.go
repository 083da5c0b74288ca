package filestore

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// stagingKey returns a fresh key for an upload's bytes that carries ttl,
// the uploading Store's StagingTTL, in milliseconds: "o/3f/3f9a…-t86400000".
// Collect reads it back (keyTTL), so that a collector configured with a
// shorter StagingTTL than the uploader's still leaves the upload's staged
// bytes alone for as long as the uploader may commit them.
func (s *Service) stagingKey() string {
	return s.bucket.NewKey() + "-t" + strconv.FormatInt(s.opts.StagingTTL.Milliseconds(), 10)
}

// keyTTL returns the staging TTL a key from stagingKey carries, also as a
// local writer's temporary file ("<key>.<random>.tmp"), and false for a
// key without one (written by an older build).
func keyTTL(key string) (time.Duration, bool) {
	_, tail, ok := strings.Cut(key[strings.LastIndexByte(key, '/')+1:], "-t")
	if !ok {
		return 0, false
	}
	if i := strings.IndexByte(tail, '.'); i >= 0 {
		tail = tail[:i]
	}
	ms, err := strconv.ParseInt(tail, 10, 64)
	if err != nil || ms < 0 {
		return 0, false
	}
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return time.Duration(math.MaxInt64), true
	}
	return time.Duration(ms) * time.Millisecond, true
}

// stagingAge is how old staged bytes under key with no catalogue row must
// be before Collect removes them: ttl, or with keep the longer of ttl and
// the uploader's TTL that key carries.
func stagingAge(key string, ttl time.Duration, keep bool) time.Duration {
	if kt, ok := keyTTL(key); keep && ok && kt > ttl {
		return kt
	}
	return ttl
}
