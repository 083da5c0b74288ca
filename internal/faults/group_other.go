//go:build !linux

package faults

import "errors"

// signalTree is Linux-only (see group_linux.go).
func signalTree(pid int, stop bool) error {
	return errors.New("faults: stopping a process tree needs Linux")
}
