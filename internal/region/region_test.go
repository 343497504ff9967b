package region

import (
	"encoding/json"
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
	require.NoError(t, err)
	return r
}

func fail(t *testing.T, r *Region, n int) {
	t.Helper()
	for range n {
		a, err := r.Begin()
		require.NoError(t, err, "Begin")
		a.Finish(Verdict{Outcome: OutcomeStatus5xx, Status: 503})
	}
}

func TestBreakerOpensHalfOpensAndClosesByOneTrial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var changes []string
		r := newTestRegion(t, &changes)
		fail(t, r, 2)
		require.Equal(t, StateClosed, r.State(), "after 2 failures, want closed")
		fail(t, r, 1)
		require.Equal(t, StateOpen, r.State(), "after 3 failures, want open")
		_, err := r.Begin()
		require.ErrorIs(t, err, ErrBreakerOpen, "Begin while open, want ErrBreakerOpen")
		require.WithinDuration(t, time.Now().Add(30*time.Second), r.OpenUntil(), 0, "OpenUntil")
		time.Sleep(30*time.Second + time.Millisecond)
		require.Equal(t, StateHalfOpen, r.State(), "after open timeout, want half-open")
		trial, err := r.Begin()
		require.NoError(t, err, "trial")
		_, err = r.Begin()
		require.ErrorIs(t, err, ErrBreakerOpen, "second call during trial, want refused")
		trial.Finish(Verdict{Outcome: OutcomeOK, Status: 200})
		require.Equal(t, StateClosed, r.State(), "after successful trial, want closed")
		want := "closed>open,open>half-open,half-open>closed"
		got := strings.Join(changes, ",")
		assert.Equal(t, want, got, "transitions")
	})
}

func TestReleaseDoesNotCountAndSuccessResets(t *testing.T) {
	r := newTestRegion(t, nil)
	fail(t, r, 2)
	a, _ := r.Begin()
	a.Release() // a client cancel says nothing about the region
	got := r.Status().ConsecutiveFailures
	require.EqualValues(t, 2, got, "consecutive failures after release, want 2")
	a, _ = r.Begin()
	a.Finish(Verdict{Outcome: OutcomeClientError, Status: 404}) // a client's 404: the region is fine
	a.Finish(Verdict{Outcome: OutcomeTimeout})                  // ignored: attempt already ended
	fail(t, r, 2)
	require.Equal(t, StateClosed, r.State(), "success should reset the run of failures; state")
}

func TestParkKeepsLatestDeadlinePerScopeAndCaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newTestRegion(t, nil) // MaxPark: the default, 60s
		later := time.Now().Add(40 * time.Second)
		r.Park(ScopeAuthoringWrite, later)
		r.Park(ScopeAuthoringWrite, later.Add(-30*time.Second))
		got := r.ParkedUntil(ScopeAuthoringWrite)
		require.WithinDuration(t, later, got, 0, "ParkedUntil")
		got = r.ParkedUntil(ScopeRuntime)
		require.True(t, got.IsZero(), "an authoring write 429 parked runtime until %v", got)
		r.Park(ScopeAuthoringRead, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC))
		got, want := r.ParkedUntil(ScopeAuthoringRead), time.Now().Add(DefaultMaxPark)
		require.WithinDuration(t, want, got, 0, "a 2099 park ends, want the cap")
		s := r.Status()
		require.Len(t, s.Parked, 2, "status parked")
		require.WithinDuration(t, later.UTC(), s.Parked["authoring_write"], 0, "status parked")
		time.Sleep(DefaultMaxPark)
		require.Nil(t, r.Status().Parked, "parking outlived the cap")
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
	assert.LessOrEqual(t, len(s.RecentFailures), recentLimit, "recent failures, want at most")
	assert.False(t, s.LastProbe == nil || s.LastProbe.LatencyMS != 1.5, "last probe = %+v, want latency 1.5ms", s.LastProbe)
	b, _ := json.Marshal(s)
	for _, leak := range []string{"region-key-123", "secret-host"} {
		assert.NotContains(t, string(b), leak, "status leaks %q: %s", leak, b)
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
		_, err := New(cfg)
		assert.Error(t, err, "%s: New succeeded", name)
	}
}

// TestBeginTrialOutsideTheBreaker: a trial is admitted while the breaker
// is open; its failure is kept for /status and its success ends the
// scope's parking, but the breaker counts neither.
func TestBeginTrialOutsideTheBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newTestRegion(t, nil)
		fail(t, r, 3)
		require.Equal(t, StateOpen, r.State(), "after 3 failures opened at")
		require.WithinDuration(t, time.Now(), r.OpenedAt(), 0, "after 3 failures opened at")
		r.BeginTrial().Finish(Verdict{Outcome: OutcomeStatus5xx, Status: 503})
		n := len(r.Status().RecentFailures)
		assert.Equal(t, 4, n, "recent failures, want the trial's kept too (4)")
		r.Park(ScopeRuntime, time.Now().Add(time.Minute))
		r.BeginTrial().Finish(Verdict{Outcome: OutcomeOK, Status: 200, Scope: ScopeRuntime})
		assert.True(t, r.ParkedUntil(ScopeRuntime).IsZero(), "a trial's success did not end the scope's parking")
		assert.Equal(t, StateOpen, r.State(), "breaker, requests: a trial must not count")
		assert.EqualValues(t, 0, r.breaker.Counts().Requests, "breaker, requests: a trial must not count")
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
