package proxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"nergateway/api"
	"nergateway/internal/region"
	"nergateway/internal/secret"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cannedRegion answers every submit 202 and every poll with a finished
// job, from bytes made once, so an allocation count through it is the
// proxy's own (plus a fixed few for the response it builds).
type cannedRegion struct {
	host, jobID string
	jobBody     []byte
}

func (c *cannedRegion) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}, Request: r}
	if r.Method == http.MethodPost {
		resp.StatusCode = http.StatusAccepted
		resp.Header["Operation-Location"] = []string{"http://" + c.host + api.JobsPath + "/" + c.jobID + "?api-version=2023-04-01"}
		resp.Body = http.NoBody
		return resp, nil
	}
	resp.ContentLength = int64(len(c.jobBody))
	resp.Body = io.NopCloser(bytes.NewReader(c.jobBody))
	return resp, nil
}

// allocProxy is the proxy as cmd/gateway builds it (SDK tracer and meter
// providers, nothing exporting) in front of a canned primary and secondary.
func allocProxy(t testing.TB) *Proxy {
	t.Helper()
	primary := &cannedRegion{host: "westus2.canned.test", jobID: newV4()}
	primary.jobBody = jobBody(primary.host, primary.jobID, "proj")
	var regions []*region.Region
	for i, host := range []string{primary.host, "eastus.canned.test"} {
		role := region.RolePrimary
		if i > 0 {
			role = region.RoleSecondary
		}
		eu, _ := url.Parse("http://" + host)
		r, err := region.New(region.Config{Name: strings.Split(host, ".")[0], Role: role, Endpoint: eu, Key: secret.Secret("k" + host)})
		require.NoError(t, err)
		regions = append(regions, r)
	}
	p, err := New(Config{
		Regions:        regions,
		Transport:      primary,
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample())),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())),
		Propagator:     propagation.TraceContext{},
	})
	require.NoError(t, err)
	runProxy(t, p) // as cmd/gateway runs it: submits are sent by a goroutine that can follow them
	return p
}

// Allocation ceilings per request through the proxy, measured in process
// (no network, no -race) and set a little above what the code does today
// (54 allocations and about 10.1 KB for a submit, 45 and 14.1 KB for a
// poll, of which about 15 allocations and 5 KB are the test's own request,
// recorder and canned answer; 4 of the submit's, 0.7 KB, are its exchange,
// context and followed body, which let an orphaned submit be cancelled). A change that allocates more per request on
// the hot path fails here: allocations, and the bytes they take, are what
// the collector pays for on every request (the bytes set how often it
// runs). Lower a ceiling when the figure goes down.
const (
	maxAllocsSubmit = 58
	maxAllocsPoll   = 49
	maxBytesSubmit  = 10752 // 10.5 KiB
	maxBytesPoll    = 15 << 10
)

// TestAllocsPerRequest guards the allocations of a submit and of a poll.
// It runs in CI without -race (.ci/run), where sync.Pool and escape
// analysis behave as in production.
func TestAllocsPerRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts; .ci/run runs this test without -race")
	}
	p := allocProxy(t)
	body := submitBody("proj", "prod")
	submit := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "http://gw.test"+api.JobsPath+"?api-version=2023-04-01", strings.NewReader(body))
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted { // checked first: the measured loop must not allocate for the assertion
			require.Failf(t, "submit", "%d %s", rec.Code, rec.Body)
		}
		return rec
	}
	opLoc := submit().Header().Get("Operation-Location")
	poll := func() {
		req := httptest.NewRequest(http.MethodGet, opLoc, nil)
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			require.Failf(t, "poll", "%d %s", rec.Code, rec.Body)
		}
	}
	for _, c := range []struct {
		name     string
		max      float64
		maxBytes uint64
		f        func()
	}{
		{"submit", maxAllocsSubmit, maxBytesSubmit, func() { submit() }},
		{"poll", maxAllocsPoll, maxBytesPoll, poll},
	} {
		got := testing.AllocsPerRun(200, c.f)
		t.Logf("%s: %.0f allocations per request (ceiling %.0f)", c.name, got, c.max)
		assert.LessOrEqual(t, got, c.max, "%s: %.0f allocations per request, more than the ceiling %.0f", c.name, got, c.max)
		bytes := bytesPerRun(200, c.f)
		t.Logf("%s: %d bytes allocated per request (ceiling %d)", c.name, bytes, c.maxBytes)
		assert.LessOrEqual(t, bytes, c.maxBytes, "%s: %d bytes allocated per request, more than the ceiling %d", c.name, bytes, c.maxBytes)
	}
}

// bytesPerRun is testing.AllocsPerRun for bytes: the heap bytes f
// allocates per call, averaged over runs after one warm-up call.
func bytesPerRun(runs int, f func()) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// BenchmarkRequest is the same two requests for -benchmem.
func BenchmarkRequest(b *testing.B) {
	p := allocProxy(b)
	body := submitBody("proj", "prod")
	req := httptest.NewRequest(http.MethodPost, "http://gw.test"+api.JobsPath+"?api-version=2023-04-01", strings.NewReader(body))
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, req)
	opLoc := rec.Header().Get("Operation-Location")
	b.Run("submit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "http://gw.test"+api.JobsPath+"?api-version=2023-04-01", strings.NewReader(body))
			p.ServeHTTP(httptest.NewRecorder(), req)
		}
	})
	b.Run("poll", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, opLoc, nil))
		}
	})
}
