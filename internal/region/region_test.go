package region

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func newTestRegion(t *testing.T, changes *[]string) *Region {
	t.Helper()
	u, _ := url.Parse("https://westus2-secret-host.example/")
	r, err := New(Config{
		Name: "westus2", Role: RolePrimary, Endpoint: u, Key: "region-key-123",
		ConsecutiveFailures: 3, OpenTimeout: 30 * time.Second,
		OnStateChange: func(name string, from, to State) {
			if changes != nil {
				*changes = append(*changes, string(from)+">"+string(to))
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func fail(t *testing.T, r *Region, n int) {
	t.Helper()
	for range n {
		a, err := r.Begin()
		if err != nil {
			t.Fatalf("Begin: %v", err)
		}
		a.Fail("status_503")
	}
}

func TestBreakerOpensHalfOpensAndClosesByOneTrial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var changes []string
		r := newTestRegion(t, &changes)
		fail(t, r, 2)
		if r.State() != StateClosed {
			t.Fatalf("after 2 failures: %s, want closed", r.State())
		}
		fail(t, r, 1)
		if r.State() != StateOpen {
			t.Fatalf("after 3 failures: %s, want open", r.State())
		}
		if _, err := r.Begin(); !errors.Is(err, ErrBreakerOpen) {
			t.Fatalf("Begin while open: %v, want ErrBreakerOpen", err)
		}
		if want := time.Now().Add(30 * time.Second); !r.OpenUntil().Equal(want) {
			t.Fatalf("OpenUntil = %v, want %v", r.OpenUntil(), want)
		}
		time.Sleep(30*time.Second + time.Millisecond)
		if r.State() != StateHalfOpen {
			t.Fatalf("after open timeout: %s, want half-open", r.State())
		}
		trial, err := r.Begin()
		if err != nil {
			t.Fatalf("trial: %v", err)
		}
		if _, err := r.Begin(); !errors.Is(err, ErrBreakerOpen) {
			t.Fatalf("second call during trial: %v, want refused", err)
		}
		trial.Succeed()
		if r.State() != StateClosed {
			t.Fatalf("after successful trial: %s, want closed", r.State())
		}
		want := "closed>open,open>half-open,half-open>closed"
		if got := strings.Join(changes, ","); got != want {
			t.Errorf("transitions %s, want %s", got, want)
		}
	})
}

func TestReleaseDoesNotCountAndSuccessResets(t *testing.T) {
	r := newTestRegion(t, nil)
	fail(t, r, 2)
	a, _ := r.Begin()
	a.Release() // a client cancel says nothing about the region
	if got := r.Status().ConsecutiveFailures; got != 2 {
		t.Fatalf("consecutive failures after release = %d, want 2", got)
	}
	a, _ = r.Begin()
	a.Succeed()
	a.Fail("ignored: attempt already ended")
	fail(t, r, 2)
	if r.State() != StateClosed {
		t.Fatalf("success should reset the run of failures; state %s", r.State())
	}
}

func TestParkKeepsLatestDeadline(t *testing.T) {
	r := newTestRegion(t, nil)
	later := time.Now().Add(time.Minute)
	r.Park(later)
	r.Park(later.Add(-30 * time.Second))
	if !r.ParkedUntil().Equal(later) {
		t.Fatalf("ParkedUntil = %v, want %v", r.ParkedUntil(), later)
	}
	if r.Status().ParkedUntil == nil {
		t.Fatal("status should show the parking")
	}
}

func TestStatusHasNoSecretsAndKeepsRecentFailures(t *testing.T) {
	r := newTestRegion(t, nil)
	for range recentLimit + 3 {
		a, err := r.Begin()
		if err != nil {
			break
		}
		a.Fail("timeout")
	}
	r.RecordProbe(ProbeResult{Healthy: false, Status: 503, Latency: 1500 * time.Microsecond})
	s := r.Status()
	if len(s.RecentFailures) > recentLimit {
		t.Errorf("recent failures %d, want at most %d", len(s.RecentFailures), recentLimit)
	}
	if s.LastProbe == nil || s.LastProbe.LatencyMS != 1.5 {
		t.Errorf("last probe = %+v, want latency 1.5ms", s.LastProbe)
	}
	b, _ := json.Marshal(s)
	for _, leak := range []string{"region-key-123", "secret-host"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("status leaks %q: %s", leak, b)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	u, _ := url.Parse("ftp://x")
	for name, cfg := range map[string]Config{
		"no name":     {Endpoint: u, Key: "k"},
		"bad scheme":  {Name: "a", Endpoint: u, Key: "k"},
		"no endpoint": {Name: "a", Key: "k"},
		"no key":      {Name: "a", Endpoint: &url.URL{Scheme: "https", Host: "h"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}
