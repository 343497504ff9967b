package telemetry

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"nergateway/internal/statuswriter"
)

// serverScope is the instrumentation scope of the server spans.
const serverScope = "nergateway/server"

// ServerSpans returns middleware that makes each request a server span
// with the OpenTelemetry HTTP semantic-convention attributes, and puts it in
// the request's context for the spans and logs below. describe names the
// request from the caller's route table: the span name, the method (one of
// HTTP's, or "_OTHER") and the route template, none of which may carry a
// value a client made up.
//
// A request costs nothing when it cannot be part of a trace: with no trace
// exporter configured and no traceparent header from the client, it passes
// through untouched (no span, no ids, nothing propagated upstream). A
// client's traceparent is always honoured, so its trace id reaches the
// logs and the regions even when nothing here is exported. Attributes and
// the status-capturing writer are only paid for spans that are recorded.
// Metrics are not recorded here: the proxy counts every request itself.
func (t *Telemetry) ServerSpans(describe func(*http.Request) (name, method, template string)) func(http.Handler) http.Handler {
	tracer := t.TracerProvider.Tracer(serverScope)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !t.tracing && r.Header.Get("Traceparent") == "" {
				next.ServeHTTP(w, r)
				return
			}
			t.serveSpan(tracer, describe, next, w, r)
		})
	}
}

// serveSpan serves r under a server span. A function of its own, so the
// stack frame every untraced request waits in for its region is the small
// pass-through one above.
func (t *Telemetry) serveSpan(tracer trace.Tracer, describe func(*http.Request) (name, method, template string),
	next http.Handler, w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Header.Get("Traceparent") != "" {
		ctx = t.Propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	name, method, rt := describe(r)
	ctx, span := tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	if !span.IsRecording() {
		next.ServeHTTP(w, r.WithContext(ctx))
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	// The convention's required attributes only: every attribute is paid
	// for on every recorded span, in memory and in export.
	span.SetAttributes(
		semconv.HTTPRequestMethodKey.String(method),
		semconv.HTTPRoute(rt),
		semconv.URLScheme(scheme),
		semconv.URLPath(r.URL.Path),
	)
	sw := statuswriter.New(w)
	next.ServeHTTP(sw, r.WithContext(ctx))
	endServerSpan(span, sw.Status())
}

// endServerSpan records the answer's status on a server span.
func endServerSpan(span trace.Span, status int) {
	span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	if status >= 500 {
		// Only 5xx are the server's errors; a 4xx is the client's.
		span.SetAttributes(attribute.String("error.type", http.StatusText(status)))
		span.SetStatus(codes.Error, "")
	}
}
