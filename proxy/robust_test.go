package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"nergateway/api"
	"nergateway/internal/inflight"
	"nergateway/internal/region"
	"nergateway/internal/route"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An authoring write's 429 (Azure: 10 POSTs a minute per resource) parks
// only authoring writes in the primary: runtime submits and polls of
// primary jobs carry on there, and authoring reads too.
func TestAuthoring429ParksOnlyAuthoringWrites(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	primary.retryAft = "30"
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{})

	primary.Script(http.StatusTooManyRequests)
	got := h.do(http.MethodPost, "/language/authoring/analyze-text/projects/p/:export?api-version=2022-05-01", "")
	require.Equal(t, http.StatusServiceUnavailable, got.status, "authoring write on a 429: %d %s", got.status, got.body)
	require.NotEqual(t, "", got.header.Get("Retry-After"), "authoring write on a 429: %d %s", got.status, got.body)
	until := h.regions[0].ParkedUntil(region.ScopeAuthoringWrite)
	require.GreaterOrEqual(t, time.Until(until), 20*time.Second, "authoring writes parked until %v, want about 30s", until)
	// A second write is refused without calling the primary.
	calls := primary.TotalCalls()
	got = h.do(http.MethodPost, "/language/authoring/analyze-text/projects/p/:export?api-version=2022-05-01", "")
	require.Equal(t, http.StatusServiceUnavailable, got.status, "second authoring write")
	require.Equal(t, calls, primary.TotalCalls(), "a parked scope was called")
	// Runtime work and authoring reads still go to the primary.
	sub := h.submit("proj", "prod")
	require.Equal(t, http.StatusAccepted, sub.status, "submit: %d %s", sub.status, sub.body)
	require.Equal(t, 1, primary.Calls(route.Submit.Name), "submit went to primary, secondary times: an authoring 429 moved runtime traffic")
	require.Equal(t, 0, secondary.Calls(route.Submit.Name), "submit went to primary, secondary times: an authoring 429 moved runtime traffic")
	poll := h.do(http.MethodGet, sub.header.Get("Operation-Location"), "")
	require.Equal(t, http.StatusOK, poll.status, "poll of a primary job: %d %s", poll.status, poll.body)
	got = h.do(http.MethodGet, api.AuthoringProjectsPath+"?api-version=2022-05-01", "")
	require.Equal(t, http.StatusOK, got.status, "authoring read: %d %s", got.status, got.body)
}

// A region answer that names a foreign host (a redirect, an
// operation-location) is never relayed: a submit fails over, and the
// client never learns the foreign URL.
func TestForeignURLInAnAnswerFailsOver(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		header string
	}{
		{"redirect", http.StatusTemporaryRedirect, "Location"},
		{"operation-location", http.StatusAccepted, "Operation-Location"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(tt.header, "https://attacker.example/language/analyze-text/jobs/"+newV4())
				w.WriteHeader(tt.status)
			}))
			t.Cleanup(evil.Close)
			secondary := newFakeRegion(t, "s")
			h := newHarness(t, []upstream{{url: evil.URL, key: "evil-key-" + randHex(4)}, secondary.upstream()}, harnessOptions{})
			sub := h.submit("proj", "prod")
			require.Equal(t, http.StatusAccepted, sub.status, "submit: %d %s (secondary submits %d)", sub.status, sub.body, secondary.Calls(route.Submit.Name))
			require.Equal(t, 1, secondary.Calls(route.Submit.Name), "submit: %d %s (secondary submits %d)", sub.status, sub.body, secondary.Calls(route.Submit.Name))
			for k, vv := range sub.header {
				require.NotContains(t, strings.Join(vv, ","), "attacker.example", "%s relayed a foreign URL: %v", k, vv)
			}
			n := h.counter("gateway.failovers", map[string]string{"reason": string(region.OutcomeBadResponse)})
			assert.EqualValues(t, 1, n, "failovers for bad_response")
		})
	}
}

// The byte budget: a body the budget cannot hold is refused with 503,
// Retry-After and Azure's error body, never an allocation the size of
// what the client announced.
func TestByteBudgetRefusesWith503(t *testing.T) {
	primary := newFakeRegion(t, "p")
	budget := inflight.NewBudget(256 << 10)
	h := newHarness(t, []upstream{primary.upstream()}, harnessOptions{config: func(c *Config) {
		c.Budget = budget
		c.MaxRequestBytes = 128 << 10
	}})
	// Other requests in flight hold most of the budget.
	require.True(t, budget.Reserve(200<<10), "reserve")
	require.EqualValues(t, 200<<10, h.gauge("gateway.buffered_bytes"), "gateway.buffered_bytes, want the 200 KiB held")
	body := submitBody("proj", strings.Repeat("x", 60<<10))
	got := h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", body)
	require.Equal(t, http.StatusServiceUnavailable, got.status, "over budget: %d Retry-After %q %s", got.status, got.header.Get("Retry-After"), got.body)
	require.Equal(t, "1", got.header.Get("Retry-After"), "over budget: %d Retry-After %q %s", got.status, got.header.Get("Retry-After"), got.body)
	require.Equal(t, api.CodeServiceUnavailable, got.errorCode(t), "over budget: %d Retry-After %q %s", got.status, got.header.Get("Retry-After"), got.body)
	require.Equal(t, 0, primary.TotalCalls(), "a body over the budget reached the region")
	require.EqualValues(t, 200<<10, budget.Used(), "budget holds bytes after the refused request, want only the others' 200 KiB")
	// Once the others are done the same request passes, and everything is
	// given back.
	budget.Free(200 << 10)
	got = h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", body)
	require.Equal(t, http.StatusAccepted, got.status, "submit within budget: %d %s", got.status, got.body)
	require.EqualValues(t, 0, budget.Used(), "budget holds bytes after a served request")
}

// An answer larger than the whole budget is not relayed (502); one that
// only does not fit now is a 503 for the client to retry.
func TestByteBudgetBoundsAnswers(t *testing.T) {
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"value":"` + strings.Repeat("y", 200<<10) + `"}`))
	}))
	t.Cleanup(huge.Close)
	budget := inflight.NewBudget(128 << 10)
	h := newHarness(t, []upstream{{url: huge.URL, key: "k-" + randHex(4)}}, harnessOptions{config: func(c *Config) { c.Budget = budget }})
	got := h.do(http.MethodGet, api.AuthoringProjectsPath+"?api-version=2022-05-01", "")
	require.Equal(t, http.StatusBadGateway, got.status, "answer over the whole budget: %d %s", got.status, got.body)
	require.EqualValues(t, 0, budget.Used(), "budget holds bytes")
}

// A body link (nextLink, resultUrl) naming a foreign host is not relayed
// either: the poll's owner answered something no client may follow.
func TestForeignLinkInABodyIsNotRelayed(t *testing.T) {
	for _, link := range []string{
		`https://attacker.example/language/authoring/analyze-text/projects?skip=1`,
		`https:\/\/attacker.example\/x`,
		`https\u003a\u002f\u002fattacker.example/x`,
	} {
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"value":[],"nextLink":"` + link + `"}`))
		}))
		t.Cleanup(evil.Close)
		h := newHarness(t, []upstream{{url: evil.URL, key: "evil-key-" + randHex(4)}}, harnessOptions{})
		got := h.do(http.MethodGet, api.AuthoringProjectsPath+"?api-version=2022-05-01", "")
		require.Equal(t, http.StatusBadGateway, got.status, "foreign nextLink %s: %d %s", link, got.status, got.body)
		require.NotContains(t, string(got.body), "attacker", "foreign nextLink %s: %d %s", link, got.status, got.body)
	}
}

// A job submitted before an upgrade carries a token without a check: it is
// still routed to its owner for a job result's life, then not any more.
func TestLegacyTokenRoutedDuringTheUpgradeWindow(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{})
	id := newV4()
	secondary.mu.Lock()
	secondary.jobs[id] = &fakeJob{project: "proj", deployment: "prod"}
	secondary.mu.Unlock()
	b := []byte(id)
	b[versionIndex] = '1' // the secondary, as the old scheme wrote it
	b[variantIndex] = hexDigits[0b1100|hexValue(b[variantIndex])&0b11]
	old := string(b)
	got := h.do(http.MethodGet, api.JobsPath+"/"+old+"?api-version=2023-04-01", "")
	require.Equal(t, http.StatusOK, got.status, "legacy token poll: %d %s", got.status, got.body)
	require.Equal(t, 0, primary.Calls(route.Job.Name), "calls: primary, secondary")
	require.Equal(t, 1, secondary.Calls(route.Job.Name), "calls: primary, secondary")
	h.proxy.legacyTokensUntil = time.Now().Add(-time.Second)
	got = h.do(http.MethodGet, api.JobsPath+"/"+old+"?api-version=2023-04-01", "")
	require.Equal(t, http.StatusNotFound, got.status, "legacy token after the window: %d %s (asked as a passthrough id: every region says 404)", got.status, got.body)
}
