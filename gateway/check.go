package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"nergateway/internal/config"
)

// EnvironNames are the names of environ's NAME=value entries (as
// os.Environ lists them): what Deps.Environ and CheckConfig take, so the
// values, which may be secrets, stay with the command.
func EnvironNames(environ []string) []string {
	names := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	return names
}

// warnConfiguration logs, once at start, what check-config would fail on
// but the gateway runs with: settings that are likely mistakes and
// variables that look meant for it but that nothing reads (names only: a
// value may be a secret).
func warnConfiguration(cfg *config.Config, environ []string, log *slog.Logger) {
	for _, problem := range append(cfg.Lint(), config.UnknownVariables(environ)...) {
		log.Warn("configuration: " + problem)
	}
}

// CheckConfig is `gateway check-config [-probe]`, the gateway's
// `nginx -t`: it reads the configuration from getenv as serving would
// (environ names the process's variables, for the unknown ones), prints
// one line per problem to stdout, and fails if there is any. With probe it
// also calls each region, the rescue store and each storage container
// once with their credentials.
func CheckConfig(ctx context.Context, getenv func(string) string, environ []string, probe bool, stdout io.Writer) error {
	problems := checkConfig(ctx, getenv, environ, probe)
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("check-config: %d problem(s)", len(problems))
	}
	fmt.Fprintln(stdout, "configuration ok")
	return nil
}

// checkConfig returns every problem it finds, one line each, naming the
// variable and never repeating a key or a region host.
func checkConfig(ctx context.Context, getenv func(string) string, environ []string, probe bool) []string {
	problems := config.UnknownVariables(environ)
	cfg, err := config.Load(getenv)
	if err != nil {
		return append(problems, errorLines(err)...)
	}
	problems = append(problems, cfg.Lint()...)
	if _, err := newKeyring(cfg, slog.New(slog.DiscardHandler)); err != nil {
		problems = append(problems, errorLines(err)...)
	}
	if up, err := newUpstream(cfg, getenv, slog.New(slog.DiscardHandler)); err != nil {
		problems = append(problems, errorLines(err)...)
	} else {
		if probe {
			problems = append(problems, probeRegions(ctx, up)...)
		}
		up.close()
	}
	if probe {
		problems = append(problems, probeRescue(ctx, cfg)...)
		problems = append(problems, probeStorage(ctx, cfg)...)
	} else {
		problems = append(problems, checkRescue(cfg)...)
	}
	if cfg.Addr == cfg.OpsAddr {
		return problems // already reported by Load
	}
	for name, addr := range map[string]string{"GATEWAY_ADDR": cfg.Addr, "GATEWAY_OPS_ADDR": cfg.OpsAddr} {
		if _, port, err := net.SplitHostPort(addr); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %q is not host:port", name, addr))
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %q has no valid port", name, addr))
		}
	}
	return problems
}

// errorLines splits a joined error into its lines, without Load's header.
func errorLines(err error) []string {
	var out []string
	for line := range strings.Lines(err.Error()) {
		if line = strings.TrimSpace(line); line != "" && line != "invalid configuration:" {
			out = append(out, line)
		}
	}
	return out
}
