package faults

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// signalTree sends SIGSTOP (stop) or SIGCONT to pid and its children:
// PostgreSQL's backends each lead a session of their own (setsid), so the
// postmaster's process group does not hold them. A stop reaches the parent
// first, so that it starts no child meanwhile; a resume, the children
// first.
func signalTree(pid int, stop bool) error {
	children, err := childrenOf(pid)
	if err != nil {
		return err
	}
	if stop {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			return err
		}
		// Children started between the listing and the stop.
		if children, err = childrenOf(pid); err != nil {
			return err
		}
	}
	sig := syscall.SIGCONT
	if stop {
		sig = syscall.SIGSTOP
	}
	var errs []error
	for _, c := range children {
		if err := syscall.Kill(c, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("pid %d: %w", c, err))
		}
	}
	if !stop {
		errs = append(errs, syscall.Kill(pid, syscall.SIGCONT))
	}
	return errors.Join(errs...)
}

// childrenOf lists the processes whose parent is pid, from /proc.
func childrenOf(pid int) ([]int, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	var kids []int
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // ended meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		fields := bytes.Fields(data[i+1:])
		if len(fields) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(string(fields[1])); err == nil && ppid == pid {
			child, err := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			if err == nil {
				kids = append(kids, child)
			}
		}
	}
	return kids, nil
}
