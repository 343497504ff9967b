package replication

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// instrumentationName names the tracer and the meter.
const instrumentationName = "nergateway/replication"

// Outcomes of a run, the outcome attribute of replication.runs.
const (
	outcomeInSync     = "in_sync"
	outcomeReplicated = "replicated"
	outcomeFailed     = "failed"
)

func tracerFrom(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	return tp.Tracer(instrumentationName)
}

// meters are the worker's instruments.
type meters struct {
	runs             metric.Int64Counter
	avoidedTrainings metric.Int64Counter
}

// newMeters creates the runs counter and the lag gauge, which reads the
// projects' status when the exporter collects.
func newMeters(mp metric.MeterProvider, w *Worker) (*meters, error) {
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	m := mp.Meter(instrumentationName)
	runs, err := m.Int64Counter("replication.runs",
		metric.WithDescription("Replication checks and runs per project, by outcome (in_sync, replicated, failed)."),
		metric.WithUnit("{run}"))
	if err != nil {
		return nil, err
	}
	// No unit: the contract's name is
	// replication_trainings_avoided_total.
	avoided, err := m.Int64Counter("replication.trainings.avoided",
		metric.WithDescription("Trainings in the secondary not run because the primary's lastModifiedDateTime moved with its assets unchanged, per project."))
	if err != nil {
		return nil, err
	}
	// The registration lives as long as the meter provider; the worker
	// has no Close because it holds nothing else to release.
	_, err = m.Float64ObservableGauge("replication.lag",
		metric.WithDescription("Seconds the oldest primary change not yet in the secondary has waited; 0 when in sync."),
		metric.WithUnit("s"),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			now := w.cfg.Now()
			for _, p := range w.projects {
				o.Observe(p.status.lagSeconds(now), metric.WithAttributes(attribute.String("project", p.name)))
			}
			return nil
		}))
	if err != nil {
		return nil, err
	}
	// No unit: Prometheus' exporter would add a suffix, and the metric is
	// replication_canary_agreement in the contract.
	_, err = m.Float64ObservableGauge("replication.canary.agreement",
		metric.WithDescription("Share of the canary's entities the secondary deployment found like the primary (0-1), per project and primary deployment."),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			for _, p := range w.projects {
				for _, c := range p.status.canaries() {
					o.Observe(c.Agreement, metric.WithAttributes(
						attribute.String("project", p.name), attribute.String("deployment", c.Deployment)))
				}
			}
			return nil
		}))
	if err != nil {
		return nil, err
	}
	// Each project's series start at 0, so the first failed run is an
	// increase that an alert sees.
	for _, p := range w.projects {
		avoided.Add(context.Background(), 0, metric.WithAttributes(attribute.String("project", p.name)))
		for _, outcome := range []string{outcomeInSync, outcomeReplicated, outcomeFailed} {
			runs.Add(context.Background(), 0, metric.WithAttributes(
				attribute.String("project", p.name), attribute.String("outcome", outcome)))
		}
	}
	return &meters{runs: runs, avoidedTrainings: avoided}, nil
}

// avoided counts n trainings a content comparison made unnecessary.
func (m *meters) avoided(ctx context.Context, project string, n int) {
	m.avoidedTrainings.Add(context.WithoutCancel(ctx), int64(n), metric.WithAttributes(attribute.String("project", project)))
}

func (m *meters) run(ctx context.Context, project, outcome string) {
	m.runs.Add(context.WithoutCancel(ctx), 1, metric.WithAttributes(
		attribute.String("project", project), attribute.String("outcome", outcome)))
}
