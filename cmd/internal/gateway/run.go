// Package gateway is the gateway program: its commands (Run) and the
// wiring of every part behind them. cmd/gateway only calls Run; cmd/demo
// serves the same wiring in front of emulated regions (Serve), so the
// gateway's binary links no emulator.
package gateway

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
  gateway                     serve with the environment described in README.md
  gateway replicate --once    run one replication pass and exit (non-zero if a project failed)
  gateway check-config        check the environment and exit: one line per problem, non-zero if any
  gateway check-config -probe also call each region, the JOB_RESCUE Redis and each storage container once with their credentials
  gateway healthcheck         GET /healthz on GATEWAY_ADDR and exit 0 when it answers 200 (container health checks)
  gateway version, -version   print the version and exit
  gateway -h                  print this help
`

// demoMoved is the one line `gateway -demo` answers: the demo is a
// command of its own, so the gateway's binary holds no emulator.
const demoMoved = "the demo is its own command now: go run ./cmd/demo"

// Run is the whole program; main only supplies the process's context,
// arguments, environment and streams, so tests start the gateway in process.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o := options{getenv: getenv, environ: environNames(), stdout: stdout, stderr: stderr}
	if len(args) > 0 {
		switch args[0] {
		case "replicate":
			return runReplicate(ctx, args[1:], o)
		case "healthcheck":
			return runHealthcheck(ctx, getenv)
		case "check-config":
			return runCheckConfig(ctx, args[1:], getenv, o.environ, stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, versionLine())
			return nil
		case "help":
			fmt.Fprint(stdout, usage)
			return nil
		}
		if name, _, _ := strings.Cut(args[0], "="); name == "-demo" || name == "--demo" {
			return errors.New(demoMoved)
		}
	}
	fs := newFlagSet("gateway")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if done, err := parseFlags(fs, args, usage, stdout, stderr); done || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *showVersion {
		fmt.Fprintln(stdout, versionLine())
		return nil
	}
	cfg, err := load(o)
	if err != nil {
		return err
	}
	o.memoryLimit = true
	return serve(ctx, cfg, o)
}

// Embedding is what a command serving the gateway in front of regions of
// its own (cmd/demo) sets: Run's environment and streams, a log format
// that overrides LOG_FORMAT, and Ready, called with the served addresses
// once serving. Serve never sets the process's memory limit, since the
// process holds those regions too.
type Embedding struct {
	Getenv         func(string) string
	Stdout, Stderr io.Writer
	LogFormat      string
	Ready          func(addr, opsAddr string)
}

// Serve serves cfg as Run does, until ctx is done.
func Serve(ctx context.Context, cfg *config.Config, e Embedding) error {
	return serve(ctx, cfg, options{getenv: e.Getenv, environ: environNames(), stdout: e.Stdout, stderr: e.Stderr,
		logFormat: e.LogFormat, ready: e.Ready})
}

func runReplicate(ctx context.Context, args []string, o options) error {
	fs := newFlagSet("gateway replicate")
	once := fs.Bool("once", false, "run one sync pass over PROJECT_NAMES and exit")
	if done, err := parseFlags(fs, args, "usage: gateway replicate --once\n", o.stdout, o.stderr); done || err != nil {
		return err
	}
	if !*once {
		return errors.New("replicate: only --once is supported (the serving gateway replicates continuously)")
	}
	cfg, err := load(o)
	if err != nil {
		return err
	}
	return replicateOnce(ctx, cfg, o)
}

// load reads the configuration; when it is bad, the unknown variables
// follow its problems, since a misspelt name is often why one is missing.
func load(o options) (*config.Config, error) {
	cfg, err := config.Load(o.getenv)
	if err != nil {
		if unknown := config.UnknownVariables(o.environ); len(unknown) > 0 {
			return nil, fmt.Errorf("%w\n%s", err, strings.Join(unknown, "\n"))
		}
		return nil, err
	}
	return cfg, nil
}

// newFlagSet is a flag set that reports its own errors, so -h can go to
// stdout and a bad flag to stderr.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args; -h prints usage (and the flags) to stdout and
// is done with no error, as every Unix tool's -h is; a bad flag prints it
// to stderr with the error.
func parseFlags(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (done bool, err error) {
	err = fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return true, nil
	case err != nil:
		fmt.Fprintf(stderr, "%v\n%s", err, usage)
		return true, err
	}
	return false, nil
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
