// Package gateway wires every part of the gateway (regions, proxy, probes,
// replication, job rescue, telemetry, the client and ops servers) from a
// configuration: New builds them, Serve runs them until its context ends
// and drains. ReplicateOnce and CheckConfig serve the gateway's one-shot
// commands. cmd/gateway dispatches the commands and cmd/demo serves the
// same wiring in front of emulated regions, so the gateway's binary links
// no emulator.
package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"nergateway/health"
	"nergateway/internal/auth"
	"nergateway/internal/config"
	"nergateway/internal/inflight"
	"nergateway/internal/region"
	"nergateway/internal/telemetry"
	"nergateway/proxy"
	"nergateway/replication"
	"nergateway/rescue"
)

// Deps are what the command serving a gateway supplies besides its
// configuration: the process's environment and log stream, and, for a
// command that serves regions of its own (cmd/demo), listeners, a log
// format and a hook called once serving. Zero values suit the gateway's
// own binary.
type Deps struct {
	// Getenv reads the variables the configuration does not hold
	// (OTEL_*, AZURE_*, GOMEMLIMIT); nil reads none.
	Getenv func(string) string
	// Stderr receives the log.
	Stderr io.Writer
	// Environ are the names of the process's environment variables, for
	// the unknown-variable warnings (Getenv cannot list them).
	Environ []string
	// LogFormat, if set, overrides LOG_FORMAT (the demo logs text).
	LogFormat string
	// Listener and OpsListener, if set, are served instead of listening on
	// cfg.Addr and cfg.OpsAddr (the demo must know its addresses before it
	// prints curls).
	Listener, OpsListener net.Listener
	// Ready, if set, is called with the served addresses once serving.
	Ready func(addr, opsAddr string)
	// MemoryLimit sets the runtime's soft memory limit from the
	// configuration while serving (setMemoryLimit): for the gateway's own
	// process only, never the demo's, which holds emulated regions too.
	MemoryLimit bool

	// limits, if set, replaces defaultServerLimits (tests of slow clients).
	limits *serverLimits
}

// getenv is d.Getenv, or a lookup that finds nothing.
func (d Deps) getenv(name string) string {
	if d.Getenv == nil {
		return ""
	}
	return d.Getenv(name)
}

// Gateway is every part of a serving gateway, wired by New; Serve runs
// them.
type Gateway struct {
	cfg     *config.Config
	deps    Deps
	log     *slog.Logger
	tel     *telemetry.Telemetry
	keys    *keyring
	up      *upstream
	rescue  *rescue.Store // nil when JOB_RESCUE is off
	regions []*region.Region
	proxy   *proxy.Proxy
	prober  *health.Prober
	worker  *replication.Worker // nil when this replica does not replicate
	checker *health.Checker[replicationStatus, jobRescueStatus]
}

// New wires the parts of a gateway from cfg, with the constructors
// `replicate --once` and `check-config` use too. Nothing runs until
// Serve, which also releases what New opened.
func New(ctx context.Context, cfg *config.Config, deps Deps) (_ *Gateway, err error) {
	g := &Gateway{cfg: cfg, deps: deps, log: newLogger(cfg, deps)}
	if g.keys, err = newKeyring(cfg, g.log); err != nil {
		return nil, err
	}
	if g.tel, err = newTelemetry(ctx, "nergateway", deps, g.log); err != nil {
		return nil, err
	}
	if cfg.RescueOn() {
		if g.rescue, err = openRescue(ctx, cfg, g.tel, g.log); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				g.rescue.Close()
			}
		}()
	}
	if g.up, err = newUpstream(cfg, deps.getenv, g.log); err != nil {
		return nil, err
	}
	if g.regions, err = g.newRegions(); err != nil {
		return nil, err
	}
	if g.proxy, err = g.newProxy(); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	if g.prober, err = g.newProber(); err != nil {
		return nil, err
	}
	if cfg.ReplicationEnabled && len(cfg.Projects) > 0 {
		if g.worker, err = newWorker(cfg, g.up, g.tel, g.log); err != nil {
			return nil, err
		}
	}
	statuses := make([]health.RegionStatus, len(g.regions))
	for i, r := range g.regions {
		statuses[i] = r
	}
	g.checker = health.NewChecker(statuses, currentBuild(), g.replicationStatus, g.jobRescueStatus)
	if err := g.observeGauges(); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	warnConfiguration(cfg, deps.Environ, g.log)
	return g, nil
}

func newLogger(cfg *config.Config, deps Deps) *slog.Logger {
	format := cfg.LogFormat
	if deps.LogFormat != "" {
		format = deps.LogFormat
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config.Load
	stderr := deps.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	return telemetry.NewLogger(stderr, format, level)
}

// newTelemetry sets up traces and metrics for the named service (OTEL_*
// from deps.Getenv).
func newTelemetry(ctx context.Context, service string, deps Deps, log *slog.Logger) (*telemetry.Telemetry, error) {
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: service, ServiceVersion: version, Getenv: deps.getenv, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	return tel, nil
}

// flushTelemetry exports what telemetry still holds, within 5s even when
// ctx is done.
func flushTelemetry(ctx context.Context, tel *telemetry.Telemetry, log *slog.Logger) {
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(flushCtx); err != nil {
		log.Warn("telemetry flush failed", "error", err)
	}
}

// newRegions builds a region record (breaker, parking, outage clock,
// metrics) for each side; breaker changes are logged.
func (g *Gateway) newRegions() ([]*region.Region, error) {
	metrics, err := region.NewMetrics(g.tel.MeterProvider.Meter(meterName))
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	onChange := func(name string, from, to region.State) {
		g.log.Warn("region breaker changed state", "region", name, "from", string(from), "to", string(to))
	}
	var regions []*region.Region
	for _, s := range g.up.sides {
		r, err := region.New(region.Config{Name: s.name, Role: s.role, Endpoint: s.endpoint, Key: s.key, Authorizer: s.authorizer,
			ConsecutiveFailures: g.cfg.BreakerFailures, OpenTimeout: g.cfg.BreakerOpenTimeout, MaxPark: g.cfg.RegionMaxPark,
			OnStateChange: onChange, Metrics: metrics})
		if err != nil {
			return nil, err
		}
		regions = append(regions, r)
	}
	return regions, nil
}

// newProxy builds the reverse proxy in front of the regions.
func (g *Gateway) newProxy() (*proxy.Proxy, error) {
	cfg, tel := g.cfg, g.tel
	return proxy.New(proxy.Config{
		Regions:               g.regions,
		UpstreamTimeout:       cfg.UpstreamTimeout,
		OrphanWait:            cfg.SubmitOrphanWait,
		OpenRetryAfter:        cfg.BreakerOpenTimeout,
		Rescue:                g.rescue,
		MaxRequestBytes:       int64(cfg.MaxRequestBytes),
		MaxInflight:           cfg.MaxInflight,
		Budget:                inflight.NewBudget(int64(cfg.MaxBufferedBytes)),
		PublicURL:             cfg.PublicURL,
		TrustForwardedHeaders: cfg.TrustForwarded,
		ProjectNames:          cfg.ProjectNames,
		DeploymentNames:       cfg.DeploymentNames,
		Transport:             g.up.transport,
		TracerProvider:        tel.TracerProvider,
		MeterProvider:         tel.MeterProvider,
		Propagator:            tel.Propagator,
		Logger:                g.log,
		KeyName:               auth.KeyName,
	})
}

// newProber builds the active probes of every region, through the same
// pool and credentials as client calls.
func (g *Gateway) newProber() (*health.Prober, error) {
	probed := make([]health.Region, len(g.regions))
	for i, r := range g.regions {
		probed[i] = r
	}
	return health.NewProber(health.ProberConfig{
		Regions:    probed,
		Interval:   g.cfg.HealthProbeInterval,
		Timeout:    g.cfg.UpstreamTimeout,
		APIVersion: g.cfg.AuthoringAPIVersion,
		Client:     &http.Client{Transport: g.up.transport},
		Logger:     g.log,
	})
}

// openRescue opens the job-rescue store. Its claim lease outlasts a
// resubmit (an attempt per region, each bounded by UPSTREAM_TIMEOUT), so a
// claim held by a live replica never lapses.
func openRescue(ctx context.Context, cfg *config.Config, tel *telemetry.Telemetry, log *slog.Logger) (*rescue.Store, error) {
	s, err := rescue.Open(ctx, rescue.Config{
		Backend:       cfg.JobRescue,
		Keys:          cfg.JobRescueKeys,
		TTL:           cfg.JobRescueTTL,
		After:         cfg.JobRescueAfter,
		OpTimeout:     cfg.JobRescueTimeout,
		MaxBytes:      int64(cfg.JobRescueMaxBytes),
		Lease:         max(rescue.DefaultLease, 4*cfg.UpstreamTimeout),
		MeterProvider: tel.MeterProvider,
		Logger:        log,
	})
	if err != nil {
		return nil, fmt.Errorf("job rescue: %w", err)
	}
	return s, nil
}

// listen returns ln, or a listener on addr when ln is nil.
func listen(ln net.Listener, addr string) (net.Listener, error) {
	if ln != nil {
		return ln, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}
