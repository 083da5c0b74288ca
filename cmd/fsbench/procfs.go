package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// errNoProc: /proc has no such process or field (not Linux, or the process
// is gone).
var errNoProc = errors.New("fsbench: process information unavailable")

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// procMemory returns the current (VmRSS) and peak (VmHWM) resident set of
// process pid, in bytes. The error wraps errNoProc if they cannot be read.
func procMemory(pid int) (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", errNoProc, err)
	}
	return parseStatus(string(b))
}

// parseStatus reads VmRSS and VmHWM from the text of /proc/PID/status.
func parseStatus(s string) (rss, peak int64, err error) {
	rss, peak = -1, -1
	for line := range strings.SplitSeq(s, "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: %s: %q", errNoProc, name, v)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	if rss < 0 || peak < 0 {
		return 0, 0, fmt.Errorf("%w: no VmRSS/VmHWM (a kernel thread or not Linux)", errNoProc)
	}
	return rss, peak, nil
}

// resetPeak makes the kernel's peak resident set (VmHWM) of process pid its
// current resident set, so that the peak read later is the peak since now.
// It needs the right to write /proc/PID/clear_refs (the same user, or root).
func resetPeak(pid int) error {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return fmt.Errorf("%w: reset peak RSS: %w", errNoProc, err)
	}
	return nil
}

// procCPU returns the CPU time (user and system) process pid has used, in
// seconds.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errNoProc, err)
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime+stime from the text of /proc/PID/stat, whose
// second field (the command name, in parentheses) may contain spaces.
func parseStatCPU(s string) (float64, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: malformed stat", errNoProc)
	}
	// After ")": state(3) ppid(4) ... utime(14) stime(15).
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: malformed stat", errNoProc)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%w: malformed stat times", errNoProc)
	}
	return float64(ut+st) / clockTicks, nil
}

// loadAvg returns the first three fields of /proc/loadavg, or "".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
