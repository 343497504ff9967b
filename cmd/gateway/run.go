package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"nergateway/internal/config"
)

const usage = `usage:
  gateway                  serve with the environment described in README.md
  gateway -demo            serve in front of two emulated regions (no Azure account needed)
  gateway replicate --once run one replication pass and exit (non-zero if a project failed)
  gateway healthcheck      GET /healthz on GATEWAY_ADDR and exit 0 when it answers 200 (container health checks)
`

// run is the whole program; main only supplies the process's context,
// arguments, environment and streams, so tests start the gateway in process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "replicate":
			return runReplicate(ctx, args[1:], getenv, stdout, stderr)
		case "healthcheck":
			return runHealthcheck(ctx, getenv)
		}
	}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	demo := fs.Bool("demo", false, "start two emulated regions in process and serve in front of them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *demo {
		return runDemo(ctx, getenv, stdout, stderr)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, options{getenv: getenv, stdout: stdout, stderr: stderr})
}

func runReplicate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway replicate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	once := fs.Bool("once", false, "run one sync pass over PROJECT_NAMES and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*once {
		return errors.New("replicate: only --once is supported (the serving gateway replicates continuously)")
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	return replicateOnce(ctx, cfg, options{getenv: getenv, stdout: stdout, stderr: stderr})
}

// runHealthcheck lets a distroless container check itself without curl.
func runHealthcheck(ctx context.Context, getenv func(string) string) error {
	addr := getenv("GATEWAY_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: GATEWAY_ADDR %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %s", strings.TrimSpace(resp.Status))
	}
	return nil
}
