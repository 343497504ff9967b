// Package telemetry builds the OpenTelemetry SDK for the gateway: a tracer
// provider, a meter provider that always feeds a Prometheus handler and may
// also push over OTLP, the W3C propagator, and slog loggers that stamp
// trace_id and span_id on every record logged with a context.
//
// Nothing here sets OpenTelemetry globals or reads the process environment:
// [Setup] returns the providers and reads configuration through the Getenv it
// is given, so tests run side by side with different settings and the
// gateway's wiring (package gateway) decides what, if anything, becomes
// global (nothing does). Exporters get explicit options
// built from what Getenv returned, because they would otherwise fall back to
// the process environment on their own.
//
// # Configuration
//
// Only the standard OTEL_* variables configure telemetry:
//
//   - OTEL_SDK_DISABLED=true: no-op tracer and meter providers; /metrics
//     still answers but carries only the Go runtime and process series.
//   - OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES: the resource. The service
//     name defaults to Options.ServiceName.
//   - OTEL_TRACES_EXPORTER: comma-separated list of otlp, console, none.
//   - OTEL_METRICS_EXPORTER: comma-separated list of otlp, prometheus, none.
//     The Prometheus handler is always served whatever this says, so
//     "prometheus" only documents intent.
//   - OTEL_EXPORTER_OTLP_ENDPOINT and the per-signal
//     OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT, with the spec's rules: the
//     generic one is a base URL ("/v1/traces" and "/v1/metrics" are appended
//     for http/protobuf), a per-signal one is used as is.
//   - OTEL_EXPORTER_OTLP_PROTOCOL (+ per-signal): http/protobuf (default) or
//     grpc. http/json is rejected: the Go exporters do not speak it.
//   - OTEL_EXPORTER_OTLP_HEADERS (+ per-signal), in the W3C baggage format
//     with percent-encoded values; OTEL_EXPORTER_OTLP_INSECURE (+ per-signal)
//     for a gRPC endpoint given without a scheme; OTEL_EXPORTER_OTLP_TIMEOUT
//     and OTEL_EXPORTER_OTLP_COMPRESSION (gzip, none) (+ per-signal).
//   - OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG: always_on, always_off,
//     traceidratio, parentbased_always_on (default), parentbased_always_off,
//     parentbased_traceidratio.
//   - OTEL_METRIC_EXPORT_INTERVAL and OTEL_METRIC_EXPORT_TIMEOUT, in
//     milliseconds, for the OTLP metric reader.
//   - OTEL_PROPAGATORS: tracecontext, baggage (the default is both) or none.
//
// Every bad value is reported by Setup, one line per problem, and Setup
// returns no providers then: a gateway that silently drops its traces is worse
// than one that refuses to start.
//
// # Decisions
//
// The spec defaults OTEL_TRACES_EXPORTER and OTEL_METRICS_EXPORTER to otlp,
// aimed at localhost:4318. Here an unset exporter variable means otlp only
// when an OTLP endpoint (generic or for that signal) is set, and nothing
// otherwise: a gateway started for a demo or a test, with no collector, makes
// no background connection attempts and logs no export errors. Naming otlp
// explicitly with no endpoint keeps the spec's localhost default.
//
// When no trace exporter is configured, spans are not recorded (the
// benchmarks measured recording them for nobody at about a tenth of the
// gateway's CPU). [Telemetry.ServerSpans] then starts no span at all for a
// request that carries no traceparent: nothing can sample it, so it gets no
// ids and nothing is propagated to the regions. A request that carries one
// gets an unrecorded span in the client's trace, so its log lines carry the
// client's trace_id and the regions see the client's trace context.
//
// The OTLP/HTTP exporters use a transport owned by the Telemetry value, with
// no proxy taken from the environment; [Telemetry.Shutdown] closes its idle
// connections. The gRPC exporters use a connection owned by the Telemetry
// value as well, closed on Shutdown.
//
// Metric names reach Prometheus through the OpenTelemetry translation with
// unit and type suffixes: a counter "gateway.requests" with unit "{request}"
// becomes gateway_requests_total, a histogram "gateway.upstream.duration" with
// unit "s" becomes gateway_upstream_duration_seconds_*, an up-down counter
// keeps its bare name.
//
// Every histogram with unit "s" gets buckets from 5 ms to 60 s (the HTTP
// semantic conventions' advice, stretched for slow authoring calls) through a
// view; the SDK's default buckets are meant for milliseconds. The view wins
// over bucket advice given on an instrument.
package telemetry
