package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"nergateway/api"
	"nergateway/internal/inflight"
	"nergateway/internal/region"
	"nergateway/internal/reqrecord"
	"nergateway/internal/route"
	"nergateway/internal/transport"
	"nergateway/rescue"
)

// Defaults of Config; each applies when its field is zero.
const (
	defaultUpstreamTimeout = 10 * time.Second
	defaultMaxRequestBytes = 8 << 20
	// defaultOpenRetryAfter is the Retry-After for a region whose breaker
	// is open, when the region cannot say when it will half-open: the
	// default health-probe interval, the earliest a probe can close it.
	defaultOpenRetryAfter = 10 * time.Second
)

// Caps on an upstream answer the proxy buffers; they only stop a broken
// upstream from exhausting memory (the byte budget bounds all answers
// together). Azure's largest runtime answer (25 documents of results) is
// far below the first; an exported project (the authoring export result,
// up to 100,000 labelled documents) can be large, so authoring gets the api
// client's cap.
const (
	maxResponseBytes          = 64 << 20
	maxAuthoringResponseBytes = 256 << 20
)

// Config configures a Proxy. Regions is required; every other zero value
// has a default, stated per field.
type Config struct {
	// Regions in priority order: [0] is the primary (the only target of
	// authoring calls), [1] the secondary. At most two, because a job
	// token holds the owner's index in one bit.
	Regions []*region.Region
	// UpstreamTimeout bounds one attempt against one region, answer body
	// included; zero means 10s.
	UpstreamTimeout time.Duration
	// MaxRequestBytes caps a client's request body (413 above it); zero
	// means 8 MiB.
	MaxRequestBytes int64
	// MaxInflight bounds the requests served at once once their body is
	// in (GATEWAY_MAX_INFLIGHT; 503 beyond it); zero means no bound. The
	// body is read first (within the server's GATEWAY_BODY_TIMEOUT), so a
	// slow client costs its own connection and nothing else.
	MaxInflight int
	// Budget bounds the bytes of all buffered request and response bodies
	// together (GATEWAY_MAX_BUFFERED_BYTES; 503 beyond it); nil means no
	// bound.
	Budget *inflight.Budget
	// PublicURL is the gateway's base URL as clients reach it
	// (GATEWAY_PUBLIC_URL), written into operation-location and nextLink;
	// nil means the request's scheme and Host.
	PublicURL *url.URL
	// TrustForwardedHeaders makes the proxy take the scheme and host from
	// X-Forwarded-Proto and X-Forwarded-Host when PublicURL is nil. Only set
	// it behind a proxy that overwrites them: a client could otherwise steer
	// where its own polls go. False ignores them.
	TrustForwardedHeaders bool
	// ProjectNames and DeploymentNames map a primary name to the name the
	// same thing has in secondary regions (RoleSecondary). Requests to a
	// secondary are rewritten through them and its results mapped back.
	// Nil means the names are the same everywhere.
	ProjectNames, DeploymentNames map[string]string
	// Transport sends the upstream requests; nil means the gateway's one
	// pool to the regions (internal/transport: keep-alives, HTTP/2 where
	// the region offers it, dial and TLS timeouts, a cap per region, proxy
	// from the environment), as the wiring builds it.
	// It must not follow redirects (an http.RoundTripper does not).
	Transport http.RoundTripper
	// TracerProvider makes the per-attempt spans; nil means no tracing.
	TracerProvider trace.TracerProvider
	// MeterProvider makes the proxy's instruments; nil means no metrics.
	MeterProvider metric.MeterProvider
	// Propagator injects the trace context into upstream requests; nil
	// means W3C tracecontext.
	Propagator propagation.TextMapPropagator
	// Logger receives failovers (Info), unavailability (Warn) and one line
	// per attempt (Debug), never keys, document text or region hostnames;
	// nil discards.
	Logger *slog.Logger
	// OpenRetryAfter is the Retry-After sent while a needed region's
	// breaker is open and the region cannot say when it half-opens; zero
	// means 10s. BREAKER_OPEN_TIMEOUT is a good value.
	OpenRetryAfter time.Duration
	// KeyName names the client's key (never the key itself) for the
	// gateway.key.name label of the request metric, so operators see which
	// application sends what; nil leaves the label out.
	KeyName func(context.Context) string
	// Rescue keeps accepted jobs so that a job whose owner region has been
	// down for the store's After runs again in another region (package
	// rescue); nil means rescue is off and costs nothing.
	Rescue *rescue.Store
	// OrphanWait is how long a submit attempt the proxy gave up on is
	// still followed, so that a job the region creates anyway is cancelled
	// (SUBMIT_ORPHAN_WAIT; see Run); zero means DefaultOrphanWait.
	OrphanWait time.Duration
}

// Proxy serves the client-facing Azure Language API under /language/ by
// sending each call to the right region: new work to the first region that
// can take it, failing over within the request; polls and cancels to the
// job's owner; authoring to the primary. It is safe for concurrent use;
// its background work (following orphaned submits, cancelling them) runs
// only while Run runs.
type Proxy struct {
	regions        []*region.Region
	urls           []regionURL
	timeout        time.Duration
	maxBody        int64
	slots          *inflight.Slots
	budget         *inflight.Budget
	public         string // "" means per request
	trustForwarded bool
	toSecondary    [2]nameMap // projects, deployments
	fromSecondary  [2]nameMap
	transport      http.RoundTripper
	tracer         trace.Tracer
	prop           propagation.TextMapPropagator
	log            *slog.Logger
	m              *metrics
	owners         *ownerCache
	jobs           *lruCache[jobKey, jobMemo] // what calm answers say (calm.go)
	openRetryAfter time.Duration
	keyName        func(context.Context) string
	// legacyTokensUntil ends the acceptance of tokens without a check
	// (legacyToken): a job result's life after the proxy was built.
	legacyTokensUntil time.Time
	rescue            *rescue.Store // nil: rescue off
	orphans           orphans
	cm                cancelMetrics
}

// New validates cfg, applies its defaults and builds the Proxy.
func New(cfg Config) (*Proxy, error) {
	if len(cfg.Regions) == 0 {
		return nil, errors.New("proxy: no regions configured")
	}
	if len(cfg.Regions) > maxRegions {
		return nil, fmt.Errorf("proxy: %d regions configured, at most %d fit a job token", len(cfg.Regions), maxRegions)
	}
	p := &Proxy{
		regions:           cfg.Regions,
		timeout:           cmpOr(cfg.UpstreamTimeout, defaultUpstreamTimeout),
		maxBody:           cmpOr(cfg.MaxRequestBytes, defaultMaxRequestBytes),
		slots:             inflight.NewSlots(cfg.MaxInflight),
		budget:            cfg.Budget,
		trustForwarded:    cfg.TrustForwardedHeaders,
		transport:         cfg.Transport,
		prop:              cfg.Propagator,
		log:               cfg.Logger,
		owners:            newOwnerCache(ownerCacheSize, ownerCacheTTL),
		jobs:              newLRUCache[jobKey, jobMemo](jobMemorySize, jobMemoryTTL),
		openRetryAfter:    cmpOr(cfg.OpenRetryAfter, defaultOpenRetryAfter),
		keyName:           cfg.KeyName,
		legacyTokensUntil: time.Now().Add(ownerCacheTTL),
		rescue:            cfg.Rescue,
		orphans:           orphans{wait: cmpOr(cfg.OrphanWait, DefaultOrphanWait), max: maxFollowers, idle: make(chan *exchange)},
	}
	if p.timeout < 0 || p.maxBody < 0 || p.openRetryAfter < 0 || p.orphans.wait < 0 {
		return nil, errors.New("proxy: UpstreamTimeout, MaxRequestBytes, OpenRetryAfter and OrphanWait must not be negative")
	}
	for i, r := range cfg.Regions {
		if r == nil {
			return nil, fmt.Errorf("proxy: region %d is nil", i)
		}
		p.urls = append(p.urls, newRegionURL(r.Endpoint()))
	}
	if u := cfg.PublicURL; u != nil {
		if err := api.CheckEndpoint(u); err != nil {
			return nil, fmt.Errorf("proxy: PublicURL %w", err)
		}
		p.public = u.Scheme + "://" + u.Host + strings.TrimSuffix(u.EscapedPath(), "/")
	}
	if err := p.setNameMaps(cfg.ProjectNames, cfg.DeploymentNames); err != nil {
		return nil, err
	}
	if p.transport == nil {
		t, err := transport.New("") // no CA file to read: cannot fail
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		p.transport = t
	}
	if p.prop == nil {
		p.prop = propagation.TraceContext{}
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if err := p.instrument(cfg.TracerProvider, cfg.MeterProvider); err != nil {
		return nil, err
	}
	return p, nil
}

// setNameMaps sets the maps of project and deployment names between the
// primary and the secondary regions, both ways: a name maps to one name
// and back, and none is empty.
func (p *Proxy) setNameMaps(projects, deployments map[string]string) error {
	for i, m := range []map[string]string{projects, deployments} {
		for from, to := range m {
			if from == "" || to == "" {
				return errors.New("proxy: name maps must not hold empty names")
			}
		}
		inv, err := invert(m)
		if err != nil {
			return fmt.Errorf("proxy: name map: %w", err)
		}
		p.toSecondary[i], p.fromSecondary[i] = newNameMap(m), newNameMap(inv)
	}
	return nil
}

// instrument makes the proxy's tracer and instruments from tp and mp (nil:
// none), the per-region series at zero from the start.
func (p *Proxy) instrument(tp trace.TracerProvider, mp metric.MeterProvider) error {
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	p.tracer = tp.Tracer(meterName)
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	m, err := newMetrics(mp)
	if err != nil {
		return err
	}
	p.m = m
	if _, err := mp.Meter(meterName).Int64ObservableGauge("gateway.buffered_bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes of request and response bodies the gateway holds now (GATEWAY_MAX_BUFFERED_BYTES bounds them)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(p.budget.Used())
			return nil
		})); err != nil {
		return fmt.Errorf("proxy: creating instruments: %w", err)
	}
	names := make([]string, len(p.regions))
	for i, r := range p.regions {
		names[i] = r.Name()
	}
	m.zero(names)
	p.cm, err = newCancelMetrics(mp, names)
	return err
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// ServeHTTP serves one client call under /language/. The caller has
// authenticated the client already. The order is the point: everything
// checkable without a region first (route, method, id), then the body
// (bounded in time and bytes), and only then an in-flight slot, so a slow
// or lying client never holds a slot others need.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	res := reqrecord.From(ctx)
	c, err := p.newCall(r)
	if err == nil {
		err = p.readBody(w, c)
		defer c.freeBody()
	}
	if res != nil {
		res.Route = c.route.Name
		c.res = res
	}
	if c.route.Name == route.Job.Name || c.route.Name == route.Cancel.Name {
		c.setJobID(c.clientID)
	}
	if err != nil {
		p.finish(ctx, c, noRegion, outcomeOfLocal(err), res)
		p.writeError(w, r, err)
		return
	}
	if !p.slots.TryAcquire() {
		p.finish(ctx, c, noRegion, region.OutcomeOverloaded, res)
		inflight.WriteBusy(w, "The gateway is serving its maximum number of concurrent requests.")
		return
	}
	defer p.slots.Release()
	p.m.serving.Add(1)
	defer p.m.serving.Add(-1)
	p.serve(w, c, res)
}
