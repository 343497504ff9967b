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
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sync/errgroup"

	"nergateway/api"
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
	cfg       *config.Config
	deps      Deps
	log       *slog.Logger
	tel       *telemetry.Telemetry
	regions   []*region.Region
	proxy     *proxy.Proxy
	prober    *health.Prober
	checker   *health.Checker
	worker    *replication.Worker // nil when this replica does not replicate
	keys      *keyring
	auth      regionAuth
	rescue    *rescue.Store // nil when JOB_RESCUE is off
	transport *http.Transport
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

// New wires the parts of a gateway from cfg. Nothing runs until Serve,
// which also releases what New opened.
func New(ctx context.Context, cfg *config.Config, deps Deps) (_ *Gateway, err error) {
	log := newLogger(cfg, deps)
	keys, err := newKeyring(cfg, log)
	if err != nil {
		return nil, err
	}
	tel, err := telemetry.Setup(ctx, telemetry.Options{
		ServiceName: "nergateway", ServiceVersion: version, Getenv: deps.getenv, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	g := &Gateway{cfg: cfg, deps: deps, log: log, tel: tel, keys: keys}
	meter := tel.MeterProvider.Meter("nergateway/gateway")
	breakers, err := region.NewMetrics(meter)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if cfg.RescueOn() {
		if g.rescue, err = openRescue(ctx, cfg, tel, log); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				g.rescue.Close()
			}
		}()
	}
	onChange := func(name string, from, to region.State) {
		log.Warn("region breaker changed state", "region", name, "from", string(from), "to", string(to))
	}
	g.transport, err = upstreamTransport(cfg)
	if err != nil {
		return nil, err
	}
	if g.auth, err = newRegionAuth(cfg, g.transport, deps.getenv, log); err != nil {
		return nil, err
	}
	for _, rc := range []region.Config{
		{Name: cfg.PrimaryName, Role: region.RolePrimary, Endpoint: cfg.PrimaryEndpoint, Key: cfg.PrimaryKey, Authorizer: g.auth.primary},
		{Name: cfg.SecondaryName, Role: region.RoleSecondary, Endpoint: cfg.SecondaryEndpoint, Key: cfg.SecondaryKey, Authorizer: g.auth.secondary},
	} {
		rc.ConsecutiveFailures = cfg.BreakerFailures
		rc.OpenTimeout = cfg.BreakerOpenTimeout
		rc.MaxPark = cfg.RegionMaxPark
		rc.OnStateChange = onChange
		rc.Metrics = breakers
		r, err := region.New(rc)
		if err != nil {
			return nil, err
		}
		g.regions = append(g.regions, r)
	}
	if _, err := meter.Int64ObservableGauge("gateway.credential.up",
		metric.WithDescription("Whether the gateway holds a valid credential for the region: 1 a key, or an unexpired Entra ID token; 0 none (calls to it fail with 503, its breaker untouched)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for _, r := range g.regions {
				up := int64(0)
				if r.CredentialUp() {
					up = 1
				}
				o.Observe(up, metric.WithAttributes(attribute.String("region", r.Name())))
			}
			return nil
		})); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}

	g.proxy, err = proxy.New(proxy.Config{
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
		Transport:             g.transport,
		TracerProvider:        tel.TracerProvider,
		MeterProvider:         tel.MeterProvider,
		Propagator:            tel.Propagator,
		Logger:                log,
		KeyName:               auth.KeyName,
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	probed := make([]health.Region, len(g.regions))
	statuses := make([]health.RegionStatus, len(g.regions))
	for i, r := range g.regions {
		probed[i], statuses[i] = r, r
	}
	g.prober, err = health.NewProber(health.ProberConfig{
		Regions:    probed,
		Interval:   cfg.HealthProbeInterval,
		Timeout:    cfg.UpstreamTimeout,
		APIVersion: cfg.AuthoringAPIVersion,
		Client:     &http.Client{Transport: g.transport},
		Logger:     log,
	})
	if err != nil {
		return nil, err
	}
	if cfg.ReplicationEnabled && len(cfg.Projects) > 0 {
		if g.worker, err = newWorker(cfg, g.transport, g.auth, tel, log); err != nil {
			return nil, err
		}
	}
	var replicationStatus func() any
	if g.worker != nil {
		canary := canaryState{Enabled: cfg.CanaryOff() == "", Off: cfg.CanaryOff()}
		replicationStatus = func() any { return map[string]any{"enabled": true, "canary": canary, "projects": g.worker.Status()} }
	} else {
		replicationStatus = func() any { return map[string]any{"enabled": false} }
	}
	g.checker = health.NewChecker(statuses, replicationStatus)
	running := currentBuild()
	g.checker.Build = running
	if _, err := meter.Int64ObservableGauge("gateway.build.info",
		metric.WithDescription("Always 1; the labels say which version runs (join on it in queries)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(1, metric.WithAttributes(attribute.String("version", running.Version),
				attribute.String("revision", running.Revision), attribute.String("goversion", running.GoVersion)))
			return nil
		})); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	warnConfiguration(cfg, deps.Environ, log)
	if g.rescue != nil {
		g.checker.JobRescue = func() any {
			return map[string]any{"enabled": true, "store": g.rescue.Status(),
				"after": cfg.JobRescueAfter.String(), "ttl": cfg.JobRescueTTL.String()}
		}
	}
	return g, nil
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

// canaryState is /status's replication.canary: whether the canary runs
// and, when it does not, why (config.Config.CanaryOff), so a canary alert
// that can never fire is seen.
type canaryState struct {
	Enabled bool   `json:"enabled"`
	Off     string `json:"off,omitempty"`
}

// newWorker builds the replication worker with a client per region. A
// canary that will not run is logged once here, for serving and
// replicate --once alike.
func newWorker(cfg *config.Config, transport http.RoundTripper, auth regionAuth, tel *telemetry.Telemetry, log *slog.Logger) (*replication.Worker, error) {
	if why := cfg.CanaryOff(); why != "" {
		log.Warn("replication canary off", "reason", why)
	}
	// Timeout bounds every request the clients send, the polls inside Wait
	// and the export download included, so a region that stops answering
	// fails the step instead of holding the project for the step timeout.
	httpClient := &http.Client{Transport: transport, Timeout: cfg.UpstreamTimeout}
	opts := api.ClientOptions{HTTPClient: httpClient, AuthoringAPIVersion: cfg.AuthoringAPIVersion}
	opts.Authorizer = auth.primary
	primary, err := api.NewClient(cfg.PrimaryEndpoint.String(), cfg.PrimaryKey, opts)
	if err != nil {
		return nil, fmt.Errorf("primary client: %w", err)
	}
	opts.Authorizer = auth.secondary
	secondary, err := api.NewClient(cfg.SecondaryEndpoint.String(), cfg.SecondaryKey, opts)
	if err != nil {
		return nil, fmt.Errorf("secondary client: %w", err)
	}
	rc := replication.Config{
		Primary:                 primary,
		Secondary:               secondary,
		PrimaryName:             cfg.PrimaryName,
		SecondaryName:           cfg.SecondaryName,
		Projects:                cfg.Projects,
		ProjectNames:            cfg.ProjectNames,
		DeploymentNames:         cfg.DeploymentNames,
		SecondaryContainer:      cfg.SecondaryContainer,
		Interval:                cfg.ReplicationInterval,
		RetryMin:                cfg.ReplicationRetryMin,
		CallTimeout:             cfg.UpstreamTimeout,
		AuthoringPostsPerMinute: cfg.AuthoringPostsPerMin,
		TracerProvider:          tel.TracerProvider,
		MeterProvider:           tel.MeterProvider,
		Logger:                  log,
	}
	if err := withDocuments(&rc, cfg, primary, secondary); err != nil {
		return nil, err
	}
	return replication.New(rc)
}

// Serve runs the gateway until ctx is done, then drains: readiness turns
// 503, in-flight requests finish within GATEWAY_DRAIN_TIMEOUT, background
// work stops, telemetry is flushed. It returns once everything stopped.
// A Gateway serves once.
func (g *Gateway) Serve(ctx context.Context) error {
	cfg, o, log := g.cfg, g.deps, g.log
	if o.MemoryLimit {
		defer setMemoryLimit(cfg, o.getenv, log)()
	}
	defer g.transport.CloseIdleConnections()
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := g.tel.Shutdown(flushCtx); err != nil {
			log.Warn("telemetry flush failed", "error", err)
		}
	}()

	ln, err := listen(o.Listener, cfg.Addr)
	if err != nil {
		return err
	}
	opsLn, err := listen(o.OpsListener, cfg.OpsAddr)
	if err != nil {
		_ = ln.Close()
		return err
	}
	limits := defaultServerLimits
	if o.limits != nil {
		limits = *o.limits
	}
	srv := limits.server(g.clientHandler(), log)
	opsSrv := limits.server(g.opsHandler(), log)

	runCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	group, gctx := errgroup.WithContext(runCtx)
	group.Go(func() error { return g.auth.run(gctx) })
	group.Go(func() error { return g.prober.Run(gctx) })
	group.Go(func() error { return g.proxy.Run(gctx) }) // after the drain: the followers of orphaned submits
	if g.worker != nil {
		group.Go(func() error {
			// Its first check runs once the first token request ended, not
			// before: a failure then is the credential's, and says so.
			_ = g.auth.wait(gctx)
			return g.worker.Run(gctx)
		})
	}
	for _, w := range g.keys.watchers {
		group.Go(func() error { return w.Run(gctx) })
	}
	if g.rescue != nil {
		defer g.rescue.Close() // after Run has returned (group.Wait below)
		group.Go(func() error { return g.rescue.Run(gctx) })
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }() // stopped by srv.Shutdown below
	opsErr := make(chan error, 1)
	go func() { opsErr <- opsSrv.Serve(opsLn) }() // stopped by opsSrv.Shutdown below
	log.Info("gateway serving", "addr", ln.Addr().String(), "ops_addr", opsLn.Addr().String(), "version", version,
		"regions", strings.Join([]string{cfg.PrimaryName, cfg.SecondaryName}, ","),
		"replication", g.worker != nil)
	if o.Ready != nil {
		o.Ready(ln.Addr().String(), opsLn.Addr().String())
	}

	var failure error
	select {
	case <-ctx.Done():
	case <-gctx.Done(): // a background part failed
	case err := <-serveErr:
		failure = fmt.Errorf("serve: %w", err)
	case err := <-opsErr:
		failure = fmt.Errorf("serve ops: %w", err)
		opsErr <- http.ErrServerClosed // reported; read again after the shutdown below
	}
	log.Info("gateway draining", "bound", cfg.DrainTimeout.String(), "delay", cfg.DrainDelay.String())
	g.checker.Drain()
	if d := cfg.DrainDelay; d > 0 && failure == nil {
		// Readiness first: keep accepting while load balancers see /readyz
		// answer 503 and take this replica out, then stop listening.
		delay := time.NewTimer(d)
		select {
		case <-delay.C:
		case err := <-serveErr:
			delay.Stop()
			failure = fmt.Errorf("serve: %w", err)
		}
	}
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.DrainTimeout)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		failure = errors.Join(failure, fmt.Errorf("drain: %w", err))
		_ = srv.Close()
	}
	if failure == nil {
		if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			failure = fmt.Errorf("serve: %w", err)
		}
	}
	// The ops port outlives the drain, so /metrics and /status show it.
	if err := opsSrv.Shutdown(drainCtx); err != nil {
		_ = opsSrv.Close()
	}
	if err := <-opsErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		failure = errors.Join(failure, fmt.Errorf("serve ops: %w", err))
	}
	stopBackground()
	if err := group.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		failure = errors.Join(failure, err)
	}
	log.Info("gateway stopped")
	return failure
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

// ReplicateOnce runs one replication pass (`gateway replicate --once`)
// and fails if a project did.
func ReplicateOnce(ctx context.Context, cfg *config.Config, o Deps) error {
	log := newLogger(cfg, o)
	warnConfiguration(cfg, o.Environ, log)
	if len(cfg.Projects) == 0 {
		return errors.New("replicate: PROJECT_NAMES is empty: nothing to replicate")
	}
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "nergateway-replicate", ServiceVersion: version, Getenv: o.getenv, Logger: log})
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(flushCtx)
	}()
	transport, err := upstreamTransport(cfg)
	if err != nil {
		return err
	}
	defer transport.CloseIdleConnections()
	auth, err := newRegionAuth(cfg, transport, o.getenv, log)
	if err != nil {
		return err
	}
	w, err := newWorker(cfg, transport, auth, tel, log)
	if err != nil {
		return err
	}
	// The token is renewed for as long as the run lasts (training can
	// outlive one); the run starts once the first renewal succeeded.
	renewCtx, stopRenewing := context.WithCancel(ctx)
	renewed := make(chan error, 1)
	go func() { renewed <- auth.run(renewCtx) }() // stopped below
	defer func() {
		stopRenewing()
		<-renewed
	}()
	if err := auth.wait(ctx); err != nil {
		return fmt.Errorf("replicate: %w", err)
	}
	err = w.SyncOnce(ctx)
	for _, p := range w.Status() {
		log.Info("replication result", "project", p.Project, "state", p.State)
	}
	if err != nil {
		return fmt.Errorf("replicate: %w", err)
	}
	return nil
}
