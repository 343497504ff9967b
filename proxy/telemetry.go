package proxy

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"nergateway/internal/region"
)

// meterName is the instrumentation scope of the proxy's metrics.
const meterName = "nergateway/proxy"

// noRegion labels requests answered without any region (a malformed id, no
// region available).
const noRegion = "none"

// metrics are the proxy's instruments; the breaker-state gauge lives with
// the regions' owner, not here.
type metrics struct {
	requests  metric.Int64Counter
	failovers metric.Int64Counter
	duration  metric.Float64Histogram
	inflight  metric.Int64UpDownCounter

	// Attribute sets are few (routes x regions x outcomes) and repeat on
	// every request, so each is built once: building one costs a sort and
	// several allocations.
	mu    sync.RWMutex
	attrs map[attrKey]metric.MeasurementOption
}

type attrKey struct{ kind, a, b, c string }

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter(meterName)
	var err, e error
	out := &metrics{attrs: make(map[attrKey]metric.MeasurementOption)}
	out.requests, e = m.Int64Counter("gateway.requests",
		metric.WithDescription("Client requests the proxy answered, by route, answering region and outcome."))
	err = errors.Join(err, e)
	out.failovers, e = m.Int64Counter("gateway.failovers",
		metric.WithDescription("Moves of a client request from one region to the next, by reason."))
	err = errors.Join(err, e)
	out.duration, e = m.Float64Histogram("gateway.upstream.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of one attempt against one region."))
	err = errors.Join(err, e)
	out.inflight, e = m.Int64UpDownCounter("gateway.inflight_requests",
		metric.WithDescription("Client requests the proxy is serving now."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, fmt.Errorf("proxy: creating instruments: %w", err)
	}
	return out, nil
}

func (m *metrics) option(k attrKey) metric.MeasurementOption {
	m.mu.RLock()
	o, ok := m.attrs[k]
	m.mu.RUnlock()
	if ok {
		return o
	}
	var set attribute.Set
	switch k.kind {
	case "requests":
		set = attribute.NewSet(attribute.String("route", k.a), attribute.String("region", k.b), attribute.String("outcome", k.c))
	case "failovers":
		set = attribute.NewSet(attribute.String("from", k.a), attribute.String("to", k.b), attribute.String("reason", k.c))
	default:
		set = attribute.NewSet(attribute.String("region", k.a), attribute.String("outcome", k.b))
	}
	o = metric.WithAttributeSet(set)
	m.mu.Lock()
	// Every part is a fixed label (route names, region names, outcomes),
	// so the map is bounded by routes x regions x outcomes.
	m.attrs[k] = o
	m.mu.Unlock()
	return o
}

func (m *metrics) request(ctx context.Context, route, region string, o region.Outcome) {
	m.requests.Add(ctx, 1, m.option(attrKey{"requests", route, region, string(o)}))
}

func (m *metrics) failover(ctx context.Context, from, to, reason string) {
	m.failovers.Add(ctx, 1, m.option(attrKey{"failovers", from, to, reason}))
}

func (m *metrics) attempt(ctx context.Context, region string, o region.Outcome, seconds float64) {
	m.duration.Record(ctx, seconds, m.option(attrKey{"duration", region, string(o), ""}))
}
