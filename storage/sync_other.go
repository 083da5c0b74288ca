//go:build !linux

package storage

import "os"

// fdatasync flushes f to stable storage (fsync where fdatasync is missing).
func fdatasync(f *os.File) error { return f.Sync() }

// startWriteback is a no-op where sync_file_range(2) does not exist.
func startWriteback(f *os.File, off, n int64) error { return nil }

// waitWriteback is a no-op where sync_file_range(2) does not exist.
func waitWriteback(f *os.File, off, n int64) error { return nil }
