package proxy

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"nergateway/internal/region"
	"nergateway/internal/reqrecord"
)

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
func (p *Proxy) finish(ctx context.Context, c *call, regionName string, o region.Outcome, res *reqrecord.Result) {
	key := ""
	if p.keyName != nil {
		key = p.keyName(ctx)
	}
	p.m.request(c.route.Name, regionName, o, key)
	if res != nil {
		res.Route, res.Region, res.Outcome = c.route.Name, regionName, o
	}
}
