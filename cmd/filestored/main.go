// Command filestored serves the filestore REST API (package httpapi; its
// OpenAPI document is served at GET /v1/openapi.json) over a Store:
// SQLite or PostgreSQL for the catalogue, a local directory, S3 or memory
// for the bytes, optional ClamAV scanning, JWT authentication.
//
//	filestored [serve] [flags]      serve (the default)
//	filestored token --sub alice    print a token signed with the configured secret
//	filestored version              print the version, revision and Go version
//
// Every flag has a FILESTORE_* environment variable (--max-size is
// FILESTORE_MAX_SIZE); a flag wins over its variable. With no configuration
// it serves on 127.0.0.1:8080, keeps everything under ./data and generates
// its JWT secret into ./data/jwt.secret.
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

func main() {
	// The first SIGINT or SIGTERM starts the graceful shutdown. The
	// signals get their default effect back before the shutdown begins
	// (before ctx is cancelled), so a second one ends the process at once
	// instead of waiting out --shutdown-timeout.
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		cancel()
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "filestored:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

const usageHead = `usage: filestored [serve] [flags]
       filestored token --sub OWNER [--scope "files:read files:write"] [--ttl 1h] [flags]
       filestored version

flags (and their environment variables; a flag wins):`

// run is the whole program: args without the program name, env as
// os.Getenv. Serving returns nil when ctx is cancelled and in-flight
// requests have finished (or after --shutdown-timeout, with an error).
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "token":
			return runToken(args[1:], env, stdout, stderr)
		case "version", "--version", "-version":
			if len(args) > 1 {
				return fmt.Errorf("%w: version takes no arguments", errUsage)
			}
			_, err := fmt.Fprintln(stdout, "filestored", version())
			return err
		case "serve":
			args = args[1:]
		}
	}
	c, err := loadConfig(args, env, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	return serve(ctx, c, stderr)
}

// loadConfig reads the server's flags and variables; usage goes to stderr.
func loadConfig(args []string, env func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("filestored", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	registerConfig(fs, &c)
	fs.Usage = func() { usage(fs, stderr, usageHead) }
	if err := parseFlags(fs, args, env); err != nil {
		return nil, err
	}
	if err := c.resolve(); err != nil {
		return nil, err
	}
	return &c, nil
}
