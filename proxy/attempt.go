package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"nergateway/api"
	"nergateway/internal/inflight"
	"nergateway/internal/region"
	"nergateway/internal/reqrecord"
	"nergateway/internal/route"
	"nergateway/internal/scrub"
)

// serve picks the regions, runs the attempt loop and answers the client.
func (p *Proxy) serve(w http.ResponseWriter, c *call, result *reqrecord.Result) {
	now := time.Now()
	// On the stack: both are at most maxRegions long and not kept.
	var viewBuf [maxRegions]regionView
	var orderBuf [maxRegions]int
	views := p.views(viewBuf[:0], c.scope)
	order, wait := p.regionOrder(orderBuf[:0], views, c, now)
	if len(order) == 0 && p.rescuable(c) && views[c.owner].State != region.StateClosed {
		// The owner's breaker keeps the call away: an outage since it
		// opened (a quota parked by a 429 is not one).
		p.regions[c.owner].Down(p.regions[c.owner].OpenedAt())
		served, retry := p.tryRescue(w, c, result)
		if served {
			return
		}
		if c.trial {
			order = append(order, c.owner) // it came back: try it for this job
		} else if retry > 0 {
			wait = min(wait, retry)
		}
	}
	if len(order) == 0 {
		if c.owner != noOwner && p.calm(w, c, unavailableReason(views[c.owner], now), wait, result) {
			return
		}
		p.unavailable(w, c, views, now, wait, result)
		return
	}

	res, idx, err := p.try(c.r.Context(), c, order, len(order) == len(p.regions))
	if result != nil {
		result.Attempts = c.attempts
	}
	if err != nil {
		p.noAnswer(w, c, idx, err, result)
		return
	}
	p.answered(w, c, idx, res, result)
}

// regionOrder is the regions to try for c, in order, from their views at
// now; when there is none, wait is when one may take it. A call whose
// owner is unknown (resolve) asks every region that is available.
func (p *Proxy) regionOrder(order []int, views []regionView, c *call, now time.Time) ([]int, time.Duration) {
	if !c.resolve {
		return selectRegions(order, views, now, c.owner, p.openRetryAfter)
	}
	for i, v := range views {
		if available(v, now) {
			order = append(order, i)
		}
	}
	if len(order) == 0 {
		return order, waitFor(views, now, p.openRetryAfter)
	}
	return order, 0
}

// noAnswer answers c when no region tried gave an answer to relay (err,
// from try): a rescue when the owner failed a poll of a rescuable job, a
// calm answer when the owner cannot answer for an unfinished job, and
// otherwise the failure.
func (p *Proxy) noAnswer(w http.ResponseWriter, c *call, idx int, err error, result *reqrecord.Result) {
	var ue *unavailableError
	if p.rescuable(c) && errors.As(err, &ue) && ue.last != nil && ue.last.v.Outcome.RegionFault() {
		// The owner failed this poll (the region's fault, not the client's
		// or the gateway's): that starts its outage, if nothing did before.
		p.regions[c.owner].Down(time.Now())
		served, retry := p.tryRescue(w, c, result)
		if served {
			return
		}
		if retry > 0 {
			ue.retryAfter = min(ue.retryAfter, retry)
		}
	}
	if errors.As(err, &ue) && ue.last != nil && p.calm(w, c, ue.last.v.Outcome, ue.retryAfter, result) {
		return
	}
	p.failed(w, c, idx, err, result)
}

// answered relays res, region idx's answer to c, and then keeps what it
// says about the job: rescue's part, and the job memory of calm answers.
func (p *Proxy) answered(w http.ResponseWriter, c *call, idx int, res *upstreamResponse, result *reqrecord.Result) {
	ctx := c.r.Context()
	defer res.body.Free()
	outcome := region.OutcomeOK
	if res.status >= 400 {
		outcome = region.OutcomeClientError
	}
	p.finish(ctx, c, p.regions[idx].Name(), outcome, result)
	head, headOK := pollHead(c, res)
	if p.rescue != nil {
		p.rescueAfterAnswer(ctx, c, idx, res, head, headOK)
	}
	if err := p.respond(w, c, idx, res); err != nil {
		if c.route.Name == route.Submit.Name && res.status == http.StatusAccepted {
			// The region took the job and the client gets an error instead.
			p.acceptedNotRelayed(ctx, c, idx, res.header.Get("Operation-Location"), string(outcomeOf(err)))
		}
		p.writeError(w, c.r, err)
	}
	// After respond: it hands out the submit's job id.
	p.noteJob(c, res, head, headOK, time.Now())
}

// unavailable answers a call no region can take now (every one it may go
// to has its breaker open, or its quota parked) with 503 and the wait.
func (p *Proxy) unavailable(w http.ResponseWriter, c *call, views []regionView, now time.Time, wait time.Duration, result *reqrecord.Result) {
	ctx := c.r.Context()
	o := region.OutcomeBreakerOpen
	if c.owner != noOwner {
		o = unavailableReason(views[c.owner], now)
	}
	owner := noRegion
	if c.owner != noOwner {
		owner = p.regions[c.owner].Name()
	}
	p.finish(ctx, c, owner, o, result)
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attribute.String("gateway.unavailable.reason", string(o)), attribute.String("gateway.unavailable.owner", owner))
	span.SetStatus(codes.Error, "no region can take the call: "+string(o))
	p.log.WarnContext(ctx, "no region can take the call",
		"route", c.route.Name, "owner", owner, "outcome", string(o), "retry_after_s", int(wait/time.Second))
	p.writeError(w, c.r, &unavailableError{retryAfter: wait})
}

// unavailableReason says why a region cannot be sent a call now: its quota
// parked, or its breaker open.
func unavailableReason(v regionView, now time.Time) region.Outcome {
	if v.ParkedUntil.After(now) {
		return region.OutcomeParked
	}
	return region.OutcomeBreakerOpen
}

// failed answers a call whose attempts gave no answer to relay; idx is the
// last region tried (-1 if none).
func (p *Proxy) failed(w http.ResponseWriter, c *call, idx int, err error, result *reqrecord.Result) {
	ctx := c.r.Context()
	name, o := noRegion, outcomeOf(err)
	if idx >= 0 {
		name = p.regions[idx].Name()
	}
	p.finish(ctx, c, name, o, result)
	if o != region.OutcomeCanceled {
		trace.SpanFromContext(ctx).SetAttributes(attribute.String("gateway.unavailable.reason", string(o)),
			attribute.String("gateway.unavailable.last_region", name))
		p.log.WarnContext(ctx, "no region answered", "route", c.route.Name, "last_region", name,
			"outcome", string(o), "cause", causeOf(err))
	}
	p.writeError(w, c.r, err)
}

// views appends to dst a snapshot of the regions for selection, as calls
// of scope see them.
func (p *Proxy) views(dst []regionView, scope region.Scope) []regionView {
	for _, r := range p.regions {
		v := regionView{State: r.State(), ParkedUntil: r.ParkedUntil(scope)}
		if v.State == region.StateOpen {
			v.OpenUntil = r.OpenUntil()
		}
		dst = append(dst, v)
	}
	return dst
}

// viewsOf snapshots the regions in order.
func (p *Proxy) viewsOf(scope region.Scope, order []int) []regionView {
	all := p.views(nil, scope)
	v := make([]regionView, 0, len(order))
	for _, i := range order {
		v = append(v, all[i])
	}
	return v
}

// try runs attempts over order until one gives an answer to relay. It
// returns that answer and the region that gave it, or the error to answer
// with and the last region tried (-1 if none). complete says order holds
// every region, which a passthrough id's 404 needs to be conclusive.
func (p *Proxy) try(ctx context.Context, c *call, order []int, complete bool) (*upstreamResponse, int, error) {
	var (
		last      *attemptError
		lastIdx   = -1
		faultSeen bool
	)
	for n, idx := range order {
		if last != nil {
			p.failover(ctx, c, lastIdx, idx, last.v.Outcome)
		}
		res, v := p.attempt(ctx, c, idx, n+1)
		switch v.Outcome {
		case region.OutcomeCanceled:
			return nil, idx, fmt.Errorf("%w: %w", errCanceled, context.Cause(ctx))
		case region.OutcomeOverloaded:
			// The gateway had no room for the answer: another region's
			// answer would not fit either.
			return nil, idx, &attemptError{region: p.regions[idx].Name(), n: n + 1, v: v}
		}
		if !v.Outcome.Relayable() {
			last, lastIdx, faultSeen = &attemptError{region: p.regions[idx].Name(), n: n + 1, v: v}, idx, true
			continue
		}
		if c.resolve {
			if res.status == http.StatusNotFound && n < len(order)-1 {
				// Not this region's job: ask the next one. Not a failover.
				res.body.Free()
				last, lastIdx = nil, idx
				continue
			}
			if res.status == http.StatusNotFound && (faultSeen || !complete) {
				// A region that could not answer may own the job: a 404 now
				// would tell the client its job is gone when it is not.
				res.body.Free()
				now := time.Now()
				return nil, idx, &unavailableError{retryAfter: waitFor(p.views(nil, c.scope), now, p.openRetryAfter)}
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
	ue := &unavailableError{retryAfter: waitFor(p.viewsOf(c.scope, order), now, p.openRetryAfter)}
	if last != nil {
		ue.last = last
	}
	return nil, lastIdx, ue
}

// failover records the move from region from to region to after an
// attempt ended with why: a span event, the metric, a log line.
func (p *Proxy) failover(ctx context.Context, c *call, from, to int, why region.Outcome) {
	f, t, w := p.regions[from].Name(), p.regions[to].Name(), string(why)
	trace.SpanFromContext(ctx).AddEvent("failover", trace.WithAttributes(
		attribute.String("gateway.failover.from", f),
		attribute.String("gateway.failover.to", t),
		attribute.String("gateway.failover.reason", w)))
	p.m.failover(ctx, f, t, w)
	p.log.InfoContext(ctx, "failover", "route", c.route.Name, "from", f, "to", t, "reason", w)
}

// upstreamResponse is a region's answer, held whole until the proxy has
// decided to relay it.
type upstreamResponse struct {
	status int
	header http.Header
	body   *inflight.Buffer
}

// attempt sends c to region idx once, under its own timeout (and its own
// span in a recorded trace), and returns the rulebook's verdict with the
// answer when it is to be relayed.
//
// The traced and logged parts are functions of their own: every request
// waits for its region below this frame, and their attribute lists would
// otherwise make each waiting stack larger.
func (p *Proxy) attempt(ctx context.Context, c *call, idx, n int) (*upstreamResponse, region.Verdict) {
	// An attempt is a span of its own only in a recorded trace: under an
	// unrecorded parent it would be unrecorded too, and cost allocations
	// for nothing.
	if trace.SpanFromContext(ctx).IsRecording() {
		return p.tracedAttempt(ctx, c, idx, n)
	}
	return p.measuredAttempt(ctx, c, idx, n)
}

// tracedAttempt is attempt under a client span. Its attributes are set in
// one call once the verdict is in: the span's attribute list is then
// allocated once, at its size.
func (p *Proxy) tracedAttempt(ctx context.Context, c *call, idx, n int) (*upstreamResponse, region.Verdict) {
	reg := p.regions[idx]
	ctx, span := p.tracer.Start(ctx, "proxy.attempt", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	c.apimRequestID = ""
	res, v := p.measuredAttempt(ctx, c, idx, n)
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs,
		// server.address is the region's name, never its host: dependency
		// graphs show the regions without a trace holding a hostname.
		attribute.String("gateway.region", reg.Name()),
		attribute.String("server.address", reg.Name()),
		attribute.Int("gateway.attempt", n),
		attribute.String("gateway.outcome", string(v.Outcome)),
		attribute.String("gateway.breaker.state", string(reg.State())))
	if v.Status != 0 {
		attrs = append(attrs, attribute.Int("http.response.status_code", v.Status))
	}
	if c.apimRequestID != "" {
		attrs = append(attrs, attribute.String("azure.apim_request_id", c.apimRequestID))
	}
	span.SetAttributes(attrs...)
	if !v.Outcome.Relayable() {
		span.SetStatus(codes.Error, string(v.Outcome))
	}
	return res, v
}

// measuredAttempt is attempt's round trip, timed and recorded: the
// Result, the attempt metric, the debug line.
func (p *Proxy) measuredAttempt(ctx context.Context, c *call, idx, n int) (*upstreamResponse, region.Verdict) {
	start := time.Now()
	res, v := p.roundTrip(ctx, c, idx)
	elapsed := time.Since(start)
	name := p.regions[idx].Name()
	if c.res != nil {
		c.res.Tried = append(c.res.Tried, reqrecord.Attempt{Region: name, Outcome: v.Outcome, Status: v.Status})
	}
	if v.Outcome != region.OutcomeBreakerOpen && v.Outcome != region.OutcomeParked && v.Outcome != region.OutcomeNoCredential {
		c.attempts++
		p.m.attempt(ctx, name, v.Outcome, elapsed.Seconds())
	}
	if p.log.Enabled(ctx, slog.LevelDebug) {
		p.logAttempt(ctx, c, name, n, v, elapsed)
	}
	return res, v
}

func (p *Proxy) logAttempt(ctx context.Context, c *call, name string, n int, v region.Verdict, elapsed time.Duration) {
	p.log.DebugContext(ctx, "attempt", "route", c.route.Name, "region", name, "attempt", n,
		"outcome", string(v.Outcome), "status", v.Status, "duration", elapsed, "cause", scrub.Cause(v.Cause))
}

// roundTrip is one attempt without the telemetry: admission (the call's
// quota scope not parked, the breaker), the request, the answer read
// whole, the rulebook's verdict, and the verdict applied to the region.
func (p *Proxy) roundTrip(ctx context.Context, c *call, idx int) (*upstreamResponse, region.Verdict) {
	reg := p.regions[idx]
	if until := reg.ParkedUntil(c.scope); until.After(time.Now()) {
		return nil, region.Verdict{Outcome: region.OutcomeParked, Scope: c.scope}
	}
	var (
		a   *region.Attempt
		err error
	)
	if c.trial {
		a = reg.BeginTrial()
	} else if a, err = reg.Begin(); err != nil {
		return nil, region.Verdict{Outcome: region.OutcomeBreakerOpen, Scope: c.scope, Cause: err}
	}
	actx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var x *exchange // a submit runs apart from its attempt, so it can be followed (orphans.go)
	reqCtx := actx
	if c.route.Name == route.Submit.Name {
		if x = p.orphans.newExchange(c, idx, p.timeout); x != nil {
			reqCtx = x.ctx
		}
	}
	req := p.outRequest(reqCtx, c, idx, x)
	if trace.SpanContextFromContext(actx).IsValid() {
		// Only a request in a trace (sampled here, or a client's) carries
		// trace context to the region.
		p.prop.Inject(actx, propagation.HeaderCarrier(req.Header))
	}

	limit := int64(maxResponseBytes)
	if c.route.Name == route.Authoring.Name {
		limit = maxAuthoringResponseBytes
	}
	var (
		resp *http.Response
		res  *upstreamResponse
	)
	err = reg.Authorize(req) // never waits; without a valid credential the rulebook judges no_credential, never charged to the region
	switch {
	case x != nil && err != nil:
		p.unused(x)
	case x != nil:
		resp, res, err = p.sendSubmit(actx, x, req, limit)
	case err == nil:
		resp, err = p.transport.RoundTrip(req)
		if err == nil {
			res, err = p.readResponse(resp, limit)
		}
	}
	answer := region.Answer{Scope: c.scope}
	if resp != nil {
		answer.Status, answer.Header = resp.StatusCode, resp.Header
		if trace.SpanFromContext(ctx).IsRecording() {
			// What Azure support asks for, failed answers included; the
			// attempt's span records it (tracedAttempt).
			c.apimRequestID = resp.Header.Get(api.RequestIDHeader)
		}
	}
	if err == nil {
		answer.Links = p.foreignLinks(idx, res.body.Bytes())
	}
	answer.Err, answer.Canceled = err, ctx.Err() != nil
	v := reg.Judge(answer, time.Now())
	a.Finish(v)
	if !v.Outcome.Relayable() {
		if res != nil {
			res.body.Free()
		}
		if answer.Status == http.StatusAccepted && c.route.Name == route.Submit.Name {
			// The region took the job and the client will not get it.
			p.acceptedNotRelayed(ctx, c, idx, answer.Header.Get("Operation-Location"), string(v.Outcome))
		}
		return nil, v
	}
	return res, v
}

// outRequest builds attempt's request: a fresh body reader and a fresh copy
// of the allowed headers each time, so every attempt is the same request.
// A submit that may be followed (x not nil) sends its body through x.
func (p *Proxy) outRequest(ctx context.Context, c *call, idx int, x *exchange) *http.Request {
	reg := p.regions[idx]
	ep := reg.Endpoint()
	u := &url.URL{Scheme: ep.Scheme, Host: ep.Host, Path: strings.TrimSuffix(ep.Path, "/") + c.path, RawQuery: c.r.URL.RawQuery}
	if c.rawPath != "" {
		u.RawPath = p.urls[idx].path + c.rawPath
	}
	h := upstreamHeader(c.r.Header)
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
	case x != nil:
		x.sends(req, body)
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
		(c.route.Name != route.Submit.Name && c.route.Name != route.Analyze.Name) {
		return c.bodyBytes()
	}
	if !c.mappedDone {
		c.mapped, c.mappedDone = mapNames(c.bodyBytes(), requestNamePaths, p.toSecondary[0], p.toSecondary[1]), true
	}
	return c.mapped
}

// readResponse reads an answer whole (the decision to relay it, and its
// rewriting, need all of it) into a buffer from the byte budget, and
// closes its body. An answer over limit (or over the whole budget) is
// region.ErrAnswerTooLarge; one the budget cannot hold now is
// region.ErrOverloaded.
func (p *Proxy) readResponse(resp *http.Response, limit int64) (*upstreamResponse, error) {
	defer resp.Body.Close()
	buf := p.budget.NewBuffer(limit, resp.ContentLength)
	_, err := buf.ReadFrom(resp.Body)
	switch {
	case errors.Is(err, inflight.ErrTooLarge):
		err = fmt.Errorf("%w: %w", region.ErrAnswerTooLarge, err)
	case errors.Is(err, inflight.ErrOverBudget):
		err = fmt.Errorf("%w: %w", region.ErrOverloaded, err)
	}
	if err != nil {
		buf.Free()
		return nil, err
	}
	return &upstreamResponse{status: resp.StatusCode, header: resp.Header, body: buf}, nil
}

// linkPaths are the body members that hold a URL a client follows:
// nextLink (job result pages, authoring lists) and resultUrl (an authoring
// export's result).
var linkPaths = []jsonPath{{"nextLink"}, {"resultUrl"}}

// foreignLinks returns the links of an answer's body for the rulebook to
// check, when there may be one that is not the region's: a body in which
// every "://" (or its JSON escape ":\/\/") starts the region's own URL, and
// that holds no \u escape that could spell one, is not scanned at all.
func (p *Proxy) foreignLinks(idx int, body []byte) []string {
	u := p.urls[idx]
	n := bytes.Count(body, []byte("://")) + bytes.Count(body, []byte(`:\/\/`))
	if n == bytes.Count(body, u.prefixBytes)+bytes.Count(body, u.prefixEscaped) && !bytes.Contains(body, []byte(`\u`)) {
		return nil
	}
	var links []string
	_, _, _ = rewriteJSONStrings(body, linkPaths, func(_ int, v []byte) ([]byte, bool) {
		links = append(links, string(v))
		return nil, false
	})
	return links
}
