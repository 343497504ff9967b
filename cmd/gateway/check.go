package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"nergateway/api"
	"nergateway/internal/config"
	"nergateway/internal/entra"
	"nergateway/internal/secret"
)

const checkUsage = "usage: gateway check-config [-probe]\n"

// environNames lists the names of the process's environment variables,
// for check-config's unknown-variable check (getenv cannot list them).
func environNames() []string {
	var names []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	return names
}

// runCheckConfig is `gateway check-config [-probe]`, the gateway's
// `nginx -t`: it reads the configuration as serving would, prints one line
// per problem, and fails if there is any. With -probe it also calls each
// region once with its credentials.
func runCheckConfig(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gateway check-config")
	probe := fs.Bool("probe", false, "also call each region once (the health probe's call) with its credentials")
	if done, err := parseFlags(fs, args, checkUsage, stdout, stderr); done || err != nil {
		return err
	}
	problems := checkConfig(ctx, getenv, environ, *probe)
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
	if _, err := upstreamTransport(cfg); err != nil {
		problems = append(problems, errorLines(err)...)
	} else if probe {
		problems = append(problems, probeRegions(ctx, cfg, getenv)...)
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

// probeRegions sends each region the health probe's call.
func probeRegions(ctx context.Context, cfg *config.Config, getenv func(string) string) []string {
	transport, err := upstreamTransport(cfg)
	if err != nil {
		return errorLines(err)
	}
	defer transport.CloseIdleConnections()
	auth, err := newRegionAuth(cfg, transport, getenv)
	if err != nil {
		return errorLines(err)
	}
	var problems []string
	for _, r := range []struct {
		variable string
		endpoint string
		key      secret.Secret
		auth     api.Authorizer
	}{
		{"PRIMARY_ENDPOINT", cfg.PrimaryEndpoint.String(), cfg.PrimaryKey, auth.primary},
		{"SECONDARY_ENDPOINT", cfg.SecondaryEndpoint.String(), cfg.SecondaryKey, auth.secondary},
	} {
		client, err := api.NewClient(r.endpoint, r.key, api.ClientOptions{
			HTTPClient: &http.Client{Transport: transport}, AuthoringAPIVersion: cfg.AuthoringAPIVersion, Authorizer: r.auth,
		})
		if err != nil {
			problems = append(problems, r.variable+": "+err.Error())
			continue
		}
		callCtx, cancel := context.WithTimeout(ctx, cfg.UpstreamTimeout)
		err = client.Probe(callCtx)
		cancel()
		if err != nil {
			problems = append(problems, r.variable+": "+probeProblem(err))
		}
	}
	return problems
}

// probeProblem says what went wrong in words that hold no host or key.
func probeProblem(err error) string {
	var apiErr *api.Error
	var netErr net.Error
	switch {
	case errors.Is(err, entra.ErrNoToken):
		return "no Microsoft Entra ID token (" + firstLine(err) + ")"
	case errors.As(err, &apiErr) && (apiErr.StatusCode == 401 || apiErr.StatusCode == 403):
		return fmt.Sprintf("the region refused the credentials (%d %s)", apiErr.StatusCode, apiErr.Code)
	case errors.As(err, &apiErr):
		return fmt.Sprintf("the region answered %d %s", apiErr.StatusCode, apiErr.Code)
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer within UPSTREAM_TIMEOUT"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "no answer within UPSTREAM_TIMEOUT"
	case strings.Contains(err.Error(), "certificate"):
		return "TLS certificate not trusted (UPSTREAM_CA_FILE adds a CA)"
	case strings.Contains(err.Error(), "no such host"):
		return "the host name does not resolve"
	}
	return "unreachable (connection failed)"
}

// firstLine is the first line of err's text (azidentity's errors run on
// with troubleshooting links).
func firstLine(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}
