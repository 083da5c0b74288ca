package faults_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/filestore-go/filestore/internal/faults"
)

// runningThreads counts the threads of pid that are not stopped.
func runningThreads(t *testing.T, pid int) int {
	t.Helper()
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/[0-9]*/stat", pid))
	if err != nil || len(stats) == 0 {
		t.Fatalf("threads of pid %d: %v (%d found)", pid, err, len(stats))
	}
	n := 0
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(data, ')')
		if fields := bytes.Fields(data[i+1:]); len(fields) == 0 || string(fields[0]) != "T" {
			n++
		}
	}
	return n
}

// TestFreezeStopsEveryThread: when S3Server.Freeze returns, every thread of
// versitygw is stopped, so that it answers nothing more (SIGSTOP alone
// takes effect asynchronously: 7 of 50 freezes returned with threads still
// running before Freeze waited); Thaw resumes them all.
func TestFreezeStopsEveryThread(t *testing.T) {
	srv := faults.NewS3Server(t)
	pid := srv.Pid()
	for i := range 30 {
		if err := srv.Freeze(); err != nil {
			t.Fatal(err)
		}
		if n := runningThreads(t, pid); n != 0 {
			t.Fatalf("freeze %d: %d threads still running when Freeze returned", i+1, n)
		}
		if err := srv.Thaw(); err != nil {
			t.Fatal(err)
		}
	}
}
