package region

import (
	"context"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// TestBreakerMetrics: every transition series of a region exists at 0
// from the start (so the first opening shows as an increase), each
// transition counts once, and the state gauge follows the breaker.
func TestBreakerMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	m, err := NewMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test"))
	require.NoError(t, err)
	var regions []*Region
	for _, name := range []string{"westus2", "eastus"} {
		r, err := New(Config{Name: name, Role: RolePrimary, Endpoint: &url.URL{Scheme: "https", Host: name + ".example"},
			Key: "region-key", ConsecutiveFailures: 1, Metrics: m})
		require.NoError(t, err)
		regions = append(regions, r)
	}
	transitions, states := readBreakerMetrics(t, reader)
	assert.Len(t, transitions, 8, "four transitions for each of two regions")
	for series, n := range transitions {
		assert.Zero(t, n, series)
	}
	assert.Equal(t, map[string]int64{"westus2": 0, "eastus": 0}, states)

	fail(t, regions[0], 1)
	transitions, states = readBreakerMetrics(t, reader)
	assert.Equal(t, int64(1), transitions["westus2 closed>open"])
	assert.Equal(t, int64(0), transitions["eastus closed>open"])
	assert.Equal(t, map[string]int64{"westus2": 2, "eastus": 0}, states)
}

// readBreakerMetrics returns the transition counts by "region from>to" and
// the state gauge by region.
func readBreakerMetrics(t *testing.T, reader sdkmetric.Reader) (transitions, states map[string]int64) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	transitions, states = map[string]int64{}, map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case "gateway.breaker.transitions":
				for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
					r, _ := p.Attributes.Value("region")
					from, _ := p.Attributes.Value("from")
					to, _ := p.Attributes.Value("to")
					transitions[r.AsString()+" "+from.AsString()+">"+to.AsString()] = p.Value
				}
			case "gateway.breaker.state":
				for _, p := range m.Data.(metricdata.Gauge[int64]).DataPoints {
					r, _ := p.Attributes.Value("region")
					states[r.AsString()] = p.Value
				}
			}
		}
	}
	return transitions, states
}
