package region

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		a.Finish(Verdict{Outcome: OutcomeStatus5xx, Status: 503})
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
		trial.Finish(Verdict{Outcome: OutcomeOK, Status: 200})
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
	a.Finish(Verdict{Outcome: OutcomeClientError, Status: 404}) // a client's 404: the region is fine
	a.Finish(Verdict{Outcome: OutcomeTimeout})                  // ignored: attempt already ended
	fail(t, r, 2)
	if r.State() != StateClosed {
		t.Fatalf("success should reset the run of failures; state %s", r.State())
	}
}

func TestParkKeepsLatestDeadlinePerScopeAndCaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newTestRegion(t, nil) // MaxPark: the default, 60s
		later := time.Now().Add(40 * time.Second)
		r.Park(ScopeAuthoringWrite, later)
		r.Park(ScopeAuthoringWrite, later.Add(-30*time.Second))
		if got := r.ParkedUntil(ScopeAuthoringWrite); !got.Equal(later) {
			t.Fatalf("ParkedUntil = %v, want %v", got, later)
		}
		if got := r.ParkedUntil(ScopeRuntime); !got.IsZero() {
			t.Fatalf("an authoring write 429 parked runtime until %v", got)
		}
		r.Park(ScopeAuthoringRead, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC))
		if got, want := r.ParkedUntil(ScopeAuthoringRead), time.Now().Add(DefaultMaxPark); !got.Equal(want) {
			t.Fatalf("a 2099 park ends %v, want the cap %v", got, want)
		}
		s := r.Status()
		if len(s.Parked) != 2 || !s.Parked["authoring_write"].Equal(later.UTC()) {
			t.Fatalf("status parked = %v", s.Parked)
		}
		time.Sleep(DefaultMaxPark)
		if got := r.Status().Parked; got != nil {
			t.Fatalf("parking outlived the cap: %v", got)
		}
	})
}

func TestStatusHasNoSecretsAndKeepsRecentFailures(t *testing.T) {
	r := newTestRegion(t, nil)
	for range recentLimit + 3 {
		a, err := r.Begin()
		if err != nil {
			break
		}
		a.Finish(Verdict{Outcome: OutcomeTimeout})
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

// TestBeginTrialOutsideTheBreaker: a trial is admitted while the breaker
// is open; its failure is kept for /status and its success ends the
// scope's parking, but the breaker counts neither.
func TestBeginTrialOutsideTheBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newTestRegion(t, nil)
		fail(t, r, 3)
		if r.State() != StateOpen || !r.OpenedAt().Equal(time.Now()) {
			t.Fatalf("after 3 failures: %s opened at %v", r.State(), r.OpenedAt())
		}
		r.BeginTrial().Finish(Verdict{Outcome: OutcomeStatus5xx, Status: 503})
		if n := len(r.Status().RecentFailures); n != 4 {
			t.Errorf("recent failures %d, want the trial's kept too (4)", n)
		}
		r.Park(ScopeRuntime, time.Now().Add(time.Minute))
		r.BeginTrial().Finish(Verdict{Outcome: OutcomeOK, Status: 200, Scope: ScopeRuntime})
		if !r.ParkedUntil(ScopeRuntime).IsZero() {
			t.Error("a trial's success did not end the scope's parking")
		}
		if r.State() != StateOpen || r.breaker.Counts().Requests != 0 {
			t.Errorf("breaker %s, %d requests: a trial must not count", r.State(), r.breaker.Counts().Requests)
		}
	})
}

// fakeCredential is an Authorizer whose token can be lost.
type fakeCredential struct{ status CredentialStatus }

func (f *fakeCredential) Authorize(*http.Request) error {
	if !f.status.Up {
		return &NoCredentialError{Credential: "Microsoft Entra ID", Reason: "the identity provider did not answer", RetryAfter: time.Second}
	}
	return nil
}
func (f *fakeCredential) Credential() CredentialStatus { return f.status }

// A call the gateway cannot authorize is its own failure: however many,
// they never open the region's breaker, count as its failures or park it,
// and /status shows the credential's state.
func TestNoCredentialNeverChargesTheRegion(t *testing.T) {
	u, _ := url.Parse("https://westus2.example/")
	cred := &fakeCredential{status: CredentialStatus{Kind: "entra", Up: false, Error: "the identity provider did not answer"}}
	r, err := New(Config{Name: "westus2", Role: RolePrimary, Endpoint: u, Authorizer: cred, ConsecutiveFailures: 3})
	require.NoError(t, err)
	for range 10 {
		a, err := r.Begin()
		require.NoError(t, err)
		req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
		v := r.Judge(Answer{Err: fmt.Errorf("authorize: %w", r.Authorize(req))}, time.Now())
		require.Equal(t, OutcomeNoCredential, v.Outcome)
		a.Finish(v)
	}
	st := r.Status()
	assert.Equal(t, StateClosed, st.Breaker)
	assert.Zero(t, st.ConsecutiveFailures)
	assert.Empty(t, st.RecentFailures)
	assert.Empty(t, st.Parked)
	assert.Equal(t, cred.status, st.Credential)
	assert.False(t, r.CredentialUp())

	cred.status = CredentialStatus{Kind: "entra", Up: true}
	assert.True(t, r.CredentialUp())
	keyed := newTestRegion(t, nil)
	assert.Equal(t, CredentialStatus{Kind: "key", Up: true}, keyed.Credential(), "a key is always held")
}
