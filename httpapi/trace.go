package httpapi

import (
	"crypto/rand"
	"encoding/hex"
)

// randomHex16 returns 16 random bytes as 32 lowercase hex digits.
func randomHex16() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// validRequestID reports whether a client's X-Request-Id may be echoed:
// 1-128 visible ASCII characters.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := range len(s) {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// traceContext is the part of a W3C traceparent the server keeps.
type traceContext struct {
	traceID string // 32 lowercase hex digits
	flags   string // 2 lowercase hex digits
}

// parseTraceparent validates a W3C Trace Context traceparent header
// (version-traceid-parentid-flags). Version 00 must be exactly 55
// characters; a later version may append fields after a dash, which are
// ignored. Version ff, upper-case hex and all-zero ids are invalid.
func parseTraceparent(s string) (traceContext, bool) {
	if len(s) < 55 || (len(s) > 55 && s[55] != '-') {
		return traceContext{}, false
	}
	if s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return traceContext{}, false
	}
	version, traceID, parentID, flags := s[0:2], s[3:35], s[36:52], s[53:55]
	for _, f := range []string{version, traceID, parentID, flags} {
		if !lowerHex(f) {
			return traceContext{}, false
		}
	}
	if version == "ff" || (version == "00" && len(s) != 55) {
		return traceContext{}, false
	}
	if allZero(traceID) || allZero(parentID) {
		return traceContext{}, false
	}
	return traceContext{traceID: traceID, flags: flags}, true
}

// newTrace starts a trace for a request that came without a valid
// traceparent (not sampled).
func newTrace() traceContext {
	return traceContext{traceID: randomHex16(), flags: "00"}
}

// traceparent is the header value naming this server's span (a new span id)
// in the request's trace.
func (t traceContext) traceparent() string {
	var span [8]byte
	for span == [8]byte{} {
		_, _ = rand.Read(span[:])
	}
	return "00-" + t.traceID + "-" + hex.EncodeToString(span[:]) + "-" + t.flags
}

func lowerHex(s string) bool {
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	for i := range len(s) {
		if s[i] != '0' {
			return false
		}
	}
	return true
}
