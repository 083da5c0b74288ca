// Package seek computes the position that an io.Seeker's Seek asks for,
// for readers that know their content's size and seek without touching
// their source.
package seek

import (
	"errors"
	"fmt"
	"io"
)

var (
	// ErrWhence is a whence other than io.SeekStart, io.SeekCurrent and
	// io.SeekEnd.
	ErrWhence = errors.New("seek: invalid whence")
	// ErrNegative is a position before the start.
	ErrNegative = errors.New("seek: position before the start")
)

// Position returns the position that Seek(offset, whence) asks for of a
// reader at position cur whose content has size bytes. A position past
// the end is allowed, as io.Seeker allows it. The error wraps ErrWhence
// or ErrNegative.
func Position(cur, size, offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = cur + offset
	case io.SeekEnd:
		abs = size + offset
	default:
		return 0, fmt.Errorf("%w %d", ErrWhence, whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("%w: %d", ErrNegative, abs)
	}
	return abs, nil
}
