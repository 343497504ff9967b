package proxy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

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
//
// Counts cost an atomic add on the request path: each (instrument, label
// set) has a cell, found in a map under a read lock, and the SDK reads
// every cell at collection time through one callback. The upstream
// duration is a histogram the SDK keeps (OpenTelemetry has no
// asynchronous histogram), fed with a label set built once.
type metrics struct {
	requests  metric.Int64ObservableCounter
	failovers metric.Int64ObservableCounter
	calmPolls metric.Int64ObservableCounter
	inflight  metric.Int64ObservableUpDownCounter
	duration  metric.Float64Histogram

	serving atomic.Int64 // client requests in flight

	// Label sets are few and repeat on every request, so each is built
	// once: building one costs a sort and several allocations.
	mu    sync.RWMutex
	cells map[attrKey]*cell
}

type attrKey struct{ kind, a, b, c, d string }

// cell is one series: a count, or the label set of a histogram series.
type cell struct {
	n   atomic.Int64
	opt metric.MeasurementOption // WithAttributeSet of its labels
	rec []metric.RecordOption    // opt, ready to pass without allocating
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter(meterName)
	var err, e error
	out := &metrics{cells: make(map[attrKey]*cell)}
	out.requests, e = m.Int64ObservableCounter("gateway.requests",
		metric.WithDescription("Client requests the proxy answered, by route, answering region and outcome."))
	err = errors.Join(err, e)
	out.failovers, e = m.Int64ObservableCounter("gateway.failovers",
		metric.WithDescription("Moves of a client request from one region to the next, by reason."))
	err = errors.Join(err, e)
	out.calmPolls, e = m.Int64ObservableCounter("gateway.polls.answered_calm",
		metric.WithDescription("Polls answered 200 running while the job's owner region could not answer for it, by region and reason (calm polls)."))
	err = errors.Join(err, e)
	out.duration, e = m.Float64Histogram("gateway.upstream.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of one attempt against one region."))
	err = errors.Join(err, e)
	out.inflight, e = m.Int64ObservableUpDownCounter("gateway.inflight_requests",
		metric.WithDescription("Client requests the proxy is serving now."))
	err = errors.Join(err, e)
	if err == nil {
		// The registration lives as long as the meter provider: the
		// proxy has no Close, and the provider's shutdown ends it.
		_, err = m.RegisterCallback(out.observe, out.requests, out.failovers, out.calmPolls, out.inflight)
	}
	if err != nil {
		return nil, fmt.Errorf("proxy: creating instruments: %w", err)
	}
	return out, nil
}

// observe reports every count at collection time.
func (m *metrics) observe(_ context.Context, o metric.Observer) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for k, c := range m.cells {
		switch k.kind {
		case "requests":
			o.ObserveInt64(m.requests, c.n.Load(), c.opt)
		case "failovers":
			o.ObserveInt64(m.failovers, c.n.Load(), c.opt)
		case "calm":
			o.ObserveInt64(m.calmPolls, c.n.Load(), c.opt)
		}
	}
	o.ObserveInt64(m.inflight, m.serving.Load())
	return nil
}

// cell returns the series of k, made on first use.
func (m *metrics) cell(k attrKey) *cell {
	m.mu.RLock()
	c, ok := m.cells[k]
	m.mu.RUnlock()
	if ok {
		return c
	}
	var set attribute.Set
	switch k.kind {
	case "requests":
		kv := []attribute.KeyValue{attribute.String("route", k.a), attribute.String("region", k.b), attribute.String("outcome", k.c)}
		if k.d != "" {
			kv = append(kv, attribute.String("gateway.key.name", k.d))
		}
		set = attribute.NewSet(kv...)
	case "failovers":
		set = attribute.NewSet(attribute.String("from", k.a), attribute.String("to", k.b), attribute.String("reason", k.c))
	case "calm":
		set = attribute.NewSet(attribute.String("region", k.a), attribute.String("reason", k.b))
	default:
		set = attribute.NewSet(attribute.String("region", k.a), attribute.String("outcome", k.b))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.cells[k]; ok {
		return c
	}
	// Every part is a fixed label (route names, region names, outcomes,
	// the operator's key names), so the map is bounded by routes x
	// regions x outcomes x keys.
	opt := metric.WithAttributeSet(set)
	c = &cell{opt: opt, rec: []metric.RecordOption{opt}}
	m.cells[k] = c
	return c
}

// failoverReasons are the outcomes that move a call to the next region.
var failoverReasons = []region.Outcome{
	region.OutcomeConnectionError, region.OutcomeTimeout, region.OutcomeStatus5xx, region.OutcomeStatus429,
	region.OutcomeAuthError, region.OutcomeBadResponse, region.OutcomeBreakerOpen, region.OutcomeParked,
	region.OutcomeNoCredential,
}

// zero creates the failover series at 0 for every path (an earlier region
// to a later one) and reason, and the calm-poll series for every region
// and reason, before any happens. A series that
// first appears holding 1 reads as no increase to rate() and increase(),
// so the first failover of each kind would never show on a dashboard or
// fire an alert.
func (m *metrics) zero(regions []string) {
	for i, from := range regions {
		for _, why := range calmReasons {
			m.cell(attrKey{"calm", from, string(why), "", ""})
		}
		for _, to := range regions[i+1:] {
			for _, why := range failoverReasons {
				m.cell(attrKey{"failovers", from, to, string(why), ""})
			}
		}
	}
}

// request counts a client request; key is the client key's name, or "".
func (m *metrics) request(route, region string, o region.Outcome, key string) {
	m.cell(attrKey{"requests", route, region, string(o), key}).n.Add(1)
}

func (m *metrics) calm(region string, reason region.Outcome) {
	m.cell(attrKey{"calm", region, string(reason), "", ""}).n.Add(1)
}

func (m *metrics) failover(_ context.Context, from, to, reason string) {
	m.cell(attrKey{"failovers", from, to, reason, ""}).n.Add(1)
}

func (m *metrics) attempt(ctx context.Context, region string, o region.Outcome, seconds float64) {
	m.duration.Record(ctx, seconds, m.cell(attrKey{"duration", region, string(o), "", ""}).rec...)
}
