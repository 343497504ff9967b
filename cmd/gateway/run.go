package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"nergateway/gateway"
	"nergateway/internal/config"
	"nergateway/internal/route"
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

// run is the whole program: it dispatches to the command args name, with
// its flags, output and exit status; the gateway package builds and runs
// what the command needs. main only supplies the process's context,
// arguments, environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	deps := gateway.Deps{Getenv: getenv, Stderr: stderr, Environ: gateway.EnvironNames(os.Environ())}
	if len(args) > 0 {
		switch args[0] {
		case "replicate":
			return runReplicate(ctx, args[1:], deps, stdout)
		case "healthcheck":
			return runHealthcheck(ctx, getenv)
		case "check-config":
			return runCheckConfig(ctx, args[1:], deps, stdout)
		case "version":
			fmt.Fprintln(stdout, gateway.VersionLine())
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
		fmt.Fprintln(stdout, gateway.VersionLine())
		return nil
	}
	cfg, err := load(deps)
	if err != nil {
		return err
	}
	deps.MemoryLimit = true
	g, err := gateway.New(ctx, cfg, deps)
	if err != nil {
		return err
	}
	return g.Serve(ctx)
}

// runReplicate is `gateway replicate --once`.
func runReplicate(ctx context.Context, args []string, deps gateway.Deps, stdout io.Writer) error {
	fs := newFlagSet("gateway replicate")
	once := fs.Bool("once", false, "run one sync pass over PROJECT_NAMES and exit")
	if done, err := parseFlags(fs, args, "usage: gateway replicate --once\n", stdout, deps.Stderr); done || err != nil {
		return err
	}
	if !*once {
		return errors.New("replicate: only --once is supported (the serving gateway replicates continuously)")
	}
	cfg, err := load(deps)
	if err != nil {
		return err
	}
	return gateway.ReplicateOnce(ctx, cfg, deps)
}

const checkUsage = "usage: gateway check-config [-probe]\n"

// runCheckConfig is `gateway check-config [-probe]`, the gateway's
// `nginx -t` (gateway.CheckConfig): one line per problem on stdout, and
// an error when there is any.
func runCheckConfig(ctx context.Context, args []string, deps gateway.Deps, stdout io.Writer) error {
	fs := newFlagSet("gateway check-config")
	probe := fs.Bool("probe", false, "also call each region (the health probe's call), the Redis of JOB_RESCUE and each storage container once with their credentials")
	if done, err := parseFlags(fs, args, checkUsage, stdout, deps.Stderr); done || err != nil {
		return err
	}
	return gateway.CheckConfig(ctx, deps.Getenv, deps.Environ, *probe, stdout)
}

// load reads the configuration; when it is bad, the unknown variables
// follow its problems, since a misspelt name is often why one is missing.
func load(deps gateway.Deps) (*config.Config, error) {
	cfg, err := config.Load(deps.Getenv)
	if err != nil {
		if unknown := config.UnknownVariables(deps.Environ); len(unknown) > 0 {
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+route.Healthz.Template, nil)
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
