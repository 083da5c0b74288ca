// Command fsbench is filestore's load tool: it drives filestored, tusd and
// reference servers over HTTP on the loopback interface, and serves the
// references itself. See docs/benchmarks.md and scripts/bench.sh.
//
//	fsbench upload   -url http://127.0.0.1:8080 -token T -size 4KiB -c 16 -duration 10s   raw POST /v1/files?name=...
//	fsbench tus      -url http://127.0.0.1:1080/files/ -size 4KiB -c 16 -duration 10s    tus creation-with-upload
//	fsbench post     -url http://127.0.0.1:9090/ -size 1GiB -count 3                      raw POST to a reference server
//	fsbench download -url http://127.0.0.1:8080/v1/files/ID/content -token T [-range 4KiB] -c 16 -duration 10s
//	fsbench serve-bare -addr 127.0.0.1:9090 -dir D [-mode write|hash] [-sync end|overlap|none]
//	fsbench serve-file -addr 127.0.0.1:9091 -file F
//	fsbench wait     -url http://127.0.0.1:8080/healthz
//	fsbench report   -dir RESULTS
//
// Every load takes -c (clients, each with its own keep-alive connection),
// -count and/or -duration (at least one: a load always ends), -pid (report
// the peak RSS, VmHWM, and the CPU time of that server process during the
// load) and -json. Bodies are generated as they are sent, a MiB per write,
// never held whole: each is a 1 MiB pseudo-random pattern with every MiB
// stamped with the body's seed and index, so bodies differ unless -same is
// given. Only loopback addresses are accepted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// envToken is the environment variable a token may come from (so that it
// does not show in the process list).
const envTokenVar = "FSBENCH_TOKEN"

func envToken() string { return os.Getenv(envTokenVar) }

const usage = `usage: fsbench COMMAND [flags]

commands:
  upload      raw POST of generated bodies to filestored (/v1/files?name=...)
  tus         tus creation-with-upload of generated bodies (tusd)
  post        raw POST of generated bodies to a reference server
  download    GET the whole content, or random ranges (-range 4KiB)
  serve-bare  reference upload server: hash + write + fdatasync (or -mode hash)
  serve-file  reference download server: http.ServeContent of one file
  wait        wait until a URL answers
  report      markdown tables of a results directory (scripts/bench.sh)

"fsbench COMMAND -h" lists a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(2)
	}
}

// run runs the command named by args[0].
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	cmd, rest := args[0], args[1:]
	if k, ok := uploadKinds()[cmd]; ok {
		return runUpload(ctx, k, rest, stdout, stderr)
	}
	switch cmd {
	case "download":
		return runDownload(ctx, rest, stdout, stderr)
	case "serve-bare":
		return runServeBare(ctx, rest, stderr)
	case "serve-file":
		return runServeFile(ctx, rest, stderr)
	case "wait":
		return runWait(ctx, rest, stderr)
	case "report":
		return runReport(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}
