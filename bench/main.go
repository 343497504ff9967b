// Command bench measures the gateway on one machine: the same mix of
// custom NER calls (submit a job of one to three documents, then poll it
// until it succeeded) sent directly to an emulated region, through nginx
// configured as the closest equivalent failover proxy, and through the
// gateway; then the primary region refuses connections, blackholes and
// answers 503 while load runs, and comes back.
//
//	go run ./bench                 # the full run (a few minutes)
//	go run ./bench -quick          # the CI smoke run (seconds)
//	go run ./bench -out docs/benchmarks-results.md
//
// It builds cmd/gateway and cmd/emulator, runs every process on 127.0.0.1
// in its own process group and stops them all when it ends. See
// docs/benchmarks.md for the method and the results.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
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
	levels        []int
	rate          float64 // requests/s of the open-loop run; 0: half the gateway's best
	conns         int     // the many-connections run
	out           string
	installNginx  bool
	skipFailover  bool
	noTelemetry   bool
	targets       []string
	gatewayEnv    []string
	gatewayBinary string
	profileDir    string
	profileConns  int
	failoverTimes failoverTiming
	throughput    stackOptions // gateway and nginx settings for the load runs
	failover      stackOptions // and for the failover runs
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.quick, "quick", false, "smoke run: tiny load for a second per leg (CI)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each leg")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured time before each leg's window")
	levels := fs.String("concurrency", "1,16,64,256", "closed-loop concurrency levels (clients, each one connection)")
	fs.Float64Var(&o.rate, "rate", 0, "open-loop requests/s (half are submits, half polls); 0: half the gateway's best closed-loop throughput")
	fs.IntVar(&o.conns, "conns", 1000, "concurrent client connections of the memory run")
	fs.StringVar(&o.out, "out", "", "also write the markdown results to this file")
	fs.BoolVar(&o.installNginx, "install-nginx", true, "apt-get install nginx when it is missing and the bench runs as root")
	fs.BoolVar(&o.skipFailover, "skip-failover", false, "skip the failover runs")
	fs.BoolVar(&o.noTelemetry, "telemetry-off-leg", true, "also run the gateway with OTEL_SDK_DISABLED=true in the closed-loop legs (off with -quick unless set)")
	targets := fs.String("targets", "direct,nginx,gateway", "targets of the load legs, of direct, nginx and gateway")
	gatewayEnv := fs.String("gateway-env", "", "extra environment of the gateway, comma-separated NAME=value (e.g. GOMEMLIMIT=48MiB)")
	fs.StringVar(&o.gatewayBinary, "gateway-binary", "", "use this gateway binary instead of building cmd/gateway (A/B runs of a change)")
	fs.StringVar(&o.profileDir, "profile", "", "only profile the gateway (CPU over -duration, heap at the end) into this directory, with a pprof-enabled build")
	fs.IntVar(&o.profileConns, "profile-clients", 64, "closed-loop clients of the -profile run")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, f := range strings.Split(*levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-concurrency: %q is not a positive number", f)
		}
		o.levels = append(o.levels, n)
	}
	for _, f := range strings.Split(*targets, ",") {
		switch f = strings.TrimSpace(f); f {
		case targetDirect, targetNginx, targetGateway:
			o.targets = append(o.targets, f)
		default:
			return o, fmt.Errorf("-targets: unknown target %q", f)
		}
	}
	for _, kv := range strings.Split(*gatewayEnv, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		if !strings.Contains(kv, "=") {
			return o, fmt.Errorf("-gateway-env: %q is not NAME=value", kv)
		}
		o.gatewayEnv = append(o.gatewayEnv, kv)
	}
	o.throughput = stackOptions{upstreamTimeout: 10 * time.Second, breakerFailures: 5, openTimeout: 30 * time.Second, probeInterval: 10 * time.Second}
	o.failover = stackOptions{upstreamTimeout: time.Second, breakerFailures: 5, openTimeout: 2 * time.Second, probeInterval: 250 * time.Millisecond}
	o.failoverTimes = failoverTiming{healthy: 2 * time.Second, down: 6 * time.Second, recovery: 5 * time.Second, workers: 16}
	if o.quick {
		if !set["duration"] {
			o.duration = 500 * time.Millisecond
		}
		if !set["warmup"] {
			o.warmup = 100 * time.Millisecond
		}
		if !set["concurrency"] {
			o.levels = []int{1, 8}
		}
		if !set["conns"] {
			o.conns = 64
		}
		if !set["telemetry-off-leg"] {
			o.noTelemetry = false
		}
		o.failover.openTimeout = time.Second
		o.failoverTimes = failoverTiming{healthy: 300 * time.Millisecond, down: 1500 * time.Millisecond, recovery: 1500 * time.Millisecond, workers: 4}
	}
	if o.duration <= 0 || o.warmup < 0 || o.conns < 1 || o.rate < 0 {
		return o, fmt.Errorf("-duration must be positive, -warmup, -rate not negative, -conns at least 1")
	}
	return o, nil
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

	t := &tools{tmp: tmp, gatewayEnv: o.gatewayEnv}
	fmt.Fprintln(stderr, "bench: building cmd/gateway and cmd/emulator")
	if t.gateway, t.emulator, err = buildBinaries(ctx, tmp); err != nil {
		return err
	}
	if o.gatewayBinary != "" {
		t.gateway = o.gatewayBinary
	}
	t.nginx, t.nginxVersion, t.nginxSkip = findNginx(ctx, o.installNginx, stderr)
	if t.nginxSkip != "" {
		fmt.Fprintln(stderr, "bench: nginx legs skipped:", t.nginxSkip)
	}
	if o.profileDir != "" {
		return profileGateway(ctx, t, o, o.profileConns, o.profileDir, stderr)
	}
	rep := newReport(o, t)
	targets := o.targets

	leg := func(group, label, target string, conns int, body func(c *client, at func()) ([]sample, int)) error {
		res := legResult{group: group, label: label, target: target}
		if target == targetNginx && t.nginx == "" {
			res.skipped = t.nginxSkip
			rep.add(res)
			return nil
		}
		s, err := startStack(ctx, t, target, o.throughput)
		if err != nil {
			return fmt.Errorf("%s %s: %w", label, target, err)
		}
		defer s.close()
		c := newClient(s.base, s.key, conns)
		defer c.close()
		var cpu []float64
		at := func() {
			if s.proxy != nil {
				cpu = append(cpu, s.proxy.cpuSeconds())
			}
		}
		samples, shed := body(c, at)
		res.stats, res.shed = summarize(samples), shed
		res.rps = float64(res.stats.n) / o.duration.Seconds()
		if s.proxy != nil && len(cpu) == 2 && res.stats.n > 0 {
			res.cpuPer1k = (cpu[1] - cpu[0]) / float64(res.stats.n) * 1000
			res.rss = s.proxy.peakRSS()
		}
		if s.proxy != nil && s.proxy.exited() {
			return fmt.Errorf("%s %s: the proxy exited during the run: %v\n%s", label, target, s.proxy.err, s.proxy.logs())
		}
		rep.add(res)
		fmt.Fprintf(stderr, "bench: %-16s %-8s %8.0f req/s  p50 %s  p99 %s  errors %d\n",
			label, target, res.rps, ms(res.stats.p50), ms(res.stats.p99), res.stats.errors)
		return ctx.Err()
	}

	for _, n := range append(slices.Clone(o.levels), o.conns) {
		group, label := "closed", fmt.Sprintf("%d clients", n)
		if n == 1 {
			label = "1 client"
		}
		if n == o.conns {
			group, label = "conns", fmt.Sprintf("%d connections", n)
		}
		legTargets := targets
		if o.noTelemetry && group == "closed" && slices.Contains(targets, targetGateway) {
			legTargets = append(slices.Clone(targets), targetGatewayNoTel)
		}
		for _, target := range legTargets {
			err := leg(group, label, target, n, func(c *client, at func()) ([]sample, int) {
				return c.closedLoop(ctx, n, o.warmup, o.duration, at), 0
			})
			if err != nil {
				return err
			}
		}
	}

	rate := o.rate
	if rate == 0 {
		rate = rep.bestRPS(targetGateway) / 2
	}
	if rate > 0 {
		label := fmt.Sprintf("%.0f req/s open", rate)
		rep.rate = rate
		for _, target := range targets {
			err := leg("open", label, target, 256, func(c *client, at func()) ([]sample, int) {
				return c.openLoop(ctx, rate/2, o.warmup, o.duration, at)
			})
			if err != nil {
				return err
			}
		}
	}

	if !o.skipFailover {
		for _, f := range faults {
			for _, target := range []string{targetGateway, targetNginx} {
				if target == targetNginx && t.nginx == "" {
					rep.failovers = append(rep.failovers, failoverResult{fault: f.name, target: target, skipped: t.nginxSkip})
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
	return ctx.Err()
}
