package dedup

import (
	"strings"
	"unicode"
)

// Fold maps s to a canonical form under Unicode simple case folding: every
// rune becomes the smallest rune of its case-folding orbit, so two strings
// that differ only in case (K, k and the Kelvin sign K alike) fold to the
// same string. Name searches compare folded names with a folded query.
func Fold(s string) string {
	return strings.Map(func(r rune) rune {
		min := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < min {
				min = f
			}
		}
		return min
	}, s)
}
