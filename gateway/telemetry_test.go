package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	colmetric "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"nergateway/emulator"
	"nergateway/internal/testkit/otlptest"
)

// otlpReceiver is an OTLP/HTTP collector inside the test: it decodes the
// protobuf requests the gateway's exporters send.
type otlpReceiver struct {
	mu      sync.Mutex
	spans   []*tracepb.Span
	metrics map[string]bool
}

func newOTLPReceiver(t *testing.T) (*otlpReceiver, string) {
	t.Helper()
	rcv := &otlpReceiver{metrics: map[string]bool{}}
	srv := httptest.NewServer(otlptest.Handler(func(_ *http.Request, req *coltrace.ExportTraceServiceRequest) {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				rcv.spans = append(rcv.spans, ss.Spans...)
			}
		}
	}, func(_ *http.Request, req *colmetric.ExportMetricsServiceRequest) {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		for _, rm := range req.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					rcv.metrics[m.Name] = true
				}
			}
		}
	}))
	t.Cleanup(srv.Close)
	return rcv, srv.URL
}

func attr(attrs []*commonpb.KeyValue, key string) string { return otlptest.Attrs(attrs)[key] }

// TestOTLPExportOfAFailover starts the gateway with the standard OTEL_*
// variables pointing at a receiver in the test, fails a submit over, and
// decodes the spans and metrics the gateway exported.
func TestOTLPExportOfAFailover(t *testing.T) {
	rcv, url := newOTLPReceiver(t)
	gw := startGateway(t, withEnv(
		"OTEL_EXPORTER_OTLP_ENDPOINT", url,
		"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf",
		"OTEL_METRIC_EXPORT_INTERVAL", "100",
		"HEALTH_PROBE_INTERVAL", "1h",
	))
	gw.Primary.SetFault(emulator.Fault{Status: http.StatusServiceUnavailable, Routes: []string{"submit"}})
	gw.submit(t, probeText)
	require.NoError(t, gw.stop(), "stopping flushes the exporters")

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var server *tracepb.Span
	for _, s := range rcv.spans {
		if s.Kind == tracepb.Span_SPAN_KIND_SERVER && strings.HasPrefix(s.Name, "POST /language/analyze-text/jobs") {
			server = s
		}
	}
	require.NotNil(t, server, "no server span for the submit among %d spans", len(rcv.spans))
	var regions []string
	for _, s := range rcv.spans {
		if string(s.ParentSpanId) == string(server.SpanId) && s.Kind == tracepb.Span_SPAN_KIND_CLIENT {
			regions = append(regions, attr(s.Attributes, "gateway.region")+"/"+attr(s.Attributes, "gateway.outcome"))
		}
	}
	assert.ElementsMatch(t, []string{"westus2/status_5xx", "eastus/ok"}, regions, "one attempt span per region under the request span")
	var failover *tracepb.Span_Event
	for _, e := range server.Events {
		if e.Name == "failover" {
			failover = e
		}
	}
	require.NotNil(t, failover, "the request span carries a failover event")
	assert.Equal(t, "westus2", attr(failover.Attributes, "gateway.failover.from"))
	assert.Equal(t, "eastus", attr(failover.Attributes, "gateway.failover.to"))

	for _, name := range []string{"gateway.requests", "gateway.failovers", "gateway.upstream.duration", "gateway.breaker.state"} {
		assert.True(t, rcv.metrics[name], "metric %s exported over OTLP (got %v)", name, rcv.metrics)
	}
}

// TestMetricsEndpointAfterFailover scrapes /metrics and checks the series
// operators' dashboards use.
func TestMetricsEndpointAfterFailover(t *testing.T) {
	gw := startGateway(t, withEnv("HEALTH_PROBE_INTERVAL", "1h", "PROJECT_NAMES", testProject, "REPLICATION_INTERVAL", "1h",
		"GATEWAY_API_KEYS", "app-e2e:"+testGatewayKey))
	gw.Primary.SetFault(emulator.Fault{Down: emulator.DownReset, Routes: []string{"submit"}})
	gw.wait(t, gw.submit(t, probeText))
	eventually(t, "a replication run to finish", func() bool {
		_, body := gw.ops(t, http.MethodGet, "/metrics", nil)
		return strings.Contains(string(body), "replication_runs_total{")
	})
	resp, body := gw.ops(t, http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	text := string(body)
	for _, series := range []string{
		`gateway_requests_total{`,
		`route="submit"`,
		`gateway_failovers_total{`,
		`from="westus2"`,
		`to="eastus"`,
		`reason="connection_error"`,
		`gateway_upstream_duration_seconds_bucket{`,
		`gateway_breaker_state{`,
		`gateway_inflight_requests{`,
		`replication_lag_seconds{`,
		`replication_runs_total{`,
		`gateway_key_name="app-e2e"`, // the key's name, never the key
	} {
		assert.Contains(t, text, series)
	}
	assert.NotContains(t, text, testGatewayKey)
	assert.NotContains(t, text, strings.TrimPrefix(gw.Primary.URL, "http://"), "no region host in metrics")
}

// TestTracesAnOnCallEngineerCanFollow: the submit's span carries the job id
// the client got, each attempt names its region (never its host) and
// Azure's apim-request-id, a 503 "no region can take the call" says why,
// and probes and ops calls leave no trace.
func TestTracesAnOnCallEngineerCanFollow(t *testing.T) {
	rcv, url := newOTLPReceiver(t)
	gw := startGateway(t, withEnv(
		"OTEL_EXPORTER_OTLP_ENDPOINT", url,
		"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf",
		"HEALTH_PROBE_INTERVAL", "1h",
		"BREAKER_OPEN_TIMEOUT", "1h",
	))
	gw.Primary.SetFault(emulator.Fault{Status: http.StatusInternalServerError, Routes: []string{"submit"}})
	jobID := jobIDOf(gw.submit(t, probeText))
	for _, p := range []string{"/healthz", "/readyz"} {
		gw.do(t, http.MethodGet, p, nil)
	}
	for _, p := range []string{"/status", "/metrics"} {
		gw.ops(t, http.MethodGet, p, nil)
	}
	// Both regions down for submits: their breakers open, then no region
	// can take the call.
	gw.Secondary.SetFault(emulator.Fault{Status: http.StatusInternalServerError, Routes: []string{"submit"}})
	var last int
	for range 4 {
		resp, _ := gw.do(t, http.MethodPost, submitPath, submitBody(probeText))
		last = resp.StatusCode
	}
	require.Equal(t, http.StatusServiceUnavailable, last)
	require.NoError(t, gw.stop(), "stopping flushes the exporters")

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var servers, attempts []*tracepb.Span
	for _, s := range rcv.spans {
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_SERVER:
			servers = append(servers, s)
		case tracepb.Span_SPAN_KIND_CLIENT:
			attempts = append(attempts, s)
		}
	}
	for _, s := range servers {
		assert.True(t, strings.HasPrefix(s.Name, "POST /language/"), "only client calls are traced, got %q", s.Name)
	}
	require.Len(t, servers, 5, "the first submit and four more")
	first := servers[0]
	assert.Equal(t, jobID, attr(first.Attributes, "gateway.job.id"), "the job id the client got leads to its trace")

	hosts := []string{strings.TrimPrefix(gw.Primary.URL, "http://"), strings.TrimPrefix(gw.Secondary.URL, "http://")}
	apim := 0
	for _, a := range attempts {
		addr := attr(a.Attributes, "server.address")
		assert.Contains(t, []string{"westus2", "eastus"}, addr, "server.address is the region's name")
		for _, h := range hosts {
			for _, kv := range a.Attributes {
				assert.NotContains(t, kv.Value.String(), h, "no region host in %s", kv.Key)
			}
		}
		if attr(a.Attributes, "azure.apim_request_id") != "" {
			apim++
		}
	}
	assert.Equal(t, len(attempts), apim, "every attempt that got an answer records Azure's apim-request-id")

	unavailable := servers[len(servers)-1]
	assert.Equal(t, "breaker_open", attr(unavailable.Attributes, "gateway.unavailable.reason"), "the 503 says why")
	assert.Equal(t, tracepb.Status_STATUS_CODE_ERROR, unavailable.Status.Code)
}
