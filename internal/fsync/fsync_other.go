//go:build !linux

package fsync

import (
	"errors"
	"os"
)

// Fdatasync flushes f to stable storage (fsync where fdatasync is missing).
func Fdatasync(f *os.File) error { return f.Sync() }

// StartWriteback needs sync_file_range(2), which only Linux has: it returns
// errors.ErrUnsupported.
func StartWriteback(*os.File, int64, int64) error { return errors.ErrUnsupported }

// WaitWriteback needs sync_file_range(2), which only Linux has: it returns
// errors.ErrUnsupported.
func WaitWriteback(*os.File, int64, int64) error { return errors.ErrUnsupported }
