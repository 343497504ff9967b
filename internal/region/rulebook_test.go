package region

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestJudge(t *testing.T) {
	now := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	r := newTestRegion(t, nil) // https://westus2-secret-host.example/, MaxPark 60s
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name string
		in   Answer
		want Outcome
		park time.Duration // expected ParkUntil - now; 0 for none
	}{
		{"200", Answer{Status: 200}, OutcomeOK, 0},
		{"202 own operation-location", Answer{Status: 202, Header: hdr("Operation-Location", "https://westus2-secret-host.example/language/analyze-text/jobs/x")}, OutcomeOK, 0},
		{"202 relative location", Answer{Status: 202, Header: hdr("Location", "/language/x")}, OutcomeOK, 0},
		{"302 foreign location", Answer{Status: 302, Header: hdr("Location", "https://attacker.example/steal")}, OutcomeBadResponse, 0},
		{"302 scheme-relative foreign", Answer{Status: 302, Header: hdr("Location", "//attacker.example/steal")}, OutcomeBadResponse, 0},
		{"202 foreign operation-location", Answer{Status: 202, Header: hdr("Operation-Location", "http://westus2-secret-host.example.attacker.example/x")}, OutcomeBadResponse, 0},
		{"202 foreign azure-asyncoperation", Answer{Status: 202, Header: hdr("Azure-AsyncOperation", "https://other.example/x")}, OutcomeBadResponse, 0},
		{"202 downgraded scheme", Answer{Status: 202, Header: hdr("Operation-Location", "http://westus2-secret-host.example/x")}, OutcomeBadResponse, 0},
		{"200 own nextLink", Answer{Status: 200, Links: []string{"https://westus2-secret-host.example/language/x?skip=5"}}, OutcomeOK, 0},
		{"200 foreign nextLink", Answer{Status: 200, Links: []string{"https://westus2-secret-host.example/x", "https://attacker.example/x"}}, OutcomeBadResponse, 0},
		{"400", Answer{Status: 400}, OutcomeClientError, 0},
		{"404", Answer{Status: 404}, OutcomeClientError, 0},
		{"401", Answer{Status: 401}, OutcomeAuthError, 0},
		{"403", Answer{Status: 403}, OutcomeAuthError, 0},
		{"500", Answer{Status: 500}, OutcomeStatus5xx, 0},
		{"503", Answer{Status: 503}, OutcomeStatus5xx, 0},
		{"429 no header", Answer{Status: 429}, OutcomeStatus429, time.Second},
		{"429 seconds", Answer{Status: 429, Header: hdr("Retry-After", "7")}, OutcomeStatus429, 7 * time.Second},
		{"429 999999", Answer{Status: 429, Header: hdr("Retry-After", "999999")}, OutcomeStatus429, time.Minute},
		{"429 2099 date", Answer{Status: 429, Header: hdr("Retry-After", "Thu, 01 Jan 2099 00:00:00 GMT")}, OutcomeStatus429, time.Minute},
		{"429 past date", Answer{Status: 429, Header: hdr("Retry-After", "Mon, 01 Jan 2001 00:00:00 GMT")}, OutcomeStatus429, time.Second},
		{"429 ms", Answer{Status: 429, Header: hdr("retry-after-ms", "2500")}, OutcomeStatus429, 2500 * time.Millisecond},
		{"429 garbage", Answer{Status: 429, Header: hdr("Retry-After", "soon")}, OutcomeStatus429, time.Second},
		{"timeout", Answer{Err: fmt.Errorf("get: %w", context.DeadlineExceeded)}, OutcomeTimeout, 0},
		{"net timeout", Answer{Err: timeoutErr{}}, OutcomeTimeout, 0},
		{"refused", Answer{Err: errors.New("connect: connection refused")}, OutcomeConnectionError, 0},
		{"too large", Answer{Status: 200, Err: fmt.Errorf("read: %w", ErrAnswerTooLarge)}, OutcomeBadResponse, 0},
		{"overloaded", Answer{Status: 200, Err: fmt.Errorf("read: %w", ErrOverloaded)}, OutcomeOverloaded, 0},
		{"canceled wins", Answer{Canceled: true, Err: context.Canceled, Status: 503}, OutcomeCanceled, 0},
		{"no credential", Answer{Err: fmt.Errorf("authorize: %w", &NoCredentialError{Credential: "c", Reason: "r"})}, OutcomeNoCredential, 0},
		{"no credential, its fetch timed out", Answer{Err: &NoCredentialError{Err: context.DeadlineExceeded}}, OutcomeNoCredential, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := r.Judge(tt.in, now)
			require.Equal(t, tt.want, v.Outcome, "outcome %s, want %s (cause %v)", v.Outcome, tt.want, v.Cause)
			var park time.Duration
			if !v.ParkUntil.IsZero() {
				park = v.ParkUntil.Sub(now)
			}
			require.Equal(t, tt.park, park, "parks for")
		})
	}
}

func TestScopeOf(t *testing.T) {
	for _, tt := range []struct {
		method    string
		authoring bool
		want      Scope
	}{
		{"POST", false, ScopeRuntime}, {"GET", false, ScopeRuntime},
		{"GET", true, ScopeAuthoringRead}, {"POST", true, ScopeAuthoringWrite},
		{"PATCH", true, ScopeAuthoringWrite}, {"DELETE", true, ScopeAuthoringWrite},
	} {
		got := ScopeOf(tt.method, tt.authoring)
		assert.Equal(t, tt.want, got, "ScopeOf(%s, %v) = %s, want %s", tt.method, tt.authoring, got, tt.want)
	}
}

// A probe's 429 (or 4xx) says nothing about runtime health: it neither
// opens nor closes the breaker, and it parks only the authoring-read scope.
func TestProbe429NeitherOpensNorCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newTestRegion(t, nil) // opens after 3 failures
		fail(t, r, 2)
		for range 5 {
			a, err := r.Begin()
			require.NoError(t, err)
			a.Finish(r.Judge(Answer{Scope: ScopeAuthoringRead, Probe: true, Status: 429,
				Header: http.Header{"Retry-After": {"Thu, 01 Jan 2099 00:00:00 GMT"}}}, time.Now()))
		}
		require.EqualValues(t, 2, r.Status().ConsecutiveFailures, "a probe 429 changed the failure run to (want 2: neither opens nor closes)")
		require.True(t, r.ParkedUntil(ScopeRuntime).IsZero(), "a probe 429 parked runtime calls")
		got, want := r.ParkedUntil(ScopeAuthoringRead), time.Now().Add(DefaultMaxPark)
		require.WithinDuration(t, want, got, 0, "authoring reads parked until")
		a, _ := r.Begin()
		a.Finish(r.Judge(Answer{Scope: ScopeAuthoringRead, Probe: true, Status: 404}, time.Now()))
		require.EqualValues(t, 2, r.Status().ConsecutiveFailures, "a probe 404 changed the failure run")
		a, _ = r.Begin()
		a.Finish(r.Judge(Answer{Scope: ScopeAuthoringRead, Probe: true, Status: 200}, time.Now()))
		require.True(t, r.ParkedUntil(ScopeAuthoringRead).IsZero(), "a 200 from the parked scope did not end its parking")
	})
}

func TestOwnsURL(t *testing.T) {
	u, _ := url.Parse("https://westus2.example:8443/base")
	r, err := New(Config{Name: "a", Endpoint: u, Key: "k"})
	require.NoError(t, err)
	for raw, want := range map[string]bool{
		"/language/x": true, "language/x?y=1": true, "https://WESTUS2.example:8443/x": true,
		"https://westus2.example/x": false, "http://westus2.example:8443/x": false,
		"//evil.example/x": false, "https://evil.example/x": false, "javascript:alert(1)": false,
		"https://westus2.example:8443@evil.example/": false, "%zz": false,
		"https://westus2.example:8443?x=1": true, "https://westus2.example:8443": true,
		"https://westus2.example:8443.evil.example/x": false, "https://westus2.example:84433/x": false,
		"https://westus2.example:8443/a%zz": false, "https://westus2.example:8443/a%2Fb": true,
		"https://westus2.example:8443/a\x01b": false, " https://westus2.example:8443/x ": true,
		"https://westus2.example:8443\\@evil.example/": false,
	} {
		got := r.OwnsURL(raw)
		assert.Equal(t, want, got, "OwnsURL(%q) = %v, want %v", raw, got, want)
	}
}

// FuzzOwnsURL holds OwnsURL's shortcut to the parse it skips: a URL the
// shortcut calls the region's own must be one url.Parse reads with the
// region's scheme and host.
func FuzzOwnsURL(f *testing.F) {
	for _, seed := range []string{
		"https://westus2.example:8443/language/analyze-text/jobs/1?api-version=2023-04-01",
		"https://WESTUS2.example:8443?x=1", "https://westus2.example:8443#f", "https://westus2.example:8443/a b",
		"https://westus2.example:8443@evil.example/", "https://westus2.example:8443.evil.example/",
		"https://westus2.example:8443/a%zz", "https://westus2.example:8443\\@evil.example/",
	} {
		f.Add(seed)
	}
	u, _ := url.Parse("https://westus2.example:8443/base")
	r, err := New(Config{Name: "a", Endpoint: u, Key: "k"})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, raw string) {
		assert.False(t, r.hasOrigin(raw) && !r.ownsParsed(raw), "%q: the shortcut owns it, url.Parse does not", raw)
	})
}
