package health

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"nergateway/internal/region"
	"nergateway/internal/testkit/loopback"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const regionKey = "region-key-not-for-status"

func newRegion(t *testing.T, endpoint string, failures uint32, open time.Duration) *region.Region {
	t.Helper()
	u, err := url.Parse(endpoint)
	require.NoError(t, err)
	r, err := region.New(region.Config{Name: "westus2", Role: region.RolePrimary, Endpoint: u,
		Key: regionKey, ConsecutiveFailures: failures, OpenTimeout: open})
	require.NoError(t, err)
	return r
}

// statusServer answers every probe with the status held in code.
func statusServer(t *testing.T, code *atomic.Int32, seen chan<- *http.Request) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen != nil {
			select {
			case seen <- r.Clone(context.Background()):
			default:
			}
		}
		if code.Load() == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(int(code.Load()))
		_, _ = w.Write([]byte(`{"value":[]}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestProbeSendsDesignCallAndVerdicts(t *testing.T) {
	var code atomic.Int32
	seen := make(chan *http.Request, 1)
	srv := statusServer(t, &code, seen)
	r := newRegion(t, srv.URL, 100, time.Minute)
	p, err := NewProber(ProberConfig{Regions: []Region{r}, APIVersion: "2023-04-01"})
	require.NoError(t, err)

	code.Store(200)
	res := p.Probe(t.Context(), r)
	assert.True(t, res.Healthy)
	req := <-seen
	assert.Equal(t, "/language/authoring/analyze-text/projects", req.URL.Path)
	assert.Equal(t, "2023-04-01", req.URL.Query().Get("api-version"))
	assert.Equal(t, "1", req.URL.Query().Get("top"))
	assert.Equal(t, regionKey, req.Header.Get("Ocp-Apim-Subscription-Key"))

	for _, c := range []int{500, 503, 401, 403} {
		code.Store(int32(c))
		res := p.Probe(t.Context(), r)
		assert.False(t, res.Healthy, "status %d", c)
		assert.Equal(t, c, res.Status)
	}
	assert.Equal(t, uint32(4), r.Status().ConsecutiveFailures, "5xx/401/403 count against the breaker")

	code.Store(429)
	res = p.Probe(t.Context(), r)
	assert.False(t, res.Healthy)
	assert.Equal(t, uint32(4), r.Status().ConsecutiveFailures, "429 does not count")
	assert.WithinDuration(t, time.Now().Add(7*time.Second), r.ParkedUntil(region.ScopeAuthoringRead), 2*time.Second, "429 parks authoring reads by Retry-After")
	assert.True(t, r.ParkedUntil(region.ScopeRuntime).IsZero(), "a probe's 429 says nothing about runtime calls")

	code.Store(404)
	p.Probe(t.Context(), r)
	assert.Equal(t, uint32(4), r.Status().ConsecutiveFailures, "a probe's 4xx does not count")
	code.Store(200)
	assert.True(t, p.Probe(t.Context(), r).Healthy)
	assert.True(t, r.ParkedUntil(region.ScopeAuthoringRead).IsZero(), "a 200 from the parked scope ends its parking")
}

func TestProbeConnectionErrorsAndTimeouts(t *testing.T) {
	dead := "http://" + loopback.FreeAddr(t)

	r := newRegion(t, dead, 100, time.Minute)
	p, err := NewProber(ProberConfig{Regions: []Region{r}})
	require.NoError(t, err)
	res := p.Probe(t.Context(), r)
	assert.False(t, res.Healthy)
	assert.Equal(t, region.OutcomeConnectionError, res.Outcome)
	assert.Contains(t, res.Error, "connection refused")
	assert.NotContains(t, res.Error, "127.0.0.1", "probe errors never name the host")
	assert.Equal(t, region.Failure{At: r.Status().RecentFailures[0].At, Reason: region.OutcomeConnectionError, Probe: true}, r.Status().RecentFailures[0])

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	r2 := newRegion(t, slow.URL, 100, time.Minute)
	p2, err := NewProber(ProberConfig{Regions: []Region{r2}, Timeout: 20 * time.Millisecond})
	require.NoError(t, err)
	res = p2.Probe(t.Context(), r2)
	assert.Equal(t, "timeout", res.Error)
	assert.Equal(t, region.OutcomeTimeout, res.Outcome)
}

// roundTripFunc lets probes run inside a synctest bubble without sockets.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestProbesOpenBreakerThenFailBackAfterOpenTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var code atomic.Int32
		code.Store(503)
		var calls atomic.Int32
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			calls.Add(1)
			return &http.Response{StatusCode: int(code.Load()), Body: http.NoBody, Header: http.Header{}}, nil
		})}
		r := newRegion(t, "https://region.invalid", 3, 30*time.Second)
		p, err := NewProber(ProberConfig{Regions: []Region{r}, Interval: 10 * time.Second, Client: client})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = p.Run(ctx); close(done) }()

		synctest.Wait() // first probe at start
		time.Sleep(20*time.Second + time.Millisecond)
		synctest.Wait()
		assert.Equal(t, region.StateOpen, r.State(), "3 failed probes open the breaker")
		assert.Equal(t, int32(3), calls.Load())

		code.Store(200)
		time.Sleep(20 * time.Second) // still inside the 30s open timeout: probes are skipped
		synctest.Wait()
		assert.Equal(t, int32(3), calls.Load(), "no probe is sent while the breaker is open")
		assert.True(t, r.Status().LastProbe.Skipped)

		time.Sleep(20 * time.Second) // past the open timeout: the probe is the half-open trial
		synctest.Wait()
		assert.Equal(t, region.StateClosed, r.State(), "one successful probe closes the breaker")
		assert.Equal(t, int32(4), calls.Load())

		cancel()
		<-done
	})
}

func TestReadinessAndStatus(t *testing.T) {
	var code atomic.Int32
	code.Store(503)
	srv := statusServer(t, &code, nil)
	a := newRegion(t, srv.URL, 1, time.Hour)
	b := newRegion(t, srv.URL, 1, time.Hour)
	c := NewChecker([]RegionStatus{a, b}, Build{}, func() []string { return []string{"demo: in-sync"} }, noSection)
	p, err := NewProber(ProberConfig{Regions: []Region{a, b}})
	require.NoError(t, err)

	get := func(h http.Handler) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		return rec.Code, rec.Body.String()
	}
	code200, _ := get(c.HandleReadyz())
	assert.Equal(t, 200, code200)

	p.Probe(t.Context(), a)
	code1, _ := get(c.HandleReadyz())
	assert.Equal(t, 200, code1, "one region open, the other can still serve")

	p.Probe(t.Context(), b)
	code2, body := get(c.HandleReadyz())
	assert.Equal(t, 503, code2, "every breaker open")
	assert.Contains(t, body, "no region")

	healthz, _ := get(c.HandleHealthz())
	assert.Equal(t, 200, healthz, "liveness does not depend on regions")

	st, body := get(c.HandleStatus())
	assert.Equal(t, 200, st)
	var rep StatusReport[[]string, struct{}]
	require.NoError(t, json.Unmarshal([]byte(body), &rep))
	assert.False(t, rep.Ready)
	require.Len(t, rep.Regions, 2)
	assert.Equal(t, region.StateOpen, rep.Regions[0].Breaker)
	assert.NotNil(t, rep.Regions[0].LastProbe)
	assert.Contains(t, body, "demo: in-sync")
	host := strings.TrimPrefix(srv.URL, "http://")
	assert.NotContains(t, body, regionKey)
	assert.NotContains(t, body, host)
}

// noSection is a /status section the test does not look at.
func noSection() struct{} { return struct{}{} }

func TestDrainingTurnsReadinessOff(t *testing.T) {
	srv := statusServer(t, new(atomic.Int32), nil)
	c := NewChecker([]RegionStatus{newRegion(t, srv.URL, 1, time.Hour)}, Build{}, noSection, noSection)
	rec := httptest.NewRecorder()
	c.HandleReadyz().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	assert.Equal(t, 200, rec.Code)
	c.Drain()
	rec = httptest.NewRecorder()
	c.HandleReadyz().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	assert.Equal(t, 503, rec.Code)
	assert.Contains(t, rec.Body.String(), "draining")
}

// tokenless is an Authorizer that holds no valid token until up is set.
type tokenless struct{ up atomic.Bool }

func (a *tokenless) Authorize(*http.Request) error {
	if !a.up.Load() {
		return &region.NoCredentialError{Credential: "Microsoft Entra ID", Reason: "the identity provider did not answer within 10s", RetryAfter: time.Second}
	}
	return nil
}

func (a *tokenless) Credential() region.CredentialStatus {
	return region.CredentialStatus{Kind: "entra", Up: a.up.Load()}
}

// Without a valid token the gateway is not ready, steadily and saying why,
// however many probes run; the probes are skipped (nothing sent, nothing
// logged, the breaker never charged). Ready again as soon as a token is
// held, before any probe.
func TestNoCredentialIsTheGatewaysFailure(t *testing.T) {
	var sent atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sent.Add(1) }))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	auth := &tokenless{}
	r, err := region.New(region.Config{Name: "westus2", Role: region.RolePrimary, Endpoint: u, Authorizer: auth, ConsecutiveFailures: 1})
	require.NoError(t, err)
	var logs strings.Builder
	p, err := NewProber(ProberConfig{Regions: []Region{r}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	c := NewChecker([]RegionStatus{r}, Build{}, noSection, noSection)
	for range 5 {
		res := p.Probe(t.Context(), r)
		assert.True(t, res.Skipped)
		assert.Equal(t, region.OutcomeNoCredential, res.Outcome)
		ok, why := c.Ready()
		assert.False(t, ok)
		assert.Equal(t, "no region can take traffic: the gateway holds no valid credential for westus2", why)
	}
	assert.Zero(t, sent.Load(), "nothing was sent")
	assert.Equal(t, region.StateClosed, r.State())
	assert.Zero(t, r.Status().ConsecutiveFailures)
	assert.Empty(t, logs.String())

	auth.up.Store(true)
	ok, _ := c.Ready()
	assert.True(t, ok, "ready the moment a token is held")
}
