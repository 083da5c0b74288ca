package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// PostgresServer is a private, throwaway PostgreSQL cluster on a free
// 127.0.0.1 port (trust authentication, superuser "postgres"), which a test
// may stop (fast or immediate, as pg_ctl's modes) and start again on the
// same port and data directory. When the test runs as root the cluster runs
// as the OS user postgres. It is safe for concurrent use.
type PostgresServer struct {
	binDir   string
	dir      string // removed by Close
	port     int
	uid, gid int // -1: the current user

	mu   sync.Mutex
	proc *process
}

// StartPostgres creates a cluster with binDir's initdb (for example
// /usr/lib/postgresql/15/bin) in a new temporary directory and starts it.
// Cancelling ctx abandons the wait for readiness. Stop it and remove its
// directory with Close.
func StartPostgres(ctx context.Context, binDir string) (*PostgresServer, error) {
	for _, b := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			return nil, fmt.Errorf("faults: postgres: %w", err)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &PostgresServer{binDir: binDir, port: port, uid: -1, gid: -1}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("faults: postgres: running as root needs the OS user postgres: %w", err)
		}
		p.uid, _ = strconv.Atoi(u.Uid)
		p.gid, _ = strconv.Atoi(u.Gid)
	}
	// Not t.TempDir: its parents are private to root.
	if p.dir, err = os.MkdirTemp("", "filestore-faults-pg-"); err != nil {
		return nil, fmt.Errorf("faults: postgres: %w", err)
	}
	if err := p.initdb(ctx); err != nil {
		os.RemoveAll(p.dir)
		return nil, err
	}
	if err := p.Start(ctx); err != nil {
		os.RemoveAll(p.dir)
		return nil, err
	}
	return p, nil
}

func (p *PostgresServer) initdb(ctx context.Context) error {
	if p.uid >= 0 {
		if err := os.Chown(p.dir, p.uid, p.gid); err != nil {
			return fmt.Errorf("faults: postgres: %w", err)
		}
	}
	for _, d := range []string{"data", "sock"} {
		if err := os.Mkdir(filepath.Join(p.dir, d), 0o700); err != nil {
			return fmt.Errorf("faults: postgres: %w", err)
		}
		if p.uid >= 0 {
			if err := os.Chown(filepath.Join(p.dir, d), p.uid, p.gid); err != nil {
				return fmt.Errorf("faults: postgres: %w", err)
			}
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(p.binDir, "initdb"),
		"-D", filepath.Join(p.dir, "data"), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	childAttrs(cmd, p.uid, p.gid)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("faults: initdb: %w\n%s", err, out)
	}
	return nil
}

// URL returns the DSN of the cluster's database "postgres" as its
// superuser, for dedup.OpenDB and filestore.Open.
func (p *PostgresServer) URL() string {
	return "postgres://postgres@" + hostPort(p.port) + "/postgres?sslmode=disable&connect_timeout=5"
}

// Start starts the cluster (again) and waits until it accepts connections.
// Starting a running cluster is an error.
func (p *PostgresServer) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil && !p.proc.exited() {
		return errors.New("faults: postgres is already running")
	}
	args := []string{
		"-D", filepath.Join(p.dir, "data"), "-p", strconv.Itoa(p.port),
		"-k", filepath.Join(p.dir, "sock"), "-c", "listen_addresses=127.0.0.1",
		"-c", "shared_buffers=16MB", "-c", "max_connections=60",
	}
	proc, err := startProcess("postgres", filepath.Join(p.binDir, "postgres"), args,
		append(os.Environ(), "LC_ALL=C"), filepath.Join(p.dir, "postgres.log"), p.uid, p.gid)
	if err != nil {
		return err
	}
	p.proc = proc
	return proc.waitReady(ctx, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		c, err := pgconn.Connect(ctx, p.URL())
		if err != nil {
			return err
		}
		return c.Close(ctx)
	})
}

// Stop stops the cluster and waits until the postmaster has exited: fast
// (SIGINT: active transactions are rolled back, connections closed) or,
// when immediate is true, immediate (SIGQUIT: every process quits at once,
// and the next start runs crash recovery). Stopping a stopped cluster does
// nothing.
func (p *PostgresServer) Stop(immediate bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return nil
	}
	sig := os.Interrupt
	if immediate {
		sig = syscall.SIGQUIT
	}
	return p.proc.stop(sig)
}

// Freeze stops every process of the running cluster with SIGSTOP, and
// waits until all their threads have stopped: the
// postmaster and its backends keep their connections, the kernel still
// accepts new ones, and nothing answers, as with a server that hangs. Thaw
// resumes them. Linux only.
func (p *PostgresServer) Freeze() error { return p.signalAll(true) }

// Thaw resumes a cluster that Freeze stopped (SIGCONT).
func (p *PostgresServer) Thaw() error { return p.signalAll(false) }

func (p *PostgresServer) signalAll(stop bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil || p.proc.exited() {
		return errors.New("faults: postgres is not running")
	}
	if err := signalTree(p.proc.pid(), stop); err != nil {
		return fmt.Errorf("faults: postgres: %w", err)
	}
	return nil
}

// Close stops the cluster (immediate) and removes its directory.
func (p *PostgresServer) Close() error {
	err := p.Stop(true)
	return errors.Join(err, os.RemoveAll(p.dir))
}
