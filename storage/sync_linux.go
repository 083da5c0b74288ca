package storage

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync flushes f's data and the metadata needed to read it back (its
// size) to stable storage.
func fdatasync(f *os.File) error {
	return control(f, func(fd int) error {
		for {
			err := unix.Fdatasync(fd)
			if !errors.Is(err, unix.EINTR) {
				return err
			}
		}
	})
}

// startWriteback asks the kernel to start writing [off, off+n) of f to disk
// now, without waiting, so that the final fdatasync has little left to do.
// It also waits until the writeback of the range before it, [prevOff, off),
// has finished, which bounds the dirty pages one writer leaves in the page
// cache to about two ranges and keeps the disk busy during the upload.
// It is advisory: errors only disable it.
func startWriteback(f *os.File, prevOff, off, n int64) error {
	return control(f, func(fd int) error {
		if err := unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE); err != nil {
			return err
		}
		if off > prevOff {
			return unix.SyncFileRange(fd, prevOff, off-prevOff,
				unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
		}
		return nil
	})
}

// control runs fn with f's file descriptor.
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
