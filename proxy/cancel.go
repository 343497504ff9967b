package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"nergateway/api"
	"nergateway/internal/scrub"
)

// The gateway cancels copies of a job that no client will ever read: the
// duplicate a region created for a submit the gateway gave up on
// (orphans.go), and the first copy of a rescued job once its region
// answers again (originals.go). Both go through cancelJob, the one way the
// gateway itself cancels a job, and are counted per region and outcome.

// Outcomes of gateway_orphan_jobs_total.
const (
	orphanCancelled    = "cancelled"     // the region accepted the job; the gateway cancelled it
	orphanCancelFailed = "cancel_failed" // the region accepted the job; the cancel failed
	orphanNotCreated   = "not_created"   // the region answered without accepting the job
	orphanUnanswered   = "unanswered"    // no answer within SUBMIT_ORPHAN_WAIT: unknown
	orphanDropped      = "dropped"       // followers were full, or the gateway stopped
)

// Outcomes of gateway_rescued_originals_total.
const (
	originalCancelled       = "cancelled"
	originalAlreadyFinished = "already_finished" // finished, or gone, before its region answered again
	originalCancelFailed    = "cancel_failed"
)

var (
	orphanOutcomes   = []string{orphanCancelled, orphanCancelFailed, orphanNotCreated, orphanUnanswered, orphanDropped}
	originalOutcomes = []string{originalCancelled, originalAlreadyFinished, originalCancelFailed}
)

// cancelMetrics counts the jobs the gateway cancels itself.
type cancelMetrics struct {
	orphans, originals metric.Int64Counter
}

// newCancelMetrics makes the two counters with every region and outcome
// at 0, so the first cancel shows as an increase.
func newCancelMetrics(mp metric.MeterProvider, regions []string) (cancelMetrics, error) {
	m := mp.Meter(meterName)
	var cm cancelMetrics
	var err, e error
	cm.orphans, e = m.Int64Counter("gateway.orphan.jobs",
		metric.WithDescription("Submits the gateway gave up on (timed out, or failed after the region accepted them), by region and what became of the region's job: cancelled, cancel_failed, not_created, unanswered, dropped."))
	err = errors.Join(err, e)
	cm.originals, e = m.Int64Counter("gateway.rescued.originals",
		metric.WithDescription("First copies of rescued jobs, settled once their region answered again, by region and outcome: cancelled, already_finished, cancel_failed."))
	err = errors.Join(err, e)
	if err != nil {
		return cancelMetrics{}, fmt.Errorf("proxy: creating instruments: %w", err)
	}
	for _, r := range regions {
		for _, o := range orphanOutcomes {
			cm.orphans.Add(context.Background(), 0, metric.WithAttributes(attribute.String("region", r), attribute.String("outcome", o)))
		}
		for _, o := range originalOutcomes {
			cm.originals.Add(context.Background(), 0, metric.WithAttributes(attribute.String("region", r), attribute.String("outcome", o)))
		}
	}
	return cm, nil
}

// errNotCancelled is a cancel the region answered with something other
// than 202 Accepted.
var errNotCancelled = errors.New("the region did not accept the cancel")

// cancelJob asks region idx to cancel its job upstreamID
// (POST …/jobs/{id}:cancel?api-version=v) with that region's credentials.
// It is not a client call: it goes neither through the breaker (the region
// has just answered, or a probe says it does) nor into the client
// metrics, and it is bounded by UpstreamTimeout. A 404 (the job is gone)
// is errJobGone.
func (p *Proxy) cancelJob(ctx context.Context, idx int, upstreamID, apiVersion string) error {
	status, _, err := p.regionCall(ctx, idx, http.MethodPost, api.JobsPath+"/"+upstreamID+api.CancelSuffix, apiVersion)
	switch {
	case err != nil:
		return err
	case status == http.StatusNotFound:
		return errJobGone
	case status < 200 || status > 299:
		return fmt.Errorf("%w: status %d", errNotCancelled, status)
	}
	return nil
}

// errJobGone is a region's 404 for a job: it finished long ago and
// expired, or never was.
var errJobGone = errors.New("the region does not know the job")

// jobFinished asks region idx whether its job upstreamID is finished (a
// final status, or gone: 404), with the region's credentials, like
// cancelJob.
func (p *Proxy) jobFinished(ctx context.Context, idx int, upstreamID, apiVersion string) (bool, error) {
	status, body, err := p.regionCall(ctx, idx, http.MethodGet, api.JobsPath+"/"+upstreamID, apiVersion)
	switch {
	case err != nil:
		return false, err
	case status == http.StatusNotFound:
		return true, nil
	case status != http.StatusOK:
		return false, fmt.Errorf("reading the job: status %d", status)
	}
	return finished(body), nil
}

// regionCall sends one gateway-made call to region idx and returns the
// status and the answer's body (read from the byte budget, released before
// returning: the body returned is a copy only when asked for by a GET).
func (p *Proxy) regionCall(ctx context.Context, idx int, method, path, apiVersion string) (int, []byte, error) {
	reg := p.regions[idx]
	ep := reg.Endpoint()
	u := &url.URL{Scheme: ep.Scheme, Host: ep.Host, Path: strings.TrimSuffix(ep.Path, "/") + path,
		RawQuery: url.Values{"api-version": {apiVersion}}.Encode()}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req := (&http.Request{Method: method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Host: u.Host}).WithContext(ctx)
	if method == http.MethodPost {
		req.Body = http.NoBody
		req.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
	if trace.SpanContextFromContext(ctx).IsValid() {
		p.prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	if err := reg.Authorize(req); err != nil {
		return 0, nil, fmt.Errorf("credentials for region %s: %w", reg.Name(), err)
	}
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return 0, nil, fmt.Errorf("region %s: %w", reg.Name(), err)
	}
	res, err := p.readResponse(resp, maxResponseBytes)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("region %s: reading the answer: %w", reg.Name(), err)
	}
	defer res.body.Free()
	var body []byte
	if method == http.MethodGet {
		body = append([]byte(nil), res.body.Bytes()...)
	}
	return res.status, body, nil
}

// cancelSpan starts the span of one gateway-made cancel, under parent
// (the client request that left the job behind, when there was one).
func (p *Proxy) cancelSpan(ctx context.Context, parent trace.SpanContext, name string, idx int) (context.Context, trace.Span) {
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	return p.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gateway.region", p.regions[idx].Name()),
		attribute.String("server.address", p.regions[idx].Name())))
}

// endCancelSpan records the outcome on span as an event of that name and
// ends it.
func endCancelSpan(span trace.Span, event, outcome string, err error) {
	span.AddEvent(event, trace.WithAttributes(attribute.String("gateway.outcome", outcome)))
	span.SetAttributes(attribute.String("gateway.outcome", outcome))
	if err != nil {
		span.SetStatus(codes.Error, scrub.Cause(err))
	}
	span.End()
}
