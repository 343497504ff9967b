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
	"nergateway/internal/secret"
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
	rt := inProcess{}
	for i, name := range []string{"westus2", "eastus"} {
		f := newFakeHandler(name)
		rt[f.host] = f
		eu, _ := url.Parse(f.URL())
		role := region.RolePrimary
		if i > 0 {
			role = region.RoleSecondary
		}
		r, err := region.New(region.Config{Name: name, Role: role, Endpoint: eu, Key: secret.Secret(f.key),
			ConsecutiveFailures: failures, OpenTimeout: openTimeout})
		if err != nil {
			t.Fatal(err)
		}
		b.regions, b.fakes = append(b.regions, r), append(b.fakes, f)
	}
	c := Config{Regions: b.regions, Transport: rt}
	if cfg != nil {
		cfg(&c)
	}
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
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
	if rec.Code != http.StatusAccepted {
		b.t.Fatalf("submit: %d %s", rec.Code, rec.Body)
	}
	_, idx, ok := decodeToken(jobID(b.t, rec.Header().Get("Operation-Location")))
	if !ok {
		b.t.Fatal("no token")
	}
	return idx
}

func TestBreakerHalfOpenIsLastResortAndClosesOnSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, 2, 30*time.Second, nil)
		primary, secondary := b.fakes[0], b.fakes[1]
		primary.Always(http.StatusServiceUnavailable)
		b.owner(b.submit())
		b.owner(b.submit())
		if b.regions[0].State() != region.StateOpen {
			t.Fatalf("primary %s", b.regions[0].State())
		}

		time.Sleep(31 * time.Second)
		if b.regions[0].State() != region.StateHalfOpen {
			t.Fatalf("primary %s after the open timeout", b.regions[0].State())
		}
		// Half-open: the probe's trial, not the clients'. The secondary
		// serves.
		calls := primary.TotalCalls()
		if b.owner(b.submit()) != 1 || primary.TotalCalls() != calls {
			t.Fatal("a client request paid for the half-open trial")
		}

		// The secondary fails too and opens: now the half-open primary is
		// the last resort, and its success closes it (failback).
		secondary.Always(http.StatusInternalServerError)
		for range 2 {
			if rec := b.submit(); rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("submit with only the secondary failing: %d", rec.Code)
			}
		}
		if b.regions[1].State() != region.StateOpen {
			t.Fatalf("secondary %s", b.regions[1].State())
		}
		primary.Always(0)
		if b.owner(b.submit()) != 0 {
			t.Fatal("the half-open primary was not tried as the last resort")
		}
		if b.regions[0].State() != region.StateClosed {
			t.Errorf("primary %s after a successful trial", b.regions[0].State())
		}
	})
}

func TestParkingEndsAtRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, 5, 30*time.Second, nil)
		primary := b.fakes[0]
		primary.retryAft = "5"
		primary.Script(http.StatusTooManyRequests)
		if b.owner(b.submit()) != 1 {
			t.Fatal("429 did not fail over")
		}
		time.Sleep(4 * time.Second)
		if b.owner(b.submit()) != 1 {
			t.Fatal("primary used while parked")
		}
		time.Sleep(1500 * time.Millisecond)
		if b.owner(b.submit()) != 0 {
			t.Fatal("primary not used after its Retry-After")
		}
		if primary.TotalCalls() != 2 {
			t.Errorf("primary calls %d, want 2", primary.TotalCalls())
		}
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
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "7" {
			t.Fatalf("all regions failed: %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
		}
		calls := b.fakes[0].TotalCalls() + b.fakes[1].TotalCalls()
		time.Sleep(3 * time.Second)
		rec = b.submit()
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "4" {
			t.Fatalf("no region available: %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
		}
		if b.fakes[0].TotalCalls()+b.fakes[1].TotalCalls() != calls {
			t.Error("a region was called while none was available")
		}
		var e api.ErrorResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code != api.CodeServiceUnavailable {
			t.Errorf("body %s", rec.Body)
		}
	})
}
