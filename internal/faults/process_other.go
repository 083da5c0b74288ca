//go:build !linux

package faults

import "os/exec"

// childAttrs does nothing off Linux: servers run as the current user and are
// stopped by the test's cleanup only.
func childAttrs(cmd *exec.Cmd, uid, gid int) {}
