package gateway

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"nergateway/replication"
	"nergateway/rescue"
)

// meterName is the meter of the wiring's own instruments.
const meterName = "nergateway/gateway"

// replicationStatus is /status's replication: {"enabled": false} on a
// replica that does not replicate, else the canary and each project.
type replicationStatus struct {
	Canary   *canaryState                `json:"canary,omitempty"`
	Enabled  bool                        `json:"enabled"`
	Projects []replication.ProjectStatus `json:"projects,omitempty"`
}

// canaryState is /status's replication.canary: whether the canary runs
// and, when it does not, why (config.Config.CanaryOff), so a canary alert
// that can never fire is seen.
type canaryState struct {
	Enabled bool   `json:"enabled"`
	Off     string `json:"off,omitempty"`
}

// jobRescueStatus is /status's jobRescue: {"enabled": false} when
// JOB_RESCUE is off, else the store's state and the timings it runs with.
type jobRescueStatus struct {
	After   string         `json:"after,omitempty"`
	Enabled bool           `json:"enabled"`
	Store   *rescue.Status `json:"store,omitempty"`
	TTL     string         `json:"ttl,omitempty"`
}

func (g *Gateway) replicationStatus() replicationStatus {
	if g.worker == nil {
		return replicationStatus{}
	}
	off := g.cfg.CanaryOff()
	return replicationStatus{Canary: &canaryState{Enabled: off == "", Off: off}, Enabled: true, Projects: g.worker.Status()}
}

func (g *Gateway) jobRescueStatus() jobRescueStatus {
	if g.rescue == nil {
		return jobRescueStatus{}
	}
	store := g.rescue.Status()
	return jobRescueStatus{After: g.cfg.JobRescueAfter.String(), Enabled: true, Store: &store, TTL: g.cfg.JobRescueTTL.String()}
}

// observeGauges registers the wiring's gauges: whether the gateway holds a
// credential for each region, and which build runs.
func (g *Gateway) observeGauges() error {
	meter := g.tel.MeterProvider.Meter(meterName)
	if _, err := meter.Int64ObservableGauge("gateway.credential.up",
		metric.WithDescription("Whether the gateway holds a valid credential for the region: 1 a key, or an unexpired Entra ID token; 0 none (calls to it fail with 503, its breaker untouched)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for _, r := range g.regions {
				up := int64(0)
				if r.CredentialUp() {
					up = 1
				}
				o.Observe(up, metric.WithAttributes(attribute.String("region", r.Name())))
			}
			return nil
		})); err != nil {
		return err
	}
	running := currentBuild()
	_, err := meter.Int64ObservableGauge("gateway.build.info",
		metric.WithDescription("Always 1; the labels say which version runs (join on it in queries)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(1, metric.WithAttributes(attribute.String("version", running.Version),
				attribute.String("revision", running.Revision), attribute.String("goversion", running.GoVersion)))
			return nil
		}))
	return err
}
