package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Options are what the caller knows that the environment does not.
type Options struct {
	// ServiceName is service.name when neither OTEL_SERVICE_NAME nor
	// OTEL_RESOURCE_ATTRIBUTES names one. Empty means "unknown_service",
	// as the spec says.
	ServiceName string
	// ServiceVersion becomes service.version; empty leaves it out.
	ServiceVersion string
	// Getenv reads the OTEL_* variables. Nil means every variable is unset;
	// the process environment is never read behind the caller's back.
	Getenv func(string) string
	// Logger receives the chosen configuration at Setup and export failures
	// afterwards. Nil discards them.
	Logger *slog.Logger
	// Stdout is where OTEL_TRACES_EXPORTER=console writes spans, one JSON
	// object per span. Nil means os.Stdout.
	Stdout io.Writer
}

// Telemetry holds the providers Setup built and what it takes to flush and
// stop them. Callers hand the providers to their own instruments and wrap
// their handlers in ServerSpans; they are not installed as OpenTelemetry
// globals.
type Telemetry struct {
	// TracerProvider makes the tracers of every package; a no-op when
	// OTEL_SDK_DISABLED=true.
	TracerProvider trace.TracerProvider
	// MeterProvider makes the meters of every package; its instruments
	// appear at MetricsHandler and, when configured, over OTLP.
	MeterProvider metric.MeterProvider
	// Propagator injects and extracts W3C trace context and baggage (or what
	// OTEL_PROPAGATORS chose) on HTTP headers.
	Propagator propagation.TextMapPropagator

	registry *prometheus.Registry
	logger   *slog.Logger
	// tracing is true when a trace exporter is configured: only then can a
	// request nobody asked to trace be sampled (see ServerSpans).
	tracing bool
	// providers flush and stop the SDK; closers then release the
	// connections the exporters used.
	providers []func(context.Context) error
	closers   []func(context.Context) error
	once      sync.Once
	err       error
}

// Setup reads the OTEL_* configuration through o.Getenv and builds the SDK.
// It starts no network connection itself (exporters connect on first
// export). A bad variable is an error naming it; then nothing is left
// running. Call Shutdown on the result to flush and stop the exporters.
func Setup(ctx context.Context, o Options) (*Telemetry, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	stdout := o.Stdout
	if stdout == nil {
		stdout = os.Stdout
	}

	cfg, err := parseConfig(getenv, o.ServiceName)
	if err != nil {
		return nil, fmt.Errorf("telemetry configuration: %w", err)
	}

	t := &Telemetry{
		registry:   prometheus.NewRegistry(),
		logger:     logger,
		Propagator: newPropagator(cfg.propagators),
	}
	// The runtime and process series are what every Prometheus user expects
	// from a Go service; they cost nothing to collect on scrape.
	t.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	if cfg.disabled {
		t.TracerProvider = tracenoop.NewTracerProvider()
		t.MeterProvider = metricnoop.NewMeterProvider()
		logger.InfoContext(ctx, "telemetry disabled by OTEL_SDK_DISABLED")
		return t, nil
	}

	res, err := newResource(ctx, cfg, o.ServiceVersion)
	if err != nil {
		return nil, err
	}
	if err := t.setupTraces(ctx, cfg, res, stdout); err != nil {
		return nil, errors.Join(err, t.Shutdown(ctx))
	}
	if err := t.setupMetrics(ctx, cfg, res); err != nil {
		return nil, errors.Join(err, t.Shutdown(ctx))
	}

	logger.InfoContext(ctx, "telemetry configured",
		slog.String("service.name", cfg.serviceName),
		slog.Bool("traces.otlp", cfg.tracesOTLP),
		slog.String("traces.protocol", cfg.traces.protocol),
		slog.Bool("traces.console", cfg.tracesConsole),
		slog.String("traces.sampler", cfg.sampler),
		slog.Bool("metrics.otlp", cfg.metricsOTLP),
		slog.String("metrics.protocol", cfg.metrics.protocol),
	)
	return t, nil
}

// newResource describes this process: the SDK, the host and what the
// configuration says. Only schemaless detectors are used, so the resource
// never fails to merge over a semantic-conventions version skew.
func newResource(ctx context.Context, cfg config, version string) (*resource.Resource, error) {
	attrs := make([]attribute.KeyValue, 0, len(cfg.resourceAttrs)+3)
	// service.instance.id tells replicas apart: without it two gateways
	// pushing OTLP write the same series and overwrite each other's.
	// OTEL_RESOURCE_ATTRIBUTES may set it (a pod name); later values win.
	attrs = append(attrs, attribute.String("service.instance.id", newInstanceID()))
	for _, a := range cfg.resourceAttrs {
		attrs = append(attrs, attribute.String(a.key, a.value))
	}
	attrs = append(attrs, attribute.String("service.name", cfg.serviceName))
	if version != "" {
		attrs = append(attrs, attribute.String("service.version", version))
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithAttributes(attrs...),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	return res, nil
}

// newInstanceID is a random UUID (version 4), as the semantic conventions
// suggest for service.instance.id when nothing stabler is given.
func newInstanceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func newPropagator(names []string) propagation.TextMapPropagator {
	var ps []propagation.TextMapPropagator
	for _, n := range names {
		switch n {
		case "tracecontext":
			ps = append(ps, propagation.TraceContext{})
		case "baggage":
			ps = append(ps, propagation.Baggage{})
		}
	}
	return propagation.NewCompositeTextMapPropagator(ps...)
}

func (t *Telemetry) setupTraces(ctx context.Context, cfg config, res *resource.Resource, stdout io.Writer) error {
	sampler := newSampler(cfg.sampler, cfg.samplerArg)
	t.tracing = cfg.tracesOTLP || cfg.tracesConsole
	if !t.tracing {
		// Nothing collects spans: record none, which the benchmarks showed
		// costs about a tenth of the gateway's CPU. A span a client's
		// traceparent asked for still gets ids (see ServerSpans).
		sampler = sdktrace.NeverSample()
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler),
		// Explicit limits, so the SDK's own OTEL_SPAN_* reads of the process
		// environment do not apply.
		sdktrace.WithRawSpanLimits(sdktrace.SpanLimits{
			AttributeValueLengthLimit:   sdktrace.DefaultAttributeValueLengthLimit,
			AttributeCountLimit:         sdktrace.DefaultAttributeCountLimit,
			EventCountLimit:             sdktrace.DefaultEventCountLimit,
			LinkCountLimit:              sdktrace.DefaultLinkCountLimit,
			AttributePerEventCountLimit: sdktrace.DefaultAttributePerEventCountLimit,
			AttributePerLinkCountLimit:  sdktrace.DefaultAttributePerLinkCountLimit,
		}),
	}
	if cfg.tracesOTLP {
		exp, closeFn, err := newOTLPTraceExporter(ctx, cfg.traces)
		if err != nil {
			return err
		}
		t.closers = append(t.closers, closeFn)
		opts = append(opts, sdktrace.WithSpanProcessor(newBatcher(loggingSpanExporter{exp, t.logger})))
	}
	if cfg.tracesConsole {
		exp, err := newConsoleTraceExporter(stdout)
		if err != nil {
			return err
		}
		opts = append(opts, sdktrace.WithSpanProcessor(newBatcher(exp)))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	t.TracerProvider = tp
	t.providers = append(t.providers, tp.Shutdown)
	return nil
}

// newBatcher sets every batching knob explicitly so the SDK's OTEL_BSP_*
// reads of the process environment do not apply.
func newBatcher(exp sdktrace.SpanExporter) sdktrace.SpanProcessor {
	return sdktrace.NewBatchSpanProcessor(exp,
		sdktrace.WithMaxQueueSize(sdktrace.DefaultMaxQueueSize),
		sdktrace.WithMaxExportBatchSize(sdktrace.DefaultMaxExportBatchSize),
		sdktrace.WithBatchTimeout(time.Duration(sdktrace.DefaultScheduleDelay)*time.Millisecond),
		sdktrace.WithExportTimeout(time.Duration(sdktrace.DefaultExportTimeout)*time.Millisecond),
	)
}

func newSampler(name string, arg float64) sdktrace.Sampler {
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(arg)
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(arg))
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample())
}

func (t *Telemetry) setupMetrics(ctx context.Context, cfg config, res *resource.Resource) error {
	prom, err := otelprom.New(
		otelprom.WithRegisterer(t.registry),
		// Explicit, so names keep their unit and _total suffixes whatever
		// the prometheus/common validation scheme default becomes.
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
	)
	if err != nil {
		return fmt.Errorf("telemetry prometheus exporter: %w", err)
	}
	opts := []sdkmetric.Option{
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(prom),
		// Explicit, so OTEL_METRICS_EXEMPLAR_FILTER in the process
		// environment does not apply.
		sdkmetric.WithExemplarFilter(exemplar.TraceBasedFilter),
		sdkmetric.WithView(secondsHistogramView),
	}
	if cfg.metricsOTLP {
		exp, closeFn, err := newOTLPMetricExporter(ctx, cfg.metrics)
		if err != nil {
			return err
		}
		t.closers = append(t.closers, closeFn)
		opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(
			loggingMetricExporter{exp, t.logger},
			sdkmetric.WithInterval(cfg.exportInterval),
			sdkmetric.WithTimeout(cfg.exportTimeout),
		)))
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	t.MeterProvider = mp
	t.providers = append(t.providers, mp.Shutdown)
	return nil
}

// secondsBuckets are the OpenTelemetry HTTP semantic conventions' advice
// for request durations, stretched to a minute for slow authoring calls.
var secondsBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60}

// secondsHistogramView gives every histogram measured in seconds the
// buckets above. The SDK's default buckets (0, 5, 10, 25 ... 10000) are
// meant for milliseconds: in seconds nearly every call lands below 5 and
// histogram_quantile says nothing. A view outranks an instrument's own
// bucket advice, so instruments in seconds need not (and cannot) set any.
func secondsHistogramView(i sdkmetric.Instrument) (sdkmetric.Stream, bool) {
	if i.Kind != sdkmetric.InstrumentKindHistogram || i.Unit != "s" {
		return sdkmetric.Stream{}, false
	}
	return sdkmetric.Stream{
		Name:        i.Name,
		Description: i.Description,
		Unit:        i.Unit,
		Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: secondsBuckets},
	}, true
}

// MetricsHandler serves every instrument of MeterProvider, plus the Go
// runtime and process collectors, in the Prometheus text format (or
// OpenMetrics when the scraper asks). It reads this Telemetry's own
// registry, never Prometheus's default one.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{
		ErrorLog:          promLogger{t.logger},
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
}

// Shutdown flushes pending spans and metrics to the exporters and stops
// them, then releases their connections. ctx bounds the flush. Later calls
// return the first call's result.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.once.Do(func() {
		var errs []error
		// Providers flush through the exporters before the connections
		// under them close.
		for _, fn := range append(t.providers, t.closers...) {
			if err := fn(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			t.err = fmt.Errorf("telemetry shutdown: %w", err)
		}
	})
	return t.err
}

// promLogger adapts slog to promhttp's Println logger.
type promLogger struct{ l *slog.Logger }

func (p promLogger) Println(v ...any) {
	p.l.Warn("prometheus handler", slog.String("error", fmt.Sprint(v...)))
}
