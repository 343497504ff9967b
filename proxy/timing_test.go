package proxy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"nergateway/api"
	"nergateway/internal/region"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Breaker and parking timing, exactly: these tests run in a synctest
// bubble (the breakers' clock and the proxy's are the bubble's fake clock)
// with the fake regions served in process through the Transport, so
// time.Sleep moves time without waiting for it.

// inProcess routes requests to fake regions by host, without a network.
type inProcess map[string]*fakeRegion

func (m inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	f, ok := m[r.URL.Host]
	if !ok {
		return nil, &url.Error{Op: r.Method, URL: r.URL.String(), Err: errRefused}
	}
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, r)
	return rec.Result(), nil
}

var errRefused = &timeoutlessErr{"connect: connection refused"}

type timeoutlessErr struct{ s string }

func (e *timeoutlessErr) Error() string { return e.s }

type bubble struct {
	t       *testing.T
	p       *Proxy
	regions []*region.Region
	fakes   []*fakeRegion
}

func newBubble(t *testing.T, failures uint32, openTimeout time.Duration, cfg func(*Config)) *bubble {
	b := &bubble{t: t}
	var rt inProcess
	rt, b.regions, b.fakes = inProcessPair(t, region.Config{ConsecutiveFailures: failures, OpenTimeout: openTimeout})
	c := Config{Regions: b.regions, Transport: rt}
	if cfg != nil {
		cfg(&c)
	}
	p, err := New(c)
	require.NoError(t, err)
	b.p = p
	return b
}

func (b *bubble) submit() *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "http://gw.test"+api.JobsPath+"?api-version=2023-04-01", strings.NewReader(submitBody("proj", "prod")))
	rec := httptest.NewRecorder()
	b.p.ServeHTTP(rec, req)
	return rec
}

func (b *bubble) owner(rec *httptest.ResponseRecorder) int {
	b.t.Helper()
	require.Equal(b.t, http.StatusAccepted, rec.Code, "submit: %d %s", rec.Code, rec.Body)
	_, idx, ok := decodeToken(jobID(b.t, rec.Header().Get("Operation-Location")))
	require.True(b.t, ok, "no token")
	return idx
}

func TestBreakerHalfOpenIsLastResortAndClosesOnSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, 2, 30*time.Second, nil)
		primary, secondary := b.fakes[0], b.fakes[1]
		primary.Always(http.StatusServiceUnavailable)
		b.owner(b.submit())
		b.owner(b.submit())
		require.Equal(t, region.StateOpen, b.regions[0].State(), "primary")

		time.Sleep(31 * time.Second)
		require.Equal(t, region.StateHalfOpen, b.regions[0].State(), "primary after the open timeout")
		// Half-open: the probe's trial, not the clients'. The secondary
		// serves.
		calls := primary.TotalCalls()
		require.Equal(t, 1, b.owner(b.submit()), "a client request paid for the half-open trial")
		require.Equal(t, calls, primary.TotalCalls(), "a client request paid for the half-open trial")

		// The secondary fails too and opens: now the half-open primary is
		// the last resort, and its success closes it (failback).
		secondary.Always(http.StatusInternalServerError)
		for range 2 {
			rec := b.submit()
			require.Equal(t, http.StatusServiceUnavailable, rec.Code, "submit with only the secondary failing")
		}
		require.Equal(t, region.StateOpen, b.regions[1].State(), "secondary")
		primary.Always(0)
		require.Equal(t, 0, b.owner(b.submit()), "the half-open primary was not tried as the last resort")
		assert.Equal(t, region.StateClosed, b.regions[0].State(), "primary after a successful trial")
	})
}

func TestParkingEndsAtRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, 5, 30*time.Second, nil)
		primary := b.fakes[0]
		primary.retryAft = "5"
		primary.Script(http.StatusTooManyRequests)
		require.Equal(t, 1, b.owner(b.submit()), "429 did not fail over")
		time.Sleep(4 * time.Second)
		require.Equal(t, 1, b.owner(b.submit()), "primary used while parked")
		time.Sleep(1500 * time.Millisecond)
		require.Equal(t, 0, b.owner(b.submit()), "primary not used after its Retry-After")
		assert.Equal(t, 2, primary.TotalCalls(), "primary calls, want 2")
	})
}

func TestRetryAfterWhenNoRegionCanServe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, 1, 30*time.Second, func(c *Config) { c.OpenRetryAfter = 25 * time.Second })
		b.fakes[0].Always(http.StatusServiceUnavailable)
		b.fakes[1].retryAft = "7"
		b.fakes[1].Always(http.StatusTooManyRequests)
		// Primary fails (opens), secondary 429 (parked 7 s).
		rec := b.submit()
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, "all regions failed Retry-After")
		require.Equal(t, "7", rec.Header().Get("Retry-After"), "all regions failed Retry-After")
		calls := b.fakes[0].TotalCalls() + b.fakes[1].TotalCalls()
		time.Sleep(3 * time.Second)
		rec = b.submit()
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, "no region available Retry-After")
		require.Equal(t, "4", rec.Header().Get("Retry-After"), "no region available Retry-After")
		assert.Equal(t, calls, b.fakes[0].TotalCalls()+b.fakes[1].TotalCalls(), "a region was called while none was available")
		var e api.ErrorResponse
		err := json.Unmarshal(rec.Body.Bytes(), &e)
		if assert.NoError(t, err, "body %s", rec.Body) {
			assert.Equal(t, api.CodeServiceUnavailable, e.Error.Code, "body %s", rec.Body)
		}
	})
}
