package telemetry

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"nergateway/internal/testkit/otlptest"
	"nergateway/internal/testkit/syncbuf"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	grpcmetadata "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
)

// received is what an in-test OTLP receiver decoded, over either protocol.
type received struct {
	mu      sync.Mutex
	spans   []*tracepb.ResourceSpans
	metrics []*metricpb.ResourceMetrics
	headers []string // values of the "api-key" header of every export
	paths   []string
	// encodings are the compressions the exports came with ("" for none).
	encodings []string
}

func (r *received) addEncoding(enc string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.encodings = append(r.encodings, enc)
}

func (r *received) addSpans(rs []*tracepb.ResourceSpans, apiKey, path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans = append(r.spans, rs...)
	r.headers = append(r.headers, apiKey)
	r.paths = append(r.paths, path)
}

func (r *received) addMetrics(rm []*metricpb.ResourceMetrics, apiKey, path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.metrics = append(r.metrics, rm...)
	r.headers = append(r.headers, apiKey)
	r.paths = append(r.paths, path)
}

func (r *received) exports() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.paths)
}

// span finds a span by name with the resource it came with.
func (r *received) span(name string) (*tracepb.Span, map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range r.spans {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				if s.GetName() == name {
					return s, otlptest.Attrs(rs.GetResource().GetAttributes())
				}
			}
		}
	}
	return nil, nil
}

// sum returns the last cumulative value of a monotonic counter, summed over
// its data points.
func (r *received) sum(name string) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var total int64
	found := false
	for _, rm := range r.metrics {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				if m.GetName() != name {
					continue
				}
				found = true
				total = 0
				for _, dp := range m.GetSum().GetDataPoints() {
					total += dp.GetAsInt()
				}
			}
		}
	}
	return total, found
}

// newHTTPReceiver is an OTLP/HTTP collector: it decodes the protobuf bodies
// posted to /v1/traces and /v1/metrics.
func newHTTPReceiver(t *testing.T) (*httptest.Server, *received) {
	t.Helper()
	rec := &received{}
	collector := otlptest.Handler(func(r *http.Request, req *coltracepb.ExportTraceServiceRequest) {
		rec.addSpans(req.GetResourceSpans(), r.Header.Get("api-key"), r.URL.Path)
	}, func(r *http.Request, req *colmetricpb.ExportMetricsServiceRequest) {
		rec.addMetrics(req.GetResourceMetrics(), r.Header.Get("api-key"), r.URL.Path)
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.addEncoding(r.Header.Get("Content-Encoding"))
		collector.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

// grpcReceiver is an OTLP/gRPC collector for traces.
type grpcReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	rec *received
}

func apiKey(ctx context.Context) string {
	md, _ := grpcmetadata.FromIncomingContext(ctx)
	if v := md.Get("api-key"); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (g *grpcReceiver) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	g.rec.addSpans(req.GetResourceSpans(), apiKey(ctx), "grpc traces")
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// metricsServer is the OTLP/gRPC collector for metrics (a type of its own:
// both services name their method Export).
type metricsServer struct {
	colmetricpb.UnimplementedMetricsServiceServer
	rec *received
}

func (m metricsServer) Export(ctx context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	m.rec.addMetrics(req.GetResourceMetrics(), apiKey(ctx), "grpc metrics")
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

// encodings records the compression of every gRPC request received.
type encodings struct{ rec *received }

func (e encodings) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (e encodings) HandleRPC(_ context.Context, s stats.RPCStats) {
	if in, ok := s.(*stats.InHeader); ok {
		e.rec.addEncoding(in.Compression)
	}
}
func (e encodings) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (e encodings) HandleConn(context.Context, stats.ConnStats)                       {}

func newGRPCReceiver(t *testing.T) (string, *received) {
	t.Helper()
	rec := &received{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.StatsHandler(encodings{rec}))
	coltracepb.RegisterTraceServiceServer(srv, &grpcReceiver{rec: rec})
	colmetricpb.RegisterMetricsServiceServer(srv, metricsServer{rec: rec})
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(lis) })
	t.Cleanup(func() {
		srv.Stop()
		wg.Wait()
	})
	return lis.Addr().String(), rec
}

// emit makes one span and one counter increment the way the gateway's
// packages will: through the providers Setup returned.
func emit(t *testing.T, tel *Telemetry) {
	t.Helper()
	ctx := context.Background()
	_, span := tel.TracerProvider.Tracer("nergateway/test").Start(ctx, "upstream attempt",
		trace.WithAttributes(attribute.String("gateway.region", "westus2"), attribute.Int("gateway.attempt", 2)))
	span.End()
	c, err := tel.MeterProvider.Meter("nergateway/test").Int64Counter("gateway.requests", metric.WithUnit("{request}"))
	require.NoError(t, err)
	c.Add(ctx, 3, metric.WithAttributes(attribute.String("region", "westus2")))
}

func shutdown(t *testing.T, tel *Telemetry) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, tel.Shutdown(ctx))
}

func TestOTLPHTTPExport(t *testing.T) {
	srv, rec := newHTTPReceiver(t)
	tel, err := Setup(t.Context(), Options{
		ServiceName:    "nergateway",
		ServiceVersion: "1.2.3",
		Getenv: env(map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT":    srv.URL,
			"OTEL_EXPORTER_OTLP_HEADERS":     "api-key=collector%20token",
			"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
			"OTEL_RESOURCE_ATTRIBUTES":       "deployment.environment=test",
		}),
	})
	require.NoError(t, err)
	emit(t, tel)
	shutdown(t, tel)

	span, res := rec.span("upstream attempt")
	require.NotNil(t, span, "the span reached the receiver")
	assert.Equal(t, "westus2", otlptest.Attrs(span.GetAttributes())["gateway.region"])
	assert.Equal(t, "2", otlptest.Attrs(span.GetAttributes())["gateway.attempt"])
	assert.Equal(t, "nergateway", res["service.name"])
	assert.Equal(t, "1.2.3", res["service.version"])
	assert.Equal(t, "test", res["deployment.environment"])
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, res["service.instance.id"],
		"replicas pushing OTLP are told apart")

	n, ok := rec.sum("gateway.requests")
	require.True(t, ok, "the counter reached the receiver")
	assert.Equal(t, int64(3), n)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.Contains(t, rec.paths, "/v1/traces")
	assert.Contains(t, rec.paths, "/v1/metrics")
	for _, h := range rec.headers {
		assert.Equal(t, "collector token", h)
	}
	for _, enc := range rec.encodings {
		assert.Equal(t, "gzip", enc, "OTEL_EXPORTER_OTLP_COMPRESSION=gzip")
	}
}

func TestOTLPPerSignalHTTPEndpoints(t *testing.T) {
	srv, rec := newHTTPReceiver(t)
	tel, err := Setup(t.Context(), Options{Getenv: env(map[string]string{
		// Per-signal URLs are used as they are, paths included.
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": srv.URL + "/v1/traces",
		"OTEL_METRICS_EXPORTER":              "none",
	})})
	require.NoError(t, err)
	emit(t, tel)
	shutdown(t, tel)

	span, _ := rec.span("upstream attempt")
	require.NotNil(t, span)
	_, ok := rec.sum("gateway.requests")
	assert.False(t, ok, "OTEL_METRICS_EXPORTER=none sends no metrics")
}

func TestOTLPGRPCExport(t *testing.T) {
	addr, rec := newGRPCReceiver(t)
	tel, err := Setup(t.Context(), Options{
		ServiceName: "nergateway",
		Getenv: env(map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + addr,
			"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
			"OTEL_EXPORTER_OTLP_HEADERS":  "api-key=grpc-token",
		}),
	})
	require.NoError(t, err)
	emit(t, tel)
	shutdown(t, tel)

	span, res := rec.span("upstream attempt")
	require.NotNil(t, span, "the span reached the gRPC receiver")
	assert.Equal(t, "westus2", otlptest.Attrs(span.GetAttributes())["gateway.region"])
	assert.Equal(t, "nergateway", res["service.name"])
	n, ok := rec.sum("gateway.requests")
	require.True(t, ok, "the counter reached the gRPC receiver")
	assert.Equal(t, int64(3), n)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, h := range rec.headers {
		assert.Equal(t, "grpc-token", h)
	}
}

// OTEL_EXPORTER_OTLP_COMPRESSION=gzip compresses gRPC exports too: the
// exporters run over a connection the gateway owns, so the compressor is
// the connection's.
func TestOTLPGRPCExportCompresses(t *testing.T) {
	addr, rec := newGRPCReceiver(t)
	tel, err := Setup(t.Context(), Options{Getenv: env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":    "http://" + addr,
		"OTEL_EXPORTER_OTLP_PROTOCOL":    "grpc",
		"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
	})})
	require.NoError(t, err)
	emit(t, tel)
	shutdown(t, tel)

	_, ok := rec.sum("gateway.requests")
	require.True(t, ok, "the counter reached the gRPC receiver")
	span, _ := rec.span("upstream attempt")
	require.NotNil(t, span, "the span reached the gRPC receiver")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.NotEmpty(t, rec.encodings)
	for _, enc := range rec.encodings {
		assert.Equal(t, "gzip", enc)
	}
}

func TestExportersNone(t *testing.T) {
	srv, rec := newHTTPReceiver(t)
	tel, err := Setup(t.Context(), Options{Getenv: env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL,
		"OTEL_TRACES_EXPORTER":        "none",
		"OTEL_METRICS_EXPORTER":       "none",
	})})
	require.NoError(t, err)
	emit(t, tel)
	shutdown(t, tel)
	assert.Zero(t, rec.exports())
}

func TestNoEndpointRecordsNothingButKeepsTraceIDs(t *testing.T) {
	tel, err := Setup(t.Context(), Options{})
	require.NoError(t, err)
	defer shutdown(t, tel)
	_, span := tel.TracerProvider.Tracer("t").Start(t.Context(), "s")
	defer span.End()
	assert.True(t, span.SpanContext().IsValid(), "logs still get a trace id")
	assert.False(t, span.IsRecording(), "nothing collects spans, so none is recorded")
}

func TestSDKDisabled(t *testing.T) {
	srv, rec := newHTTPReceiver(t)
	tel, err := Setup(t.Context(), Options{Getenv: env(map[string]string{
		"OTEL_SDK_DISABLED":           "true",
		"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL,
	})})
	require.NoError(t, err)
	_, span := tel.TracerProvider.Tracer("t").Start(t.Context(), "s")
	assert.False(t, span.IsRecording())
	span.End()
	emit(t, tel)
	shutdown(t, tel)
	assert.Zero(t, rec.exports())

	rr := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.Equal(t, http.StatusOK, rr.Code, "/metrics still answers")
	assert.NotContains(t, rr.Body.String(), "gateway_requests_total")
}

func TestSamplerAlwaysOff(t *testing.T) {
	tel, err := Setup(t.Context(), Options{Getenv: env(map[string]string{"OTEL_TRACES_SAMPLER": "always_off"})})
	require.NoError(t, err)
	defer shutdown(t, tel)
	_, span := tel.TracerProvider.Tracer("t").Start(t.Context(), "s")
	defer span.End()
	assert.False(t, span.SpanContext().IsSampled())
}

func TestConsoleExporter(t *testing.T) {
	var out syncbuf.Buffer
	tel, err := Setup(t.Context(), Options{
		Stdout: &out,
		Getenv: env(map[string]string{"OTEL_TRACES_EXPORTER": "console"}),
	})
	require.NoError(t, err)
	emit(t, tel)
	shutdown(t, tel)
	assert.Contains(t, out.String(), `"Name":"upstream attempt"`)
}

// TestMetricsHandlerNames pins the OpenTelemetry-to-Prometheus translation
// the Grafana dashboard and deployments/manifests_test.go rely on: the
// instrument names and units below are the ones the gateway's packages use.
func TestMetricsHandlerNames(t *testing.T) {
	tel, err := Setup(t.Context(), Options{ServiceName: "nergateway"})
	require.NoError(t, err)
	defer shutdown(t, tel)
	ctx := t.Context()
	m := tel.MeterProvider.Meter("nergateway/test")

	requests, err := m.Int64Counter("gateway.requests", metric.WithUnit("{request}"))
	require.NoError(t, err)
	requests.Add(ctx, 2, metric.WithAttributes(
		attribute.String("route", "submit"), attribute.String("region", "westus2"), attribute.String("outcome", "success")))
	failovers, err := m.Int64Counter("gateway.failovers", metric.WithUnit("{failover}"))
	require.NoError(t, err)
	failovers.Add(ctx, 1, metric.WithAttributes(
		attribute.String("from", "westus2"), attribute.String("to", "eastus"), attribute.String("reason", "5xx")))
	dur, err := m.Float64Histogram("gateway.upstream.duration", metric.WithUnit("s"))
	require.NoError(t, err)
	dur.Record(ctx, 0.2, metric.WithAttributes(attribute.String("region", "westus2")))
	breaker, err := m.Int64Gauge("gateway.breaker.state")
	require.NoError(t, err)
	breaker.Record(ctx, 2, metric.WithAttributes(attribute.String("region", "westus2")))
	inflight, err := m.Int64UpDownCounter("gateway.inflight_requests", metric.WithUnit("{request}"))
	require.NoError(t, err)
	inflight.Add(ctx, 1)
	lag, err := m.Float64Gauge("replication.lag", metric.WithUnit("s"))
	require.NoError(t, err)
	lag.Record(ctx, 42, metric.WithAttributes(attribute.String("project", "demo")))
	runs, err := m.Int64Counter("replication.runs", metric.WithUnit("{run}"))
	require.NoError(t, err)
	runs.Add(ctx, 1, metric.WithAttributes(attribute.String("project", "demo"), attribute.String("outcome", "success")))
	avoided, err := m.Int64Counter("replication.trainings.avoided")
	require.NoError(t, err)
	avoided.Add(ctx, 1, metric.WithAttributes(attribute.String("project", "demo")))

	rr := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rr.Code)
	assert.Contains(t, rr.Header().Get("Content-Type"), "text/plain")
	body := rr.Body.String()
	for _, want := range []string{
		`gateway_requests_total{`,
		`outcome="success"`,
		`gateway_failovers_total{`,
		`reason="5xx"`,
		`gateway_upstream_duration_seconds_bucket{`,
		`gateway_breaker_state{`,
		`gateway_inflight_requests{`,
		`replication_lag_seconds{`,
		`replication_runs_total{`,
		`replication_trainings_avoided_total{`,
		`target_info{`,
		`go_goroutines `,
	} {
		assert.Contains(t, body, want)
	}
	assert.Regexp(t, `(?m)^gateway_requests_total\{[^}]*region="westus2"[^}]*\} 2$`, body)
	// Seconds get seconds buckets: 0.2 s falls between 0.1 and 0.25.
	assert.Regexp(t, `(?m)^gateway_upstream_duration_seconds_bucket\{[^}]*le="0.1"[^}]*\} 0$`, body)
	assert.Regexp(t, `(?m)^gateway_upstream_duration_seconds_bucket\{[^}]*le="0.25"[^}]*\} 1$`, body)
}

func TestMetricsHandlersAreIndependent(t *testing.T) {
	a, err := Setup(t.Context(), Options{})
	require.NoError(t, err)
	defer shutdown(t, a)
	b, err := Setup(t.Context(), Options{})
	require.NoError(t, err)
	defer shutdown(t, b)
	c, err := a.MeterProvider.Meter("t").Int64Counter("only.in.a")
	require.NoError(t, err)
	c.Add(t.Context(), 1)

	rr := httptest.NewRecorder()
	b.MetricsHandler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.NotContains(t, rr.Body.String(), "only_in_a", "each Telemetry has its own registry")
}

func TestPropagator(t *testing.T) {
	tel, err := Setup(t.Context(), Options{})
	require.NoError(t, err)
	defer shutdown(t, tel)
	ctx, span := tel.TracerProvider.Tracer("t").Start(t.Context(), "s")
	defer span.End()
	h := http.Header{}
	tel.Propagator.Inject(ctx, propagation.HeaderCarrier(h))
	assert.Contains(t, h.Get("traceparent"), span.SpanContext().TraceID().String())
}

func TestSetupRejectsBadEnv(t *testing.T) {
	_, err := Setup(t.Context(), Options{Getenv: env(map[string]string{
		"OTEL_TRACES_EXPORTER":        "zipkin",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1",
	})})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "OTEL_TRACES_EXPORTER")
	assert.Contains(t, err.Error(), "OTEL_EXPORTER_OTLP_PROTOCOL")
}

func TestShutdownIsIdempotent(t *testing.T) {
	srv, _ := newHTTPReceiver(t)
	tel, err := Setup(t.Context(), Options{Getenv: env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL})})
	require.NoError(t, err)
	shutdown(t, tel)
	shutdown(t, tel)
}

func TestExportFailureIsLogged(t *testing.T) {
	// A receiver that refuses everything with a non-retryable status.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusBadRequest)
	}))
	defer srv.Close()
	var logs syncbuf.Buffer
	tel, err := Setup(t.Context(), Options{
		Logger: NewLogger(&logs, "json", 0),
		Getenv: env(map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL,
			"OTEL_EXPORTER_OTLP_HEADERS":  "api-key=do-not-log-me",
		}),
	})
	require.NoError(t, err)
	emit(t, tel)
	_ = tel.Shutdown(t.Context()) // reports the failed flush too
	assert.Contains(t, logs.String(), "span export failed")
	assert.Contains(t, logs.String(), "metric export failed")
	assert.NotContains(t, logs.String(), "do-not-log-me")
}

// syncbuf.Buffer is a bytes.Buffer safe for the exporter goroutines and the
// test to share.
// TestProcessEnvironmentIsIgnored proves the exporters and the SDK take
// nothing from the process environment: only Getenv configures them.
func TestProcessEnvironmentIsIgnored(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=from-process")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:1/nowhere")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://127.0.0.1:1/nowhere")
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "false")
	t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
	t.Setenv("OTEL_SERVICE_NAME", "from-process")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")

	srv, rec := newHTTPReceiver(t)
	tel, err := Setup(t.Context(), Options{
		ServiceName: "nergateway",
		Getenv:      env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL}),
	})
	require.NoError(t, err)
	emit(t, tel)
	shutdown(t, tel)

	span, res := rec.span("upstream attempt")
	require.NotNil(t, span, "sampled and sent to Getenv's endpoint")
	assert.Equal(t, "nergateway", res["service.name"])
	_, ok := rec.sum("gateway.requests")
	assert.True(t, ok)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, h := range rec.headers {
		assert.Empty(t, h)
	}
	for _, rm := range rec.metrics {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				assert.Equal(t, metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
					m.GetSum().GetAggregationTemporality())
			}
		}
	}
}

func TestInstanceIDDiffersPerProcessAndCanBeSet(t *testing.T) {
	a, b := newInstanceID(), newInstanceID()
	assert.NotEqual(t, a, b)
	srv, rec := newHTTPReceiver(t)
	tel, err := Setup(t.Context(), Options{ServiceName: "nergateway", Getenv: env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL,
		"OTEL_RESOURCE_ATTRIBUTES":    "service.instance.id=nergateway-7d9f-abcde",
	})})
	require.NoError(t, err)
	emit(t, tel)
	shutdown(t, tel)
	_, res := rec.span("upstream attempt")
	assert.Equal(t, "nergateway-7d9f-abcde", res["service.instance.id"], "OTEL_RESOURCE_ATTRIBUTES wins")
}
