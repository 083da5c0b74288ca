//go:build !linux

package main

import (
	"errors"
	"os"
)

// fdatasync flushes f to stable storage (fsync where fdatasync is missing).
func fdatasync(f *os.File) error { return f.Sync() }

// startWriteback is Linux-only (sync_file_range).
func startWriteback(*os.File, int64, int64) error { return errors.ErrUnsupported }

// waitWriteback is Linux-only (sync_file_range).
func waitWriteback(*os.File, int64, int64) error { return errors.ErrUnsupported }
