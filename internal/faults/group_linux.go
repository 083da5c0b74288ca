package faults

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
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
		return errors.Join(errs...)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// SIGSTOP takes effect asynchronously: a thread still running may
	// answer one more request. Wait until every thread is stopped.
	for _, p := range append(children, pid) {
		if err := waitStopped(p); err != nil {
			return err
		}
	}
	return nil
}

// waitStopped waits (up to 10 s) until every thread of pid is stopped (or
// ended), as /proc/PID/task/TID/stat says, or pid has gone.
func waitStopped(pid int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/[0-9]*/stat", pid))
		if err != nil {
			return err
		}
		running := 0
		for _, path := range stats {
			data, err := os.ReadFile(path)
			if err != nil {
				continue // the thread ended
			}
			// Stopped (T), stopped under a tracer (t), or ended (Z, X: a
			// child that a stopped parent cannot reap stays a zombie).
			i := bytes.LastIndexByte(data, ')')
			if fields := bytes.Fields(data[i+1:]); i >= 0 && len(fields) > 0 && !bytes.ContainsAny(fields[0][:1], "TtZX") {
				running++
			}
		}
		if running == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("faults: %d threads of pid %d still running 10 s after SIGSTOP", running, pid)
		}
		time.Sleep(time.Millisecond)
	}
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
