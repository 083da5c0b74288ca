package fsync

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Fdatasync flushes f's data and the metadata needed to read it back (its
// size) to stable storage, retrying on EINTR.
func Fdatasync(f *os.File) error {
	return control(f, func(fd int) error {
		for {
			err := unix.Fdatasync(fd)
			if !errors.Is(err, unix.EINTR) {
				return err
			}
		}
	})
}

// StartWriteback asks the kernel to start writing [off, off+n) of f to
// disk now, without waiting, so that a final Fdatasync has little left to
// do. It is advisory.
func StartWriteback(f *os.File, off, n int64) error {
	return control(f, func(fd int) error {
		return unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}

// WaitWriteback waits until [off, off+n) of f has been written back
// (starting the writeback of any page not yet under way). A writer calls it
// for data well behind what it writes, to bound its dirty pages.
func WaitWriteback(f *os.File, off, n int64) error {
	return control(f, func(fd int) error {
		return unix.SyncFileRange(fd, off, n,
			unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
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
