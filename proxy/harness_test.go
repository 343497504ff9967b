package proxy

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"nergateway/api"
	"nergateway/internal/region"
	"nergateway/internal/secret"
	"nergateway/internal/testkit/loopback"
	"nergateway/internal/testkit/metrictest"
	"nergateway/internal/testkit/syncbuf"
	"nergateway/internal/testkit/wait"
	"nergateway/internal/transport"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const gatewayKey = "gateway-client-key-7f3a9c"

// upstream is a region's endpoint and key as the gateway is configured.
type upstream struct{ url, key string }

func (f *fakeRegion) upstream() upstream { return upstream{url: f.URL(), key: f.key} }

// deadUpstream is a region that refuses connections.
func deadUpstream(t testing.TB) upstream {
	return upstream{url: "http://" + loopback.FreeAddr(t), key: "dead-region-key-" + randHex(8)}
}

// harness is the proxy behind a real loopback server, with everything it
// emits captured: every answer a client got, every log line, every span.
// At the end of the test all of it is scanned for region keys, the
// gateway key and region hosts.
type harness struct {
	t       testing.TB
	regions []*region.Region
	proxy   *Proxy
	gw      *httptest.Server
	client  *http.Client
	spans   *tracetest.SpanRecorder
	metrics *sdkmetric.ManualReader
	logs    *syncbuf.Buffer

	mu      sync.Mutex
	answers []string // every status line, header and body a client saw
	secrets []string
}

type harnessOptions struct {
	failures    uint32        // breaker threshold; zero means 3
	openTimeout time.Duration // zero means 1 minute: no test waits for it
	config      func(*Config)
	// untraced leaves out the server span, as cmd/gateway does for a
	// request nothing can sample; parent, when valid, is the (unrecorded)
	// span context the request carries instead.
	untraced bool
	parent   trace.SpanContext
	// auth, where set for a region's index, authorizes its calls instead
	// of its key.
	auth []api.Authorizer
}

func newHarness(t testing.TB, ups []upstream, opts harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, spans: tracetest.NewSpanRecorder(), metrics: sdkmetric.NewManualReader(), logs: &syncbuf.Buffer{}}
	h.secrets = append(h.secrets, gatewayKey)
	for i, u := range ups {
		eu, err := url.Parse(u.url)
		require.NoError(t, err)
		role := region.RolePrimary
		if i > 0 {
			role = region.RoleSecondary
		}
		rc := region.Config{
			Name: []string{"westus2", "eastus", "third"}[i], Role: role, Endpoint: eu, Key: secret.Secret(u.key),
			ConsecutiveFailures: cmpOr(opts.failures, 3), OpenTimeout: cmpOr(opts.openTimeout, time.Minute),
		}
		if i < len(opts.auth) {
			rc.Authorizer = opts.auth[i]
		}
		r, err := region.New(rc)
		require.NoError(t, err)
		h.regions = append(h.regions, r)
		h.secrets = append(h.secrets, u.key, eu.Host)
		if !strings.HasPrefix(eu.Hostname(), "127.") {
			h.secrets = append(h.secrets, eu.Hostname())
		}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.metrics))
	tr, err := transport.New("")
	require.NoError(t, err)
	cfg := Config{
		Regions:         h.regions,
		UpstreamTimeout: 5 * time.Second,
		Transport:       tr,
		TracerProvider:  tp,
		MeterProvider:   mp,
		Logger:          slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if opts.config != nil {
		opts.config(&cfg)
	}
	p, err := New(cfg)
	require.NoError(t, err)
	h.proxy = p
	tracer := tp.Tracer("test-server")
	h.gw = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What cmd/gateway does in front of the proxy: a server span and
		// client authentication.
		ctx := r.Context()
		switch {
		case opts.parent.IsValid():
			ctx = trace.ContextWithSpanContext(ctx, opts.parent)
		case !opts.untraced:
			var span trace.Span
			ctx, span = tracer.Start(ctx, "gateway "+r.Method, trace.WithSpanKind(trace.SpanKindServer))
			defer span.End()
		}
		if r.Header.Get(api.SubscriptionKeyHeader) != gatewayKey {
			api.WriteError(w, http.StatusUnauthorized, api.Error{Code: api.CodeFrontDoorUnauthorized, Message: api.MessageFrontDoorUnauthorized})
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/language/") {
			http.NotFound(w, r)
			return
		}
		p.ServeHTTP(w, r.WithContext(ctx))
	}))
	clientTransport := &http.Transport{}
	h.client = &http.Client{
		Transport:     clientTransport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       20 * time.Second,
	}
	t.Cleanup(func() {
		clientTransport.CloseIdleConnections()
		h.gw.Close()
		tr.CloseIdleConnections()
		_ = tp.Shutdown(context.Background())
		h.assertNoSecrets()
	})
	return h
}

// reply is what a client got.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	err := json.Unmarshal(r.body, &m)
	require.NoError(t, err, "body is not JSON: %v: %s", err, r.body)
	return m
}

func (r reply) errorCode(t testing.TB) string {
	t.Helper()
	var e api.ErrorResponse
	err := json.Unmarshal(r.body, &e)
	require.NoError(t, err, "body is not Azure's error shape: %v: %s", err, r.body)
	return e.Error.Code
}

// do sends one client request through the gateway. path may be absolute
// (a URL the gateway handed out) or relative to the gateway.
func (h *harness) do(method, path string, body string, hdr ...string) reply {
	h.t.Helper()
	return h.doCtx(context.Background(), method, path, body, hdr...)
}

func (h *harness) doCtx(ctx context.Context, method, path string, body string, hdr ...string) reply {
	h.t.Helper()
	target := path
	if !strings.HasPrefix(path, "http") {
		target = h.gw.URL + path
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	require.NoError(h.t, err)
	req.Header.Set(api.SubscriptionKeyHeader, gatewayKey)
	req.Header.Set("Authorization", "Bearer client-token-should-not-travel")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return reply{status: -1, body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var dump strings.Builder
	dump.WriteString(resp.Status + "\n")
	_ = resp.Header.Write(&dump)
	dump.Write(b)
	h.mu.Lock()
	h.answers = append(h.answers, dump.String())
	h.mu.Unlock()
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// submit is a custom NER submit with one document.
func (h *harness) submit(project, deployment string) reply {
	h.t.Helper()
	return h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", submitBody(project, deployment))
}

func submitBody(project, deployment string) string {
	return `{"displayName":"t","analysisInput":{"documents":[{"id":"1","language":"en","text":"Contoso signed in Seattle."}]},` +
		`"tasks":[{"kind":"CustomEntityRecognition","taskName":"ner","parameters":{"projectName":"` + project +
		`","deploymentName":"` + deployment + `","stringIndexType":"Utf16CodeUnit"},"futureTaskField":{"a":1}}],"futureTopField":[1,2]}`
}

// assertNoSecrets scans every answer, log line and span for a region key,
// the gateway key or a region host.
func (h *harness) assertNoSecrets() {
	h.t.Helper()
	var corpus []string
	h.mu.Lock()
	corpus = append(corpus, h.answers...)
	h.mu.Unlock()
	corpus = append(corpus, h.logs.String())
	for _, s := range h.spans.Ended() {
		var b strings.Builder
		b.WriteString(s.Name() + " " + s.Status().Description)
		for _, a := range s.Attributes() {
			b.WriteString(" " + string(a.Key) + "=" + a.Value.String())
		}
		for _, e := range s.Events() {
			b.WriteString(" " + e.Name)
			for _, a := range e.Attributes {
				b.WriteString(" " + string(a.Key) + "=" + a.Value.String())
			}
		}
		corpus = append(corpus, b.String())
	}
	var rm metricdata.ResourceMetrics
	_ = h.metrics.Collect(context.Background(), &rm)
	mb, _ := json.Marshal(rm)
	corpus = append(corpus, string(mb))
	for _, text := range corpus {
		lower := strings.ToLower(text)
		for _, s := range h.secrets {
			assert.False(h.t, s != "" && strings.Contains(lower, strings.ToLower(s)), "secret or region host %q leaked in:\n%s", s, text)
		}
	}
}

// collect reads every metric the proxy recorded so far.
func (h *harness) collect() metricdata.ResourceMetrics {
	h.t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(h.t, h.metrics.Collect(context.Background(), &rm))
	return rm
}

// counter sums a counter's data points whose attributes include all of
// want.
func (h *harness) counter(name string, want map[string]string) int64 {
	h.t.Helper()
	return metrictest.Counter(h.t, h.metrics, name, want)
}

// gauge reads an int64 gauge's value (the sum over its points).
func (h *harness) gauge(name string) int64 {
	h.t.Helper()
	var n int64
	for _, sm := range h.collect().ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == name {
				for _, dp := range g.DataPoints {
					n += dp.Value
				}
			}
		}
	}
	return n
}

// jobID is the last path segment of an operation-location.
func jobID(t testing.TB, opLoc string) string {
	t.Helper()
	u, err := url.Parse(opLoc)
	require.NoError(t, err, "operation-location %q: %v", opLoc, err)
	seg := u.Path[strings.LastIndex(u.Path, "/")+1:]
	return strings.TrimSuffix(seg, api.CancelSuffix)
}

// eventually waits for cond, which another goroutine makes true; it asserts
// nothing about how long that takes.
func eventually(t testing.TB, cond func() bool) {
	t.Helper()
	wait.Until(t, "a condition another goroutine makes true (10s)", 10*time.Second, time.Millisecond, cond)
}
