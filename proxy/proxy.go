package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"nergateway/api"
	"nergateway/internal/region"
)

// Defaults of Config; each applies when its field is zero.
const (
	DefaultUpstreamTimeout = 10 * time.Second
	DefaultMaxRequestBytes = 8 << 20
	// DefaultOpenRetryAfter is the Retry-After for a region whose breaker
	// is open, when the region cannot say when it will half-open: the
	// default health-probe interval, the earliest a probe can close it.
	DefaultOpenRetryAfter = 10 * time.Second
)

// Caps on an upstream answer the proxy buffers; they only stop a broken
// upstream from exhausting memory. Azure's largest runtime answer (25
// documents of results) is far below the first; an exported project (the
// authoring export result, up to 100,000 labelled documents) can be large,
// so authoring gets the api client's cap.
const (
	maxResponseBytes          = 64 << 20
	maxAuthoringResponseBytes = 256 << 20
)

// Route labels, as the gateway.requests metric spells them.
const (
	RouteSubmit    = "submit"
	RouteJob       = "job"
	RouteCancel    = "cancel"
	RouteAnalyze   = "analyze"
	RouteAuthoring = "authoring"
	routeUnknown   = "unknown"
)

// Config configures a Proxy. Regions is required; every other zero value
// has a default, stated per field.
type Config struct {
	// Regions in priority order: [0] is the primary (the only target of
	// authoring calls), [1] the secondary. At most MaxRegions, because a
	// job token holds the owner's index in one hex digit.
	Regions []*region.Region
	// UpstreamTimeout bounds one attempt against one region, answer body
	// included; zero means DefaultUpstreamTimeout (10s).
	UpstreamTimeout time.Duration
	// MaxRequestBytes caps a client's request body (413 above it); zero
	// means DefaultMaxRequestBytes (8 MiB).
	MaxRequestBytes int64
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
	// Transport sends the upstream requests; nil means one tuned
	// *http.Transport shared by all regions (keep-alives, HTTP/2 where the
	// region offers it, dial and TLS timeouts, proxy from the environment).
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
	// means DefaultOpenRetryAfter. BREAKER_OPEN_TIMEOUT is a good value.
	OpenRetryAfter time.Duration
}

// Proxy serves the client-facing Azure Language API under /language/ by
// sending each call to the right region: new work to the first region that
// can take it, failing over within the request; polls and cancels to the
// job's owner; authoring to the primary. It is safe for concurrent use and
// owns no goroutines.
type Proxy struct {
	regions        []*region.Region
	urls           []regionURL
	timeout        time.Duration
	maxBody        int64
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
	openRetryAfter time.Duration
	bufs           sync.Pool // *bytes.Buffer for upstream answers
	outs           sync.Pool // *[]byte for rewritten bodies
}

// New validates cfg, applies its defaults and builds the Proxy.
func New(cfg Config) (*Proxy, error) {
	if len(cfg.Regions) == 0 {
		return nil, errors.New("proxy: no regions configured")
	}
	if len(cfg.Regions) > MaxRegions {
		return nil, fmt.Errorf("proxy: %d regions configured, at most %d fit a job token", len(cfg.Regions), MaxRegions)
	}
	p := &Proxy{
		regions:        cfg.Regions,
		timeout:        cmpOr(cfg.UpstreamTimeout, DefaultUpstreamTimeout),
		maxBody:        cmpOr(cfg.MaxRequestBytes, DefaultMaxRequestBytes),
		trustForwarded: cfg.TrustForwardedHeaders,
		transport:      cfg.Transport,
		prop:           cfg.Propagator,
		log:            cfg.Logger,
		owners:         newOwnerCache(ownerCacheSize, ownerCacheTTL),
		openRetryAfter: cmpOr(cfg.OpenRetryAfter, DefaultOpenRetryAfter),
	}
	if p.timeout < 0 || p.maxBody < 0 || p.openRetryAfter < 0 {
		return nil, errors.New("proxy: UpstreamTimeout, MaxRequestBytes and OpenRetryAfter must not be negative")
	}
	for i, r := range cfg.Regions {
		if r == nil {
			return nil, fmt.Errorf("proxy: region %d is nil", i)
		}
		p.urls = append(p.urls, newRegionURL(r.Endpoint()))
	}
	if u := cfg.PublicURL; u != nil {
		if (u.Scheme != "http" && u.Scheme != "https") || !validHost(u.Host) || strings.ContainsAny(u.Path, "\"\\?#") || u.RawQuery != "" {
			return nil, errors.New("proxy: PublicURL must be an absolute http(s) URL without query")
		}
		p.public = u.Scheme + "://" + u.Host + strings.TrimSuffix(u.EscapedPath(), "/")
	}
	for i, m := range []map[string]string{cfg.ProjectNames, cfg.DeploymentNames} {
		for from, to := range m {
			if from == "" || to == "" {
				return nil, errors.New("proxy: name maps must not hold empty names")
			}
		}
		inv, err := invert(m)
		if err != nil {
			return nil, fmt.Errorf("proxy: name map: %w", err)
		}
		p.toSecondary[i], p.fromSecondary[i] = newNameMap(m), newNameMap(inv)
	}
	if p.transport == nil {
		p.transport = newTransport()
	}
	if p.prop == nil {
		p.prop = propagation.TraceContext{}
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	tp := cfg.TracerProvider
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	p.tracer = tp.Tracer(meterName)
	mp := cfg.MeterProvider
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	m, err := newMetrics(mp)
	if err != nil {
		return nil, err
	}
	p.m = m
	return p, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// newTransport is the default transport: connections to a region are
// reused (two regions, many concurrent requests each), HTTP/2 is used where
// Azure offers it, and every phase before the answer has its own bound so
// a stuck dial fails well before UpstreamTimeout would.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// call is one client request on its way through the proxy.
type call struct {
	r     *http.Request
	route string
	// clientID is the job id as the client sent it; upstreamID the owner's
	// own id (the same for passthrough ids).
	clientID, upstreamID string
	// owner is the region that must answer, or noOwner.
	owner int
	// resolve means the owner of a passthrough id is unknown: regions are
	// asked in priority order until one does not answer 404.
	resolve bool
	// path and rawPath are the upstream path after the endpoint's own.
	path, rawPath string
	body          []byte
	mapped        []byte // body with secondary names, made on first need
	mappedDone    bool
	public        string // the gateway's base URL for this request
	publicHost    string // its host[:port]
}

// ServeHTTP serves one client call under /language/. The caller has
// authenticated the client already.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p.m.inflight.Add(ctx, 1)
	defer p.m.inflight.Add(ctx, -1)

	c, err := p.newCall(w, r)
	if err != nil {
		route := routeUnknown
		if c != nil {
			route = c.route
		}
		p.m.request(ctx, route, noRegion, outcomeOfLocal(err))
		p.writeError(w, r, err)
		return
	}
	p.serve(w, c)
}

// outcomeOfLocal is the request outcome of an answer made without trying a
// region.
func outcomeOfLocal(err error) Outcome {
	if errors.Is(err, ErrCanceled) {
		return OutcomeCanceled
	}
	return OutcomeClientError
}

// newCall routes r and checks everything that can be checked without a
// region: path, method, job id, body size, the public URL.
func (p *Proxy) newCall(w http.ResponseWriter, r *http.Request) (*call, error) {
	c := &call{r: r, owner: noOwner, route: routeUnknown}
	path := r.URL.Path
	switch {
	case path == api.JobsPath:
		c.route, c.path = RouteSubmit, api.JobsPath
		if r.Method != http.MethodPost {
			return c, methodNotAllowed(http.MethodPost)
		}
	case strings.HasPrefix(path, api.JobsPath+"/"):
		id, cancel := strings.CutSuffix(path[len(api.JobsPath)+1:], api.CancelSuffix)
		c.route, c.clientID = RouteJob, id
		if cancel {
			c.route = RouteCancel
		}
		if !validJobID(id) {
			return c, notFound("The job id is not one this gateway issued.")
		}
		if err := p.resolveOwner(c); err != nil {
			return c, err
		}
		c.path = api.JobsPath + "/" + c.upstreamID
		if cancel {
			c.path += api.CancelSuffix
			if r.Method != http.MethodPost {
				return c, methodNotAllowed(http.MethodPost)
			}
		} else if r.Method != http.MethodGet {
			return c, methodNotAllowed(http.MethodGet)
		}
	case path == api.SyncAnalyzePath:
		c.route, c.path = RouteAnalyze, api.SyncAnalyzePath
		if r.Method != http.MethodPost {
			return c, methodNotAllowed(http.MethodPost)
		}
	case strings.HasPrefix(path, api.AuthoringPrefix):
		c.route, c.owner = RouteAuthoring, 0
		if !cleanPath(path) {
			return c, notFound("The path is not an Azure Language path.")
		}
		c.path, c.rawPath = path, r.URL.RawPath
	default:
		return c, notFound("The path is not an Azure Language path this gateway serves.")
	}
	var err error
	if c.public, err = p.publicBase(r); err != nil {
		return c, err
	}
	c.publicHost = hostOf(c.public)
	if c.body, err = p.readBody(w, r); err != nil {
		return c, err
	}
	return c, nil
}

// resolveOwner finds the region that owns c.clientID: a token names it, the
// owner cache may know a passthrough id, and otherwise the regions will be
// asked (c.resolve).
func (p *Proxy) resolveOwner(c *call) error {
	if idx, ok := p.owners.get(c.clientID, time.Now()); ok && idx < len(p.regions) {
		c.owner, c.upstreamID = idx, c.clientID
		return nil
	}
	if up, idx, ok := decodeToken(c.clientID); ok {
		if idx >= len(p.regions) {
			return notFound("The job id does not name a region of this gateway.")
		}
		c.owner, c.upstreamID = idx, up
		return nil
	}
	c.upstreamID, c.resolve = c.clientID, true
	return nil
}

func notFound(msg string) error {
	return &localError{status: http.StatusNotFound, code: api.CodeNotFound, msg: msg}
}

func methodNotAllowed(allow string) error {
	return &localError{status: http.StatusMethodNotAllowed, code: api.CodeInvalidRequest,
		msg: "The method is not allowed on this path; use " + allow + ".", allow: allow}
}

// cleanPath rejects dot segments, so an authoring path forwarded as is
// cannot climb out of /language/authoring/.
func cleanPath(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return !strings.ContainsAny(p, "\r\n\x00")
}

// publicBase is the gateway's base URL as this client sees it.
func (p *Proxy) publicBase(r *http.Request) (string, error) {
	if p.public != "" {
		return p.public, nil
	}
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if p.trustForwarded {
		if v := strings.ToLower(firstValue(r.Header.Get("X-Forwarded-Proto"))); v == "http" || v == "https" {
			scheme = v
		}
		if v := firstValue(r.Header.Get("X-Forwarded-Host")); v != "" && validHost(v) {
			host = v
		}
	}
	if !validHost(host) {
		return "", &localError{status: http.StatusBadRequest, code: api.CodeInvalidRequest, msg: "The request's Host header is missing or not a host name."}
	}
	return scheme + "://" + host, nil
}

// hostOf is the host[:port] of a base URL built by publicBase.
func hostOf(base string) string {
	_, rest, _ := strings.Cut(base, "://")
	host, _, _ := strings.Cut(rest, "/")
	return host
}

// firstValue is the first element of a comma-separated header: the one the
// client-facing proxy wrote.
func firstValue(v string) string {
	v, _, _ = strings.Cut(v, ",")
	return strings.TrimSpace(v)
}

// validHost accepts host[:port] made of the characters a DNS name, an IPv4
// or a bracketed IPv6 address uses, so the value can go into a URL, a
// header and a JSON string without escaping.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !continuesHost(c) && c != '[' && c != ']' {
			return false
		}
	}
	return true
}

// readBody buffers the request body once, so every attempt can send it
// again from the start. Above MaxRequestBytes the client gets 413.
func (p *Proxy) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	tooLarge := &localError{status: http.StatusRequestEntityTooLarge, code: api.CodeRequestTooLarge,
		msg: "The request body is larger than " + strconv.FormatInt(p.maxBody, 10) + " bytes."}
	if r.ContentLength > p.maxBody {
		return nil, tooLarge
	}
	size := int64(512)
	if r.ContentLength > 0 {
		size = r.ContentLength + 1 // +1 so ReadFrom sees EOF without growing
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, p.maxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge
	case err != nil && r.Context().Err() != nil:
		return nil, fmt.Errorf("%w: reading the body: %w", ErrCanceled, err)
	case err != nil:
		return nil, &localError{status: http.StatusBadRequest, code: api.CodeInvalidRequest, msg: "The request body could not be read."}
	}
	return buf.Bytes(), nil
}

// serve runs the attempt loop and answers the client.
func (p *Proxy) serve(w http.ResponseWriter, c *call) {
	ctx := c.r.Context()
	now := time.Now()
	views := p.views(now)
	var order []int
	var wait time.Duration
	if c.resolve {
		for i, v := range views {
			if available(v, now) {
				order = append(order, i)
			}
		}
		if len(order) == 0 {
			wait = waitFor(views, now, p.openRetryAfter)
		}
	} else {
		order, wait = selectRegions(views, now, c.owner, p.openRetryAfter)
	}
	if len(order) == 0 {
		o := OutcomeBreakerOpen
		if c.owner != noOwner && views[c.owner].ParkedUntil.After(now) {
			o = OutcomeParked
		}
		owner := noRegion
		if c.owner != noOwner {
			owner = p.regions[c.owner].Name()
		}
		p.m.request(ctx, c.route, owner, o)
		p.log.WarnContext(ctx, "no region can take the call",
			"route", c.route, "owner", owner, "retry_after_s", int(wait/time.Second))
		p.writeError(w, c.r, &unavailableError{retryAfter: wait})
		return
	}

	res, idx, err := p.try(ctx, c, order, len(order) == len(p.regions))
	if err != nil {
		name := noRegion
		if idx >= 0 {
			name = p.regions[idx].Name()
		}
		p.m.request(ctx, c.route, name, outcomeOf(err))
		if !errors.Is(err, ErrCanceled) {
			p.log.WarnContext(ctx, "no region answered", "route", c.route, "last_region", name,
				"outcome", string(outcomeOf(err)), "cause", p.safeCause(err))
		}
		p.writeError(w, c.r, err)
		return
	}
	defer p.putBuf(res.body)
	outcome := OutcomeOK
	if res.status >= 400 {
		outcome = OutcomeClientError
	}
	p.m.request(ctx, c.route, p.regions[idx].Name(), outcome)
	p.respond(w, c, idx, res)
}

// views snapshots the regions for selection.
func (p *Proxy) views(now time.Time) []regionView {
	v := make([]regionView, len(p.regions))
	for i, r := range p.regions {
		v[i] = regionView{State: r.State(), ParkedUntil: r.ParkedUntil()}
		if ou, ok := any(r).(interface{ OpenUntil() time.Time }); ok && v[i].State == region.StateOpen {
			v[i].OpenUntil = ou.OpenUntil()
		}
	}
	return v
}

// try runs attempts over order until one gives an answer to relay. It
// returns that answer and the region that gave it, or the error to answer
// with and the last region tried (-1 if none). complete says order holds
// every region, which a passthrough id's 404 needs to be conclusive.
func (p *Proxy) try(ctx context.Context, c *call, order []int, complete bool) (*upstreamResponse, int, error) {
	var (
		last      error
		lastIdx   = -1
		faultSeen bool
	)
	reqSpan := trace.SpanFromContext(ctx)
	for n, idx := range order {
		if last != nil {
			from, to, why := p.regions[lastIdx].Name(), p.regions[idx].Name(), reason(last)
			reqSpan.AddEvent("failover", trace.WithAttributes(
				attribute.String("gateway.failover.from", from),
				attribute.String("gateway.failover.to", to),
				attribute.String("gateway.failover.reason", why)))
			p.m.failover(ctx, from, to, why)
			p.log.InfoContext(ctx, "failover", "route", c.route, "from", from, "to", to, "reason", why)
		}
		res, err := p.attempt(ctx, c, idx, n+1)
		if err != nil {
			if errors.Is(err, ErrCanceled) {
				return nil, idx, err
			}
			last, lastIdx, faultSeen = err, idx, true
			continue
		}
		if c.resolve {
			if res.status == http.StatusNotFound && n < len(order)-1 {
				// Not this region's job: ask the next one. Not a failover.
				p.putBuf(res.body)
				last, lastIdx = nil, idx
				continue
			}
			if res.status == http.StatusNotFound && (faultSeen || !complete) {
				// A region that could not answer may own the job: a 404 now
				// would tell the client its job is gone when it is not.
				p.putBuf(res.body)
				return nil, idx, &unavailableError{retryAfter: waitFor(p.views(time.Now()), time.Now(), p.openRetryAfter)}
			}
			if res.status < 300 {
				// Only a success proves ownership: a 400 (say, a bad
				// api-version) says nothing about where the job lives.
				p.owners.put(c.clientID, idx, time.Now())
			}
		}
		return res, idx, nil
	}
	now := time.Now()
	return nil, lastIdx, &unavailableError{retryAfter: waitFor(p.viewsOf(order, now), now, p.openRetryAfter), last: last}
}

// viewsOf snapshots the regions in order.
func (p *Proxy) viewsOf(order []int, now time.Time) []regionView {
	all := p.views(now)
	v := make([]regionView, 0, len(order))
	for _, i := range order {
		v = append(v, all[i])
	}
	return v
}

// upstreamResponse is a region's answer, held whole until the proxy has
// decided to relay it.
type upstreamResponse struct {
	status int
	header http.Header
	body   *bytes.Buffer // from p.bufs
}

// attempt sends c to region idx once, under its own span and timeout, and
// reports the outcome to the region's breaker. A nil error means res is an
// answer to relay (2xx-3xx, or a client error).
func (p *Proxy) attempt(ctx context.Context, c *call, idx, n int) (*upstreamResponse, error) {
	reg := p.regions[idx]
	ctx, span := p.tracer.Start(ctx, "proxy.attempt", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("gateway.region", reg.Name()), attribute.Int("gateway.attempt", n)))
	defer span.End()
	start := time.Now()
	res, outcome, err := p.roundTrip(ctx, c, idx)
	elapsed := time.Since(start)

	if span.IsRecording() {
		span.SetAttributes(attribute.String("gateway.outcome", string(outcome)),
			attribute.String("gateway.breaker.state", string(reg.State())))
		if status := statusOf(res, err); status != 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", status))
		}
		if err != nil {
			span.SetStatus(codes.Error, p.safeCause(err))
		}
	}
	if outcome != OutcomeBreakerOpen && outcome != OutcomeParked {
		p.m.attempt(ctx, reg.Name(), outcome, elapsed.Seconds())
	}
	if p.log.Enabled(ctx, slog.LevelDebug) {
		p.log.DebugContext(ctx, "attempt", "route", c.route, "region", reg.Name(), "attempt", n,
			"outcome", string(outcome), "status", statusOf(res, err), "duration", elapsed, "cause", p.safeCause(err))
	}
	if err != nil {
		return nil, &AttemptError{Region: reg.Name(), Attempt: n, Err: err}
	}
	return res, nil
}

func statusOf(res *upstreamResponse, err error) int {
	if res != nil {
		return res.status
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}

// roundTrip is one attempt without the telemetry: admission (parking,
// breaker), the request, the answer read whole, classification, and the
// verdict reported to the breaker.
func (p *Proxy) roundTrip(ctx context.Context, c *call, idx int) (*upstreamResponse, Outcome, error) {
	reg := p.regions[idx]
	if until := reg.ParkedUntil(); until.After(time.Now()) {
		return nil, OutcomeParked, &ParkedError{Until: until}
	}
	a, err := reg.Begin()
	if err != nil {
		return nil, OutcomeBreakerOpen, err
	}
	actx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req := p.outRequest(actx, c, idx)
	p.prop.Inject(actx, propagation.HeaderCarrier(req.Header))

	resp, err := p.transport.RoundTrip(req)
	var res *upstreamResponse
	if err == nil {
		limit := int64(maxResponseBytes)
		if c.route == RouteAuthoring {
			limit = maxAuthoringResponseBytes
		}
		res, err = p.readResponse(resp, limit)
	}
	outcome, err := classify(ctx, resp, err, time.Now())
	switch outcome {
	case OutcomeOK, OutcomeClientError:
		a.Succeed()
	case OutcomeCanceled:
		a.Release()
	case OutcomeStatus429:
		// The region is healthy but busy: keep calls away for a while
		// without counting it as a failure.
		a.Release()
		var se *StatusError
		if errors.As(err, &se) {
			reg.Park(time.Now().Add(se.RetryAfter))
		}
	default:
		a.Fail(reason(err))
	}
	if err != nil {
		if res != nil {
			p.putBuf(res.body)
		}
		return nil, outcome, err
	}
	return res, outcome, nil
}

// outRequest builds attempt's request: a fresh body reader and a fresh copy
// of the headers each time, so every attempt is the same request.
func (p *Proxy) outRequest(ctx context.Context, c *call, idx int) *http.Request {
	reg := p.regions[idx]
	ep := reg.Endpoint()
	u := &url.URL{Scheme: ep.Scheme, Host: ep.Host, Path: strings.TrimSuffix(ep.Path, "/") + c.path, RawQuery: c.r.URL.RawQuery}
	if c.rawPath != "" {
		u.RawPath = p.urls[idx].path + c.rawPath
	}
	h := upstreamHeader(c.r.Header)
	h.Set(api.SubscriptionKeyHeader, reg.Key().Reveal())
	req := &http.Request{
		Method:     c.r.Method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Host:       u.Host,
	}
	body := p.bodyFor(c, idx)
	switch {
	case len(body) > 0:
		req.ContentLength = int64(len(body))
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	case c.r.Method == http.MethodPost || c.r.Method == http.MethodPut || c.r.Method == http.MethodPatch:
		req.Body = http.NoBody
		req.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
	return req.WithContext(ctx)
}

// bodyFor is the request body as region idx must receive it: unchanged,
// except for secondary regions where a name mapping applies.
func (p *Proxy) bodyFor(c *call, idx int) []byte {
	if p.regions[idx].Role() != region.RoleSecondary || (p.toSecondary[0].empty() && p.toSecondary[1].empty()) ||
		(c.route != RouteSubmit && c.route != RouteAnalyze) {
		return c.body
	}
	if !c.mappedDone {
		c.mapped, c.mappedDone = mapNames(c.body, requestNamePaths, p.toSecondary[0], p.toSecondary[1]), true
	}
	return c.mapped
}

// readResponse reads an answer whole (the decision to relay it, and its
// rewriting, need all of it) and closes its body.
func (p *Proxy) readResponse(resp *http.Response, limit int64) (*upstreamResponse, error) {
	defer resp.Body.Close()
	buf := p.getBuf()
	if resp.ContentLength > 0 && resp.ContentLength <= limit {
		buf.Grow(int(resp.ContentLength) + 1)
	}
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
	if err == nil && int64(buf.Len()) > limit {
		err = errTooLarge
	}
	if err != nil {
		p.putBuf(buf)
		return nil, err
	}
	return &upstreamResponse{status: resp.StatusCode, header: resp.Header, body: buf}, nil
}

func (p *Proxy) getBuf() *bytes.Buffer {
	if b, ok := p.bufs.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

// putBuf returns b to the pool unless it grew large: one huge answer must
// not pin its memory for the process's life.
func (p *Proxy) putBuf(b *bytes.Buffer) {
	if b == nil || b.Cap() > 1<<20 {
		return
	}
	b.Reset()
	p.bufs.Put(b)
}

// writeError answers the client with a gateway-made error in Azure's shape
// (through errorResponse, the one mapping from failures to statuses).
func (p *Proxy) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, e, retry := errorResponse(err)
	if status == statusClientClosed {
		// Nobody is listening; the status is for access logs.
		w.WriteHeader(status)
		return
	}
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(retry/time.Second)))
	}
	var le *localError
	if errors.As(err, &le) && le.allow != "" {
		w.Header().Set("Allow", le.allow)
	}
	api.WriteError(w, status, e)
}
