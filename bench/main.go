// Command bench measures the gateway on one machine against what a user
// would otherwise run: calling a region directly, nginx and Caddy
// configured as the closest equivalent failover proxies, and a bare
// net/http proxy (bench/floor) that only buffers the body, swaps the key
// and relays. Every target gets the same loads, in the same run:
//
//   - throughput: wrk (one thread, 32 connections) polling one job, then
//     submitting jobs, for the median of several rounds; the proxy's CPU
//     time per request;
//   - open loop: polls at 100 requests/s and at half the gateway's best
//     throughput, for the latency the proxy adds;
//   - 1,000 connections: the proxy's resident memory at rest and at peak;
//   - failover: the primary refuses connections, blackholes and answers
//     503 while load runs, and comes back (gateway and nginx).
//
// Any answer that is not 2xx in a load leg fails the run: a proxy that
// answers 404 itself is not fast, it is wrong.
//
//	go run ./bench                 # the full run (about ten minutes)
//	go run ./bench -quick          # the CI smoke run
//	go run ./bench -out docs/benchmarks-results.md
//
// It builds cmd/gateway, cmd/emulator and bench/floor, runs nginx, Caddy
// and wrk from Debian's packages (scripts/provision installs them; it never
// does: without nginx or Caddy their legs say "skipped", without wrk it
// stops, each time naming what is missing and how to install it), runs
// every process on 127.0.0.1 in its own process group and stops them all
// when it ends. See docs/benchmarks.md for the method and the results.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	quick         bool
	duration      time.Duration
	warmup        time.Duration
	rounds        int
	connections   int     // wrk connections of the throughput legs
	lowRate       float64 // requests/s of the light open-loop leg
	rate          float64 // requests/s of the loaded open-loop leg; 0: half the gateway's best
	conns         int     // the many-connections run
	out           string
	legs          map[string]bool // which groups of legs run
	targets       []string
	gatewayEnv    []string
	gatewayBinary string
	baseline      string   // an earlier gateway binary, run as "gateway before"
	baselineEnv   []string // its runtime environment; nil: shippedEnv
	profileDir    string
	profileConns  int
	profileLoad   string
	profileTraced bool
	failoverTimes failoverTiming
	throughput    stackOptions // gateway and nginx settings for the load runs
	failover      stackOptions // and for the failover runs
}

// Workloads of the throughput legs.
const (
	loadPolls   = "polls"
	loadSubmits = "submits"
)

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	var err error
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.quick, "quick", false, "smoke run: one short round of every leg (CI)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each leg (wrk rounds it up to whole seconds)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each leg's window")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of the throughput legs; the table shows their median")
	fs.IntVar(&o.connections, "connections", 32, "wrk connections of the throughput legs")
	fs.Float64Var(&o.lowRate, "low-rate", 100, "requests/s of the light open-loop leg")
	fs.Float64Var(&o.rate, "rate", 0, "requests/s of the loaded open-loop leg; 0: half the gateway's best polls/s")
	fs.IntVar(&o.conns, "conns", 1000, "client connections of the memory run")
	fs.StringVar(&o.out, "out", "", "also write the markdown results to this file")
	legs := fs.String("legs", "throughput,open,conns,failover", "groups of legs to run: throughput, open, conns, failover")
	targets := fs.String("targets", "direct,nginx,floor,caddy,gateway,gateway-notel,gateway-traced",
		"targets of the load legs: direct, nginx, floor, caddy, gateway, gateway-notel (OTEL_SDK_DISABLED=true), gateway-traced (every request traced and exported)")
	gatewayEnv := fs.String("gateway-env", "", "extra environment of the gateway targets, comma-separated NAME=value (e.g. GOGC=50); a name of the image's runtime environment (GODEBUG) replaces its value")
	fs.StringVar(&o.gatewayBinary, "gateway-binary", "", "use this gateway binary instead of building cmd/gateway (A/B runs of a change)")
	fs.StringVar(&o.baseline, "baseline-binary", "", "also run this (earlier) gateway binary as \"gateway before\", traced too, so before and after come from one run")
	baselineEnv := fs.String("baseline-env", "", "runtime environment of -baseline-binary instead of the image's (comma-separated NAME=value; \"none\" for none), e.g. GOMEMLIMIT=192MiB for an image that set no GODEBUG")
	fs.StringVar(&o.profileDir, "profile", "", "only profile the gateway (CPU over -duration, heap at the end) into this directory, with a pprof-enabled build")
	fs.IntVar(&o.profileConns, "profile-clients", 32, "wrk connections of the -profile run")
	fs.StringVar(&o.profileLoad, "profile-load", loadPolls, "load of the -profile run: polls or submits")
	fs.BoolVar(&o.profileTraced, "profile-traced", false, "profile the gateway tracing every request (as the gateway-traced target)")
	if err = fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, f := range strings.Split(*targets, ",") {
		t, ok := targetFlags[strings.TrimSpace(f)]
		if !ok {
			return o, fmt.Errorf("-targets: unknown target %q", f)
		}
		o.targets = append(o.targets, t)
	}
	if o.baseline != "" {
		if slices.Contains(o.targets, targetGateway) {
			o.targets = append(o.targets, targetBefore)
		}
		if slices.Contains(o.targets, targetGatewayTraced) {
			o.targets = append(o.targets, targetBeforeTraced)
		}
	}
	o.legs = map[string]bool{}
	for _, l := range strings.Split(*legs, ",") {
		switch l = strings.TrimSpace(l); l {
		case "throughput", "open", "conns", "failover":
			o.legs[l] = true
		default:
			return o, fmt.Errorf("-legs: unknown group %q", l)
		}
	}
	if o.gatewayEnv, err = parseEnv("-gateway-env", *gatewayEnv); err != nil {
		return o, err
	}
	switch *baselineEnv {
	case "":
	case "none":
		o.baselineEnv = []string{}
	default:
		if o.baselineEnv, err = parseEnv("-baseline-env", *baselineEnv); err != nil {
			return o, err
		}
	}
	if o.profileLoad != loadPolls && o.profileLoad != loadSubmits {
		return o, fmt.Errorf("-profile-load: %q is neither polls nor submits", o.profileLoad)
	}
	o.throughput = stackOptions{upstreamTimeout: 10 * time.Second, breakerFailures: 5, openTimeout: 30 * time.Second, probeInterval: 10 * time.Second}
	o.failover = stackOptions{upstreamTimeout: time.Second, breakerFailures: 5, openTimeout: 2 * time.Second, probeInterval: 250 * time.Millisecond, expireJobs: true}
	o.failoverTimes = failoverTiming{healthy: 2 * time.Second, down: 6 * time.Second, recovery: 5 * time.Second, workers: 16}
	if o.quick {
		if !set["duration"] {
			o.duration = time.Second
		}
		if !set["warmup"] {
			o.warmup = 0
		}
		if !set["rounds"] {
			o.rounds = 1
		}
		if !set["conns"] {
			o.conns = 64
		}
		o.failover.openTimeout = time.Second
		o.failoverTimes = failoverTiming{healthy: 300 * time.Millisecond, down: 1500 * time.Millisecond, recovery: 1500 * time.Millisecond, workers: 4}
	}
	if o.duration <= 0 || o.warmup < 0 || o.conns < 1 || o.connections < 1 || o.rounds < 1 || o.rate < 0 || o.lowRate < 0 {
		return o, errors.New("-duration, -rounds, -connections and -conns must be positive, -warmup, -rate and -low-rate not negative")
	}
	return o, nil
}

// parseEnv reads a comma-separated list of NAME=value.
func parseEnv(flagName, list string) ([]string, error) {
	var env []string
	for _, kv := range strings.Split(list, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		if !strings.Contains(kv, "=") {
			return nil, fmt.Errorf("%s: %q is not NAME=value", flagName, kv)
		}
		env = append(env, kv)
	}
	return env, nil
}

// run is the whole command; the smoke test calls it in process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "nergateway-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	t := &tools{tmp: tmp, gatewayEnv: o.gatewayEnv, baselineEnv: o.baselineEnv}
	fmt.Fprintln(stderr, "bench: building cmd/gateway, cmd/emulator and bench/floor")
	if t.gateway, t.emulator, t.floor, err = buildBinaries(ctx, tmp); err != nil {
		return err
	}
	if o.gatewayBinary != "" {
		t.gateway = o.gatewayBinary
	}
	t.gatewayBefore = o.baseline
	for name, bin := range map[string]*string{"gateway": &t.gateway, "gateway-before": &t.gatewayBefore, "floor": &t.floor} {
		if *bin, err = stage(*bin, filepath.Join(tmp, "staged-"+name)); err != nil {
			return err
		}
	}
	ext := findExternals(ctx)
	t.nginx, t.caddy, t.wrk = ext["nginx"], ext["caddy"], ext["wrk"]
	if t.wrk.path == "" {
		return fmt.Errorf("wrk is needed for the load legs: %s", t.wrk.skip)
	}
	if t.otlp, err = startOTLPSink(); err != nil {
		return err
	}
	defer t.otlp.close()
	if o.profileDir != "" {
		return profileGateway(ctx, t, o, stderr)
	}
	rep := newReport(o, t)
	b := &bencher{o: o, t: t, rep: rep, log: stderr}

	for round := range o.rounds {
		if !o.legs["throughput"] {
			break
		}
		for _, load := range []string{loadPolls, loadSubmits} {
			for _, target := range o.targets {
				if err := b.throughputLeg(ctx, round, load, target); err != nil {
					return err
				}
			}
		}
	}

	latencyTargets := slices.DeleteFunc(slices.Clone(o.targets), func(t string) bool {
		return t == targetGatewayNoTel || isTraced(t)
	})
	rates := []float64{o.lowRate}
	half := o.rate
	if half == 0 {
		half = rep.medianRPS(loadPolls, targetGateway) / 2
	}
	rates = append(rates, half)
	for _, rate := range rates {
		if rate <= 0 || !o.legs["open"] {
			continue
		}
		for _, target := range latencyTargets {
			if err := b.openLeg(ctx, rate, target); err != nil {
				return err
			}
		}
	}

	for _, target := range latencyTargets {
		if !o.legs["conns"] {
			break
		}
		if err := b.connsLeg(ctx, target); err != nil {
			return err
		}
	}

	if o.legs["failover"] {
		for _, f := range faults {
			for _, target := range []string{targetGateway, targetNginx} {
				if target == targetNginx && t.nginx.path == "" {
					rep.failovers = append(rep.failovers, failoverResult{fault: f.name, target: target, skipped: t.nginx.skip})
					continue
				}
				fmt.Fprintf(stderr, "bench: failover %s via %s\n", f.name, target)
				res, err := runFailover(ctx, t, target, f, o.failover, o.failoverTimes)
				if err != nil {
					return fmt.Errorf("failover %s via %s: %w", f.name, target, err)
				}
				rep.failovers = append(rep.failovers, res)
			}
		}
	}

	md := rep.markdown()
	fmt.Fprint(stdout, md)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(md), 0o644); err != nil {
			return err
		}
	}
	if len(rep.failures) > 0 {
		return fmt.Errorf("%d load legs had answers that were not 2xx (the figures of a wrong proxy are not figures):\n%s",
			len(rep.failures), strings.Join(rep.failures, "\n"))
	}
	return ctx.Err()
}
