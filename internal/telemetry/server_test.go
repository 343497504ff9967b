package telemetry

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"nergateway/internal/testkit/syncbuf"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
)

const clientTraceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// seen is what the handler behind ServerSpans got.
type seen struct {
	sc      trace.SpanContext
	wrapped bool
}

func serveThrough(t *testing.T, tel *Telemetry, req *http.Request, status int) seen {
	t.Helper()
	var s seen
	var outer http.ResponseWriter = httptest.NewRecorder()
	h := tel.ServerSpans(func(r *http.Request) (string, string, string) {
		method := r.Method
		if method == "BREW" {
			method = "_OTHER"
		}
		return method + " /language/analyze-text/jobs/{jobId}", method, "/language/analyze-text/jobs/{jobId}"
	})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.sc = trace.SpanContextFromContext(r.Context())
			s.wrapped = w != outer
			w.WriteHeader(status)
		}))
	h.ServeHTTP(outer, req)
	return s
}

// With no trace exporter a request nobody asked to trace costs nothing: no
// span, no ids to propagate, the writer untouched.
func TestServerSpansUntracedRequestPassesThrough(t *testing.T) {
	tel, err := Setup(t.Context(), Options{})
	require.NoError(t, err)
	defer shutdown(t, tel)
	s := serveThrough(t, tel, httptest.NewRequest(http.MethodGet, "/language/analyze-text/jobs/x", nil), http.StatusOK)
	assert.False(t, s.sc.IsValid(), "no span context for an untraced request")
	assert.False(t, s.wrapped, "no wrapper for an untraced request")
}

// A client's traceparent is honoured even with nothing exported: its trace
// id reaches the logs and is propagated to the regions.
func TestServerSpansHonourClientTraceparent(t *testing.T) {
	tel, err := Setup(t.Context(), Options{})
	require.NoError(t, err)
	defer shutdown(t, tel)
	req := httptest.NewRequest(http.MethodGet, "/language/analyze-text/jobs/x", nil)
	req.Header.Set("traceparent", clientTraceparent)
	s := serveThrough(t, tel, req, http.StatusOK)
	require.True(t, s.sc.IsValid())
	assert.Equal(t, "0af7651916cd43dd8448eb211c80319c", s.sc.TraceID().String())
	assert.False(t, s.wrapped, "an unrecorded span needs no status")
}

// With an exporter, the server span carries the semantic-convention
// attributes (the names describe gave it), and a 5xx is an error.
func TestServerSpansRecordedAttributes(t *testing.T) {
	var out syncbuf.Buffer
	tel, err := Setup(t.Context(), Options{
		Stdout: &out,
		Getenv: env(map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER": "always_on"}),
	})
	require.NoError(t, err)
	req := httptest.NewRequest("BREW", "/language/analyze-text/jobs/tok?api-version=2023-04-01", nil)
	req.Header.Set("traceparent", clientTraceparent)
	s := serveThrough(t, tel, req, http.StatusServiceUnavailable)
	assert.True(t, s.wrapped)
	assert.Equal(t, "0af7651916cd43dd8448eb211c80319c", s.sc.TraceID().String(), "the client's trace continues")
	shutdown(t, tel)

	var span struct {
		Name       string
		SpanKind   int
		Status     struct{ Code string }
		Parent     struct{ SpanID string }
		Attributes []struct {
			Key   string
			Value struct{ Value any }
		}
	}
	line, _, _ := strings.Cut(out.String(), "\n")
	require.NoError(t, json.Unmarshal([]byte(line), &span), out.String())
	assert.Equal(t, "_OTHER /language/analyze-text/jobs/{jobId}", span.Name)
	assert.Equal(t, int(trace.SpanKindServer), span.SpanKind)
	assert.Equal(t, "Error", span.Status.Code)
	assert.Equal(t, "b7ad6b7169203331", span.Parent.SpanID)
	attrs := map[string]any{}
	for _, a := range span.Attributes {
		attrs[a.Key] = a.Value.Value
	}
	assert.Equal(t, "_OTHER", attrs["http.request.method"])
	assert.Equal(t, "/language/analyze-text/jobs/{jobId}", attrs["http.route"])
	assert.Equal(t, "/language/analyze-text/jobs/tok", attrs["url.path"])
	assert.EqualValues(t, 503, attrs["http.response.status_code"])
	assert.Equal(t, "http", attrs["url.scheme"])
}

// TestServerSpansAllocs guards the untraced path: a request nothing can
// sample must pass through without a single allocation. .ci/run runs it
// without -race.
func TestServerSpansAllocs(t *testing.T) {
	tel, err := Setup(t.Context(), Options{})
	require.NoError(t, err)
	defer shutdown(t, tel)
	h := tel.ServerSpans(func(*http.Request) (string, string, string) { return "GET /x", "GET", "/x" })(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest(http.MethodGet, "/language/analyze-text/jobs/x", nil)
	w := httptest.NewRecorder()
	n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, req) })
	assert.Zero(t, n, "%.0f allocations for an untraced request, want 0", n)
}
