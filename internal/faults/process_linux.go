package faults

import (
	"os/exec"
	"syscall"
)

// childAttrs makes a server die with the test process that started it (so
// a test killed by its timeout leaves no server behind) and, when uid is not
// negative, runs it as uid:gid.
func childAttrs(cmd *exec.Cmd, uid, gid int) {
	attrs := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if uid >= 0 {
		attrs.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	cmd.SysProcAttr = attrs
}
