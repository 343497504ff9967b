package proxy

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"nergateway/internal/region"
)

// Result is what the proxy decided for one client request: the seam for
// access logs and other middleware that wants the outcome without
// re-deriving it. Every field but JobID is a fixed label (no client value).
type Result struct {
	// Route is the route's name ("submit", "job", "unknown").
	Route string
	// Region names the region whose answer the client got, or "none".
	Region string
	// Outcome is the request's outcome in the rulebook's vocabulary.
	Outcome region.Outcome
	// Attempts counts the attempts sent to regions.
	Attempts int
	// Tried lists, in order, each region the call was offered to and what
	// became of it (skipped ones too: breaker_open, parked).
	Tried []Attempt
	// JobID is the job id as the client sees it: the one handed out on a
	// submit, the one sent on a poll or cancel; empty on other routes.
	JobID string
	// Calm is why a poll got a calm answer (200 running, calm.go): the
	// owner's outcome (breaker_open, parked, connection_error, timeout,
	// status_5xx, status_429); empty for any other answer.
	Calm string
}

// Attempt is one region's part in a call.
type Attempt struct {
	Region  string
	Outcome region.Outcome
	// Status is the region's HTTP status; 0 when it gave none.
	Status int
}

type resultKey struct{}

// WithResult returns a context under which the proxy records its Result
// into the returned value; read it after ServeHTTP returned.
func WithResult(ctx context.Context) (context.Context, *Result) {
	res := &Result{}
	return context.WithValue(ctx, resultKey{}, res), res
}

func resultFrom(ctx context.Context) *Result {
	res, _ := ctx.Value(resultKey{}).(*Result)
	return res
}

// maxJobIDLen bounds a job id taken from a request path (a client can send
// anything there) before it becomes a span attribute.
const maxJobIDLen = 64

// setJobID records the job id the client sees on the request's span
// (gateway.job.id: a customer's job id leads to its trace) and in the
// Result. The first id wins: the one handed out, or the one asked about.
func (c *call) setJobID(id string) {
	if id == "" || len(id) > maxJobIDLen {
		return
	}
	if c.res != nil {
		if c.res.JobID != "" {
			return
		}
		c.res.JobID = id
	}
	// Only a recorded span takes it: the attribute list passed to any
	// other would still be allocated.
	if span := trace.SpanFromContext(c.r.Context()); span.IsRecording() {
		span.SetAttributes(attribute.String("gateway.job.id", id))
	}
}

// finish records a request's end: the gateway.requests metric and the
// Result, if one is asked for.
func (p *Proxy) finish(ctx context.Context, c *call, regionName string, o region.Outcome, res *Result) {
	key := ""
	if p.keyName != nil {
		key = p.keyName(ctx)
	}
	p.m.request(c.route.Name, regionName, o, key)
	if res != nil {
		res.Route, res.Region, res.Outcome = c.route.Name, regionName, o
	}
}
