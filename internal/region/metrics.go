package region

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metrics are the breakers' metrics, kept beside the breakers so that a
// transition and its count cannot part: gateway.breaker.transitions counts
// state changes per region, gateway.breaker.state reports each region's
// state (State.Value). Regions built with it (Config.Metrics) report
// themselves.
type Metrics struct {
	transitions metric.Int64Counter

	mu      sync.Mutex
	regions []*Region
}

// transitionsSeen are the breaker transitions each region's series start
// with at 0, so that the first breaker opening shows as an increase.
var transitionsSeen = [][2]State{{StateClosed, StateOpen}, {StateOpen, StateHalfOpen},
	{StateHalfOpen, StateClosed}, {StateHalfOpen, StateOpen}}

// NewMetrics registers the breaker metrics with meter.
func NewMetrics(meter metric.Meter) (*Metrics, error) {
	m := &Metrics{}
	var err error
	m.transitions, err = meter.Int64Counter("gateway.breaker.transitions",
		metric.WithDescription("Breaker state changes per region."))
	if err != nil {
		return nil, fmt.Errorf("breaker metrics: %w", err)
	}
	if _, err := meter.Int64ObservableGauge("gateway.breaker.state",
		metric.WithDescription("Breaker state per region: 0 closed, 1 half-open, 2 open."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, r := range m.regions {
				o.Observe(r.State().Value(), metric.WithAttributes(attribute.String("region", r.Name())))
			}
			return nil
		})); err != nil {
		return nil, fmt.Errorf("breaker metrics: %w", err)
	}
	return m, nil
}

// add reports r from now on, its transition series starting at 0.
func (m *Metrics) add(r *Region) {
	for _, t := range transitionsSeen {
		m.transitions.Add(context.Background(), 0, transitionAttributes(r.Name(), t[0], t[1]))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.regions = append(m.regions, r)
}

// transition counts one breaker state change of region name.
func (m *Metrics) transition(name string, from, to State) {
	m.transitions.Add(context.Background(), 1, transitionAttributes(name, from, to))
}

func transitionAttributes(name string, from, to State) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String("region", name), attribute.String("from", string(from)), attribute.String("to", string(to)))
}
