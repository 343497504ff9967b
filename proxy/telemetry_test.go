package proxy

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"nergateway/internal/region"
	"nergateway/internal/route"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTelemetry(t *testing.T) {
	secondary := newFakeRegion(t, "s")
	h := newHarness(t, []upstream{deadUpstream(t), secondary.upstream()}, harnessOptions{})
	sub := h.submit("proj", "prod")
	require.Equal(t, http.StatusAccepted, sub.status, "submit")
	var attempts []sdktrace.ReadOnlySpan
	var server sdktrace.ReadOnlySpan
	for _, s := range h.spans.Ended() {
		switch s.Name() {
		case "proxy.attempt":
			attempts = append(attempts, s)
		default:
			server = s
		}
	}
	require.Len(t, attempts, 2, "%d attempt spans, server span %v", len(attempts), server)
	require.False(t, server == nil, "%d attempt spans, server span %v", len(attempts), server)
	want := []map[string]string{
		{"gateway.region": "westus2", "gateway.attempt": "1", "gateway.outcome": "connection_error", "gateway.breaker.state": "closed"},
		{"gateway.region": "eastus", "gateway.attempt": "2", "gateway.outcome": "ok", "gateway.breaker.state": "closed", "http.response.status_code": "202"},
	}
	for i, s := range attempts {
		assert.Equal(t, trace.SpanKindClient, s.SpanKind(), "attempt %d: kind %v, parent %v", i, s.SpanKind(), s.Parent().SpanID())
		assert.Equal(t, server.SpanContext().SpanID(), s.Parent().SpanID(), "attempt %d: kind %v, parent %v", i, s.SpanKind(), s.Parent().SpanID())
		got := map[string]string{}
		for _, a := range s.Attributes() {
			got[string(a.Key)] = a.Value.String()
		}
		for k, v := range want[i] {
			assert.Equal(t, v, got[k], "attempt %d: %s = %q, want %q", i, k, got[k], v)
		}
	}
	assert.Equal(t, codes.Error, attempts[0].Status().Code, "failed attempt status %v", attempts[0].Status())
	// The upstream saw the second attempt's span as its parent.
	tp := secondary.LastHeader().Get("Traceparent")
	assert.Contains(t, tp, attempts[1].SpanContext().SpanID().String(), "traceparent %q is not the attempt span %s", tp, attempts[1].SpanContext().SpanID())
	var failover bool
	for _, e := range server.Events() {
		if e.Name != "failover" {
			continue
		}
		failover = true
		got := map[string]string{}
		for _, a := range e.Attributes {
			got[string(a.Key)] = a.Value.String()
		}
		assert.Equal(t, "westus2", got["gateway.failover.from"], "failover event %v", got)
		assert.Equal(t, "eastus", got["gateway.failover.to"], "failover event %v", got)
		assert.Equal(t, "connection_error", got["gateway.failover.reason"], "failover event %v", got)
	}
	assert.True(t, failover, "no failover event")

	found := map[string]bool{}
	for _, sm := range h.collect().ScopeMetrics {
		if sm.Scope.Name != "nergateway/proxy" {
			continue
		}
		for _, m := range sm.Metrics {
			found[m.Name] = true
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				assert.Equal(t, "s", m.Unit, "%s unit %q", m.Name, m.Unit)
				var n uint64
				for _, dp := range d.DataPoints {
					n += dp.Count
				}
				assert.EqualValues(t, 2, n, "%s has %d samples, want 2", m.Name, n)
			case metricdata.Sum[int64]:
				if m.Name == "gateway.inflight_requests" {
					for _, dp := range d.DataPoints {
						assert.EqualValues(t, 0, dp.Value, "inflight after the request")
					}
				}
			}
		}
	}
	for _, name := range []string{"gateway.requests", "gateway.failovers", "gateway.upstream.duration", "gateway.inflight_requests"} {
		assert.True(t, found[name], "metric %s not recorded", name)
	}
	n := h.counter("gateway.requests", map[string]string{"route": route.Submit.Name, "region": "eastus", "outcome": "ok"})
	assert.EqualValues(t, 1, n, "requests{submit,eastus,ok}")
}

// TestCauseNamesNoHost: transport errors quote URLs, addresses and
// looked-up names; what the proxy logs of them names none.
func TestCauseNamesNoHost(t *testing.T) {
	full := "https://myres.cognitiveservices.azure.com/language/analyze-text/jobs?api-version=2023-04-01"
	for _, e := range []error{
		&url.Error{Op: "Post", URL: full, Err: &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(20, 1, 2, 3), Port: 443},
			Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}},
		&url.Error{Op: "Post", URL: full, Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "myres.cognitiveservices.azure.com"}}},
		&url.Error{Op: "Post", URL: full, Err: errors.New("tls: failed to verify certificate: x509: certificate is valid for other.example.com, not myres.cognitiveservices.azure.com")},
		&url.Error{Op: "Get", URL: full, Err: errors.New("EOF from myres.cognitiveservices.azure.com:443")},
	} {
		got := causeOf(&unavailableError{last: &attemptError{region: "westus2", n: 1, v: region.Verdict{Outcome: region.OutcomeConnectionError, Cause: e}}})
		assert.NotContains(t, got, "myres", "causeOf(%v) = %q", e, got)
		assert.NotContains(t, got, "20.1.2.3", "causeOf(%v) = %q", e, got)
		assert.NotEqual(t, "", got, "causeOf(%v) = %q", e, got)
	}
}

// TestSecretScannerCatchesLeaks proves the scanner every loopback test ends
// with would notice a leak.
func TestSecretScannerCatchesLeaks(t *testing.T) {
	f := newFakeRegion(t, "p")
	h := newHarness(t, []upstream{f.upstream()}, harnessOptions{})
	got := h.submit("proj", "prod")
	require.Equal(t, http.StatusAccepted, got.status, "submit")
	rec := &errorCounter{TB: t}
	h.t = rec
	h.mu.Lock()
	n := len(h.answers)
	h.answers = append(h.answers, "planted "+f.key, "planted http://"+strings.ToUpper(f.host)+"/x", "planted "+gatewayKey)
	h.mu.Unlock()
	h.assertNoSecrets()
	h.mu.Lock()
	h.answers = h.answers[:n]
	h.mu.Unlock()
	h.t = t
	assert.Equal(t, 3, rec.errors, "scanner found of 3 planted leaks")
}

type errorCounter struct {
	testing.TB
	errors int
}

func (e *errorCounter) Errorf(string, ...any) { e.errors++ }

// A request that is in no trace costs no span and carries no trace context
// to the region; one whose trace is not recorded (a client's traceparent,
// nothing exported) gets no attempt span but passes its context on.
func TestSpansOnlyWhereTraced(t *testing.T) {
	t.Run("no trace", func(t *testing.T) {
		primary := newFakeRegion(t, "p")
		h := newHarness(t, []upstream{primary.upstream()}, harnessOptions{untraced: true})
		sub := h.submit("proj", "prod")
		require.Equal(t, http.StatusAccepted, sub.status, "submit")
		tp := primary.LastHeader().Get("Traceparent")
		assert.Equal(t, "", tp, "traceparent sent for a request in no trace")
		n := len(h.spans.Ended())
		assert.Equal(t, 0, n, "spans recorded for a request in no trace")
	})
	t.Run("unrecorded trace", func(t *testing.T) {
		parent := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{0x0a, 0xf7, 0x65, 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
			SpanID:  trace.SpanID{0xb7, 0xad, 1, 2, 3, 4, 5, 6},
			Remote:  true,
		})
		primary := newFakeRegion(t, "p")
		h := newHarness(t, []upstream{primary.upstream()}, harnessOptions{parent: parent})
		sub := h.submit("proj", "prod")
		require.Equal(t, http.StatusAccepted, sub.status, "submit")
		tp := primary.LastHeader().Get("Traceparent")
		assert.Contains(t, tp, parent.TraceID().String(), "traceparent %q does not continue the client's trace %s", tp, parent.TraceID())
		n := len(h.spans.Ended())
		assert.Equal(t, 0, n, "spans recorded in an unrecorded trace")
	})
}
