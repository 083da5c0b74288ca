package httpapi

import (
	"strconv"
	"unicode/utf8"
)

// maxLogPath and maxLogError bound, in bytes, the path and the error of a
// request's log line. The client chooses both: a path as long as the
// server's header limit, a multipart header line that mime/multipart
// quotes into its error. The text handler writes each byte it cannot print
// as four (\x01): unbounded, one 60 KB multipart request was logged as a
// line of 300 KB, which Docker's json-file driver (16 KiB) and journald
// (LineMax, 48 KiB) split into several lines. With these bounds a line
// stays under 16 KiB; no route's path and no error of the Store or of its
// dependencies comes near them.
const (
	maxLogPath  = 1 << 10
	maxLogError = 2 << 10
)

// clip returns s when it has at most n bytes, else its first n bytes at
// most (cut at the start of a rune) followed by "... (<len(s)> bytes in
// all)".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "... (" + strconv.Itoa(len(s)) + " bytes in all)"
}
