package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// process is a server running as a child of the test process.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// startProcess starts bin with args, its output appended to logPath, as
// uid:gid unless uid is negative.
func startProcess(name, bin string, args, env []string, logPath string, uid, gid int) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("faults: %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	childAttrs(cmd, uid, gid)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("faults: start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the process id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits (up to a minute, then SIGKILL) until the process
// has exited.
func (p *process) stop(sig os.Signal) error {
	if p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("faults: signal %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("faults: %s ignored %v for a minute; killed", p.name, sig)
	}
}

// waitReady polls ready every 50 ms until it returns nil, the process exits,
// or ctx is done.
func (p *process) waitReady(ctx context.Context, ready func(ctx context.Context) error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("faults: %s exited before it was ready (last probe: %v)", p.name, err)
		case <-ctx.Done():
			return fmt.Errorf("faults: %s not ready: %w (last probe: %v)", p.name, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("faults: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// hostPort formats 127.0.0.1:port.
func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
