package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"nergateway/api"
	"nergateway/internal/region"
	"nergateway/internal/route"
	"nergateway/internal/secret"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHappyPathSubmitPollPage(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	primary.pages = 3
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{})

	sub := h.submit("proj", "prod")
	require.Equal(t, http.StatusAccepted, sub.status, "submit: %d %s", sub.status, sub.body)
	opLoc := sub.header.Get("Operation-Location")
	require.True(t, strings.HasPrefix(opLoc, h.gw.URL+api.JobsPath+"/"), "operation-location %q does not point at the gateway", opLoc)
	require.True(t, strings.HasSuffix(opLoc, "?api-version=2023-04-01"), "operation-location %q does not point at the gateway", opLoc)
	id := jobID(t, opLoc)
	require.True(t, isUUIDShape(id), "job id %q is not UUID-shaped", id)
	_, idx, ok := decodeToken(id)
	require.True(t, ok, "job id %q is not a token of region 0", id)
	require.Equal(t, 0, idx, "job id %q is not a token of region 0", id)
	// What the region received: its own key, no client credentials, the
	// body as sent.
	got := primary.LastHeader()
	assert.Equal(t, primary.key, got.Get(api.SubscriptionKeyHeader), "region got key, Authorization")
	assert.Equal(t, "", got.Get("Authorization"), "region got key, Authorization")
	assert.Equal(t, submitBody("proj", "prod"), string(primary.LastBody()), "body changed on the way to the primary:\n%s", primary.LastBody())
	assert.NotEqual(t, "", got.Get("Traceparent"), "no trace context injected into the upstream request")

	// Poll and page through every page with the nextLinks as given.
	next, pages := opLoc, 0
	for next != "" {
		poll := h.do(http.MethodGet, next, "")
		require.Equal(t, http.StatusOK, poll.status, "poll %s: %d %s", next, poll.status, poll.body)
		pages++
		body := poll.json(t)
		require.Equal(t, id, body["jobId"], "jobId %v, want the token %s", body["jobId"], id)
		assert.False(t, body["futureField"] == nil, "unknown member dropped")
		next, _ = body["nextLink"].(string)
		require.False(t, next != "" && (!strings.HasPrefix(next, h.gw.URL+api.JobsPath+"/"+id+"?") || !strings.Contains(next, "skip=")), "nextLink %q is not the gateway's URL with the token", next)
		assert.NotEmpty(t, poll.header.Get("Content-Length"), "no Content-Length")
	}
	assert.Equal(t, 3, pages, "paged pages, want 3")
	assert.Equal(t, 0, secondary.TotalCalls(), "secondary calls on the happy path")
	n := h.counter("gateway.requests", map[string]string{"route": route.Job.Name, "region": "westus2", "outcome": "ok"})
	assert.EqualValues(t, 3, n, "gateway.requests{job,westus2,ok}, want 3")
}

func TestFailoverOnRefusedConnection(t *testing.T) {
	secondary := newFakeRegion(t, "s")
	h := newHarness(t, []upstream{deadUpstream(t), secondary.upstream()}, harnessOptions{})

	sub := h.submit("proj", "prod")
	require.Equal(t, http.StatusAccepted, sub.status, "submit: %d %s", sub.status, sub.body)
	id := jobID(t, sub.header.Get("Operation-Location"))
	_, idx, ok := decodeToken(id)
	require.True(t, ok, "job id %q is not a token of the secondary", id)
	require.Equal(t, 1, idx, "job id %q is not a token of the secondary", id)
	poll := h.do(http.MethodGet, sub.header.Get("Operation-Location"), "")
	require.Equal(t, http.StatusOK, poll.status, "poll: %d %s", poll.status, poll.body)
	require.Equal(t, id, poll.json(t)["jobId"], "poll: %d %s", poll.status, poll.body)
	assert.Equal(t, 1, secondary.Calls(route.Submit.Name), "secondary calls: submit, job")
	assert.Equal(t, 1, secondary.Calls(route.Job.Name), "secondary calls: submit, job")
	n := h.counter("gateway.failovers", map[string]string{"from": "westus2", "to": "eastus", "reason": "connection_error"})
	assert.EqualValues(t, 1, n, "gateway.failovers, want 1")
	var event bool
	for _, s := range h.spans.Ended() {
		for _, e := range s.Events() {
			if e.Name == "failover" {
				event = true
			}
		}
	}
	assert.True(t, event, "no failover event on the request span")
}

func TestBreakerOpensAfterFailuresThenPrimaryGetsNoTraffic(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	primary.Always(http.StatusServiceUnavailable)
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{failures: 3})

	for i := range 10 {
		sub := h.submit("proj", "prod")
		require.Equal(t, http.StatusAccepted, sub.status, "submit %d: %d %s", i, sub.status, sub.body)
		_, idx, _ := decodeToken(jobID(t, sub.header.Get("Operation-Location")))
		require.Equal(t, 1, idx, "submit %d owned by region %d", i, idx)
	}
	got := primary.Calls(route.Submit.Name)
	assert.Equal(t, 3, got, "primary submits, want 3 (then its breaker is open)")
	assert.Equal(t, region.StateOpen, h.regions[0].State(), "primary breaker")
	got = secondary.Calls(route.Submit.Name)
	assert.Equal(t, 10, got, "secondary submits, want 10")
	n := h.counter("gateway.failovers", map[string]string{"reason": "status_5xx"})
	assert.EqualValues(t, 3, n, "failovers with reason status_5xx")
}

func TestRateLimitParksPrimary(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	primary.retryAft = "120"
	primary.Script(http.StatusTooManyRequests)
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{failures: 1})

	for range 3 {
		sub := h.submit("proj", "prod")
		require.Equal(t, http.StatusAccepted, sub.status, "submit: %d %s", sub.status, sub.body)
	}
	assert.Equal(t, 1, primary.TotalCalls(), "primary calls (want 1), secondary submits (want 3)")
	assert.Equal(t, 3, secondary.Calls(route.Submit.Name), "primary calls (want 1), secondary submits (want 3)")
	// A 429 does not trip the breaker, even with a threshold of 1.
	assert.Equal(t, region.StateClosed, h.regions[0].State(), "breaker after a 429")
	// Parking is capped at REGION_MAX_PARK (60s by default), whatever the
	// Retry-After asked.
	until := h.regions[0].ParkedUntil(region.ScopeRuntime)
	assert.GreaterOrEqual(t, time.Until(until), 50*time.Second, "parked until %v, want the 60s cap from now", until)
	assert.LessOrEqual(t, time.Until(until), 60*time.Second, "parked until %v, want the 60s cap from now", until)
	// Polls of a job the parked primary owns get a calm answer (200, the
	// job as far as known: nothing, so notStarted) with the park's end in
	// Retry-After, no call.
	tok, _ := encodeToken(newV4(), 0)
	poll := h.do(http.MethodGet, api.JobsPath+"/"+tok+"?api-version=2023-04-01", "")
	require.Equal(t, http.StatusOK, poll.status, "poll of a parked owner: %d %s", poll.status, poll.body)
	require.Equal(t, api.StatusNotStarted, poll.json(t)["status"], "poll of a parked owner: %d %s", poll.status, poll.body)
	require.Equal(t, tok, poll.json(t)["jobId"], "poll of a parked owner: %d %s", poll.status, poll.body)
	ra, _ := strconv.Atoi(poll.header.Get("Retry-After"))
	assert.GreaterOrEqual(t, ra, 50, "Retry-After %q, want about 60", poll.header.Get("Retry-After"))
	assert.LessOrEqual(t, ra, 60, "Retry-After %q, want about 60", poll.header.Get("Retry-After"))
	assert.Equal(t, 1, primary.TotalCalls(), "parked primary was called")
}

func TestClientErrorPassedThroughWithoutFailover(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{failures: 1})

	bad := h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", `{"tasks":"not an array"}`)
	want := httptest.NewRecorder()
	api.WriteError(want, http.StatusBadRequest, api.Error{Code: api.CodeInvalidRequest, Message: "bad body"})
	require.Equal(t, http.StatusBadRequest, bad.status, "got %d %s, want the region's answer untouched: %s", bad.status, bad.body, want.Body)
	require.Equal(t, want.Body.String(), string(bad.body), "got %d %s, want the region's answer untouched: %s", bad.status, bad.body, want.Body)
	assert.Equal(t, want.Header().Get("x-ms-error-code"), bad.header.Get("x-ms-error-code"), "headers not relayed: %v", bad.header)
	assert.Equal(t, "application/json; charset=utf-8", bad.header.Get("Content-Type"), "headers not relayed: %v", bad.header)
	assert.Equal(t, "req-p", bad.header.Get("apim-request-id"), "apim-request-id not relayed")
	assert.Equal(t, 0, secondary.TotalCalls(), "secondary called times for a client error")
	assert.Equal(t, region.StateClosed, h.regions[0].State(), "a client error tripped the breaker")
	// A scripted 409 with a body that names the region's host: relayed,
	// host replaced.
	primary.Script(http.StatusConflict)
	conflict := h.submit("proj", "prod")
	require.Equal(t, http.StatusConflict, conflict.status, "got %d %s", conflict.status, conflict.body)
	require.NotContains(t, string(conflict.body), primary.host, "got %d %s", conflict.status, conflict.body)
	assert.Contains(t, string(conflict.body), "Scripted409", "the region's error body was not relayed: %s", conflict.body)
}

func TestRegionKeyRejectedFailsOver(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	up := primary.upstream()
	up.key = "wrong-region-key-" + randHex(6)
	h := newHarness(t, []upstream{up, secondary.upstream()}, harnessOptions{})
	sub := h.submit("proj", "prod")
	require.Equal(t, http.StatusAccepted, sub.status, "submit: %d %s", sub.status, sub.body)
	assert.Equal(t, 1, primary.Calls(route.Submit.Name), "calls: primary secondary")
	assert.Equal(t, 1, secondary.Calls(route.Submit.Name), "calls: primary secondary")
	n := h.counter("gateway.failovers", map[string]string{"reason": "auth_error"})
	assert.EqualValues(t, 1, n, "failovers for 401")
}

func TestStickyPollsAcrossFailover(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{failures: 5})

	a := h.submit("proj", "prod")
	primary.Script(http.StatusInternalServerError)
	b := h.submit("proj", "prod")
	require.Equal(t, 202, a.status, "submits")
	require.Equal(t, 202, b.status, "submits")
	idA, idB := jobID(t, a.header.Get("Operation-Location")), jobID(t, b.header.Get("Operation-Location"))
	_, i, _ := decodeToken(idA)
	require.Equal(t, 0, i, "job A on region")
	_, i, _ = decodeToken(idB)
	require.Equal(t, 1, i, "job B on region")
	// The primary is healthy again: each job is polled where it lives.
	for _, tt := range []struct {
		opLoc, id string
		f         *fakeRegion
	}{{a.header.Get("Operation-Location"), idA, primary}, {b.header.Get("Operation-Location"), idB, secondary}} {
		before := tt.f.Calls(route.Job.Name)
		poll := h.do(http.MethodGet, tt.opLoc, "")
		require.Equal(t, 200, poll.status, "poll %s: %d %s", tt.id, poll.status, poll.body)
		require.Equal(t, tt.id, poll.json(t)["jobId"], "poll %s: %d %s", tt.id, poll.status, poll.body)
		assert.Equal(t, before+1, tt.f.Calls(route.Job.Name), "poll of %s did not reach its owner", tt.id)
	}
	// The primary fails while job B is polled: B is unaffected; A's poll
	// is a 503 (never failed over to a region without the job).
	primary.Always(http.StatusServiceUnavailable)
	poll := h.do(http.MethodGet, b.header.Get("Operation-Location"), "")
	require.Equal(t, 200, poll.status, "poll B while the primary fails")
	pollA := h.do(http.MethodGet, a.header.Get("Operation-Location"), "")
	require.Equal(t, http.StatusServiceUnavailable, pollA.status, "poll A while its owner fails: %d %v", pollA.status, pollA.header)
	require.NotEqual(t, "", pollA.header.Get("Retry-After"), "poll A while its owner fails: %d %v", pollA.status, pollA.header)
	assert.Equal(t, 2, secondary.Calls(route.Job.Name), "A's poll failed over to the secondary")
}

// TestOpenOwnerAnswersWithoutCalling: a poll of a job whose owner's
// breaker is open gets a calm answer, a cancel 503; both carry the time of
// the breaker's next trial and call no region.
func TestOpenOwnerAnswersWithoutCalling(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	// The region knows when its breaker half-opens (OpenUntil); that wins
	// over the configured fallback.
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{failures: 2, config: func(c *Config) { c.OpenRetryAfter = 30 * time.Second }})
	a := h.submit("proj", "prod")
	primary.Always(http.StatusBadGateway)
	h.submit("proj", "prod")
	h.submit("proj", "prod")
	require.Equal(t, region.StateOpen, h.regions[0].State(), "primary breaker")
	calls := primary.TotalCalls()
	for _, path := range []string{a.header.Get("Operation-Location"),
		h.gw.URL + api.JobsPath + "/" + jobID(t, a.header.Get("Operation-Location")) + ":cancel?api-version=2023-04-01"} {
		method := http.MethodGet
		if strings.Contains(path, ":cancel") {
			method = http.MethodPost
		}
		got := h.do(method, path, "")
		wantRetry := strconv.Itoa(int(math.Ceil(time.Until(h.regions[0].OpenUntil()).Seconds())))
		assert.Equal(t, wantRetry, got.header.Get("Retry-After"), "%s %s: Retry-After %q, want %s", method, path, got.header.Get("Retry-After"), wantRetry)
		if method == http.MethodGet {
			assert.Equal(t, http.StatusOK, got.status, "poll: %d %s, want a calm 200 notStarted", got.status, got.body)
			assert.Equal(t, api.StatusNotStarted, got.json(t)["status"], "poll: %d %s, want a calm 200 notStarted", got.status, got.body)
		} else {
			assert.Equal(t, http.StatusServiceUnavailable, got.status, "cancel: %d %s", got.status, got.body)
			assert.Equal(t, api.CodeServiceUnavailable, got.errorCode(t), "cancel: %d %s", got.status, got.body)
		}
	}
	assert.Equal(t, calls, primary.TotalCalls(), "a region was called for a job whose owner is open")
	assert.Equal(t, 0, secondary.Calls(route.Job.Name)+secondary.Calls(route.Cancel.Name), "a region was called for a job whose owner is open")
	n := h.counter("gateway.requests", map[string]string{"route": route.Job.Name, "outcome": "breaker_open"})
	assert.EqualValues(t, 1, n, "requests{job, breaker_open}")
}

func TestCancelRoutedToOwner(t *testing.T) {
	secondary := newFakeRegion(t, "s")
	h := newHarness(t, []upstream{deadUpstream(t), secondary.upstream()}, harnessOptions{})
	sub := h.submit("proj", "prod")
	id := jobID(t, sub.header.Get("Operation-Location"))
	c := h.do(http.MethodPost, api.JobsPath+"/"+id+":cancel?api-version=2023-04-01", "")
	require.Equal(t, http.StatusAccepted, c.status, "cancel: %d %s", c.status, c.body)
	want := h.gw.URL + api.JobsPath + "/" + id + "?api-version=2023-04-01"
	assert.Equal(t, want, c.header.Get("Operation-Location"), "cancel operation-location")
	assert.Equal(t, 1, secondary.Calls(route.Cancel.Name), "cancel did not reach the owner")
	got := h.do(http.MethodGet, c.header.Get("Operation-Location"), "")
	assert.Equal(t, "cancelled", got.json(t)["status"], "status after cancel: %s", got.body)
	got = h.do(http.MethodGet, api.JobsPath+"/"+id+":cancel", "")
	assert.Equal(t, http.StatusMethodNotAllowed, got.status, "GET on cancel Allow")
	assert.Equal(t, "POST", got.header.Get("Allow"), "GET on cancel Allow")
}

func TestSyncAnalyzeFailsOver(t *testing.T) {
	secondary := newFakeRegion(t, "s")
	h := newHarness(t, []upstream{deadUpstream(t), secondary.upstream()}, harnessOptions{})
	got := h.do(http.MethodPost, api.SyncAnalyzePath+"?api-version=2023-04-01",
		`{"kind":"EntityRecognition","analysisInput":{"documents":[{"id":"1","text":"hi"}]}}`)
	require.Equal(t, http.StatusOK, got.status, "sync: %d %s", got.status, got.body)
	require.Equal(t, "EntityRecognitionResults", got.json(t)["kind"], "sync: %d %s", got.status, got.body)
	assert.Equal(t, 1, secondary.Calls(route.Analyze.Name), "secondary analyze calls")
}

func TestMalformedAndForeignJobIDsAre404WithoutCalls(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{})
	tok5, _ := encodeToken(newV4(), 5)
	for _, path := range []string{
		api.JobsPath + "/" + tok5,                     // a token of a region not configured
		api.JobsPath + "/not%2Fa%2Fjob",               // encoded slash
		api.JobsPath + "/..%2F..%2Fauthoring",         // traversal
		api.JobsPath + "/a.b",                         // dot
		api.JobsPath + "/%0d%0aX-Injected:%201",       // CR/LF
		api.JobsPath + "/" + strings.Repeat("a", 200), // too long
		api.JobsPath + "/",                            // empty
		api.JobsPath + "/a/b",                         // extra segment
		api.JobsPath + "/%41BC%25",                    // percent in the id
		"/language/analyze-text/other",
		"/language/unknown",
	} {
		got := h.do(http.MethodGet, path+"?api-version=2023-04-01", "")
		assert.Equal(t, http.StatusNotFound, got.status, "GET %s: %d %s", path, got.status, got.body)
		assert.Equal(t, api.CodeNotFound, got.errorCode(t), "GET %s: %d %s", path, got.status, got.body)
	}
	n := primary.TotalCalls() + secondary.TotalCalls()
	assert.Equal(t, 0, n, "upstream calls for malformed ids")
	// Wrong methods on known paths.
	for _, tt := range []struct{ method, path, allow string }{
		{http.MethodGet, api.JobsPath, "POST"},
		{http.MethodDelete, api.JobsPath + "/" + tok5[:0] + newV4(), "GET"},
		{http.MethodGet, api.SyncAnalyzePath, "POST"},
	} {
		got := h.do(tt.method, tt.path, "")
		assert.Equal(t, http.StatusMethodNotAllowed, got.status, "%s %s: %d Allow %q", tt.method, tt.path, got.status, got.header.Get("Allow"))
		assert.Equal(t, tt.allow, got.header.Get("Allow"), "%s %s: %d Allow %q", tt.method, tt.path, got.status, got.header.Get("Allow"))
	}
}

func TestPassthroughIDsResolvedByAsking(t *testing.T) {
	secondary := newFakeRegion(t, "s")
	n := 0
	secondary.newID = func() string { n++; return fmt.Sprintf("%08d-0000-1000-8000-000000000000", n) } // a v1 UUID: no token
	h := newHarness(t, []upstream{deadUpstream(t), secondary.upstream()}, harnessOptions{failures: 1})
	sub := h.submit("proj", "prod")
	id := jobID(t, sub.header.Get("Operation-Location"))
	require.Equal(t, "00000001-0000-1000-8000-000000000000", id, "passthrough id changed")
	// The replica that issued it remembers the owner: one call.
	got := h.do(http.MethodGet, sub.header.Get("Operation-Location"), "")
	require.Equal(t, 200, got.status, "poll, secondary job calls")
	require.Equal(t, 1, secondary.Calls(route.Job.Name), "poll, secondary job calls")

	// Another replica (a fresh proxy, both regions up) asks in order.
	primary2 := newFakeRegion(t, "p2")
	h2 := newHarness(t, []upstream{primary2.upstream(), secondary.upstream()}, harnessOptions{})
	got = h2.do(http.MethodGet, api.JobsPath+"/"+id+"?api-version=2023-04-01", "")
	require.Equal(t, 200, got.status, "fallback poll: %d %s", got.status, got.body)
	require.Equal(t, id, got.json(t)["jobId"], "fallback poll: %d %s", got.status, got.body)
	assert.Equal(t, 1, primary2.Calls(route.Job.Name), "fallback calls: primary, secondary")
	assert.Equal(t, 2, secondary.Calls(route.Job.Name), "fallback calls: primary, secondary")
	// Now cached: the next poll goes straight to the owner.
	h2.do(http.MethodGet, api.JobsPath+"/"+id+"?api-version=2023-04-01", "")
	assert.Equal(t, 1, primary2.Calls(route.Job.Name), "cached owner not used")
	// A UUID nobody has: every region says 404, so does the gateway.
	got = h2.do(http.MethodGet, api.JobsPath+"/"+newV4()+"?api-version=2023-04-01", "")
	assert.Equal(t, http.StatusNotFound, got.status, "unknown job: %d %s", got.status, got.body)
	// With the primary failing, an unknown id is not declared gone.
	primary2.Always(http.StatusInternalServerError)
	got = h2.do(http.MethodGet, api.JobsPath+"/"+newV4()+"?api-version=2023-04-01", "")
	assert.Equal(t, http.StatusServiceUnavailable, got.status, "unknown job while the primary fails: %d %s", got.status, got.body)
}

func TestOversizedBodyIs413(t *testing.T) {
	primary := newFakeRegion(t, "p")
	h := newHarness(t, []upstream{primary.upstream()}, harnessOptions{config: func(c *Config) { c.MaxRequestBytes = 1024 }})
	big := `{"tasks":[],"analysisInput":{"documents":[{"id":"1","text":"` + strings.Repeat("x", 2000) + `"}]}}`
	got := h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", big)
	require.Equal(t, http.StatusRequestEntityTooLarge, got.status, "got %d %s", got.status, got.body)
	require.Equal(t, api.CodeRequestTooLarge, got.errorCode(t), "got %d %s", got.status, got.body)
	// Without Content-Length (chunked), the cap still holds.
	req, _ := http.NewRequest(http.MethodPost, h.gw.URL+api.JobsPath, io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set(api.SubscriptionKeyHeader, gatewayKey)
	resp, err := h.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "chunked")
	assert.Equal(t, 0, primary.TotalCalls(), "oversized body reached the region")
}

func TestNameMappingBothWays(t *testing.T) {
	secondary := newFakeRegion(t, "s")
	h := newHarness(t, []upstream{deadUpstream(t), secondary.upstream()}, harnessOptions{config: func(c *Config) {
		c.ProjectNames = map[string]string{"proj": "proj-dr"}
		c.DeploymentNames = map[string]string{"prod": "prod-dr"}
	}})
	sub := h.submit("proj", "prod")
	require.Equal(t, 202, sub.status, "submit: %d %s", sub.status, sub.body)
	want := strings.Replace(submitBody("proj", "prod"), `"projectName":"proj"`, `"projectName":"proj-dr"`, 1)
	want = strings.Replace(want, `"deploymentName":"prod"`, `"deploymentName":"prod-dr"`, 1)
	got := string(secondary.LastBody())
	require.Equal(t, want, got, "secondary received\n\nwant\n")
	poll := h.do(http.MethodGet, sub.header.Get("Operation-Location"), "")
	body := poll.json(t)
	results := body["tasks"].(map[string]any)["items"].([]any)[0].(map[string]any)["results"].(map[string]any)
	assert.Equal(t, "proj", results["projectName"], "results name %v/%v, want proj/prod", results["projectName"], results["deploymentName"])
	assert.Equal(t, "prod", results["deploymentName"], "results name %v/%v, want proj/prod", results["projectName"], results["deploymentName"])
	if assert.False(t, body["futureField"] == nil, "unknown members changed: %s", poll.body) {
		assert.Contains(t, string(poll.body), `"newThing":"x"`, "unknown members changed: %s", poll.body)
		assert.Contains(t, string(poll.body), `[1,2.50,true]`, "unknown members changed: %s", poll.body)
	}
}

func TestForwardedHeadersOnlyWhenTrusted(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		primary := newFakeRegion(t, "p")
		h := newHarness(t, []upstream{primary.upstream()}, harnessOptions{config: func(c *Config) { c.TrustForwardedHeaders = trusted }})
		sub := h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", submitBody("proj", "prod"),
			"X-Forwarded-Proto", "https", "X-Forwarded-Host", "ner.example.com, inner.local")
		opLoc := sub.header.Get("Operation-Location")
		want := h.gw.URL + api.JobsPath + "/"
		if trusted {
			want = "https://ner.example.com" + api.JobsPath + "/"
		}
		assert.True(t, strings.HasPrefix(opLoc, want), "trusted=%v: operation-location %q, want prefix %q", trusted, opLoc, want)
		assert.Equal(t, "", primary.LastHeader().Get("X-Forwarded-Host"), "X-Forwarded-Host forwarded to the region")
	}
	// A configured public URL wins over everything.
	primary := newFakeRegion(t, "p")
	pub, _ := url.Parse("https://gw.example.com/ner/")
	h := newHarness(t, []upstream{primary.upstream()}, harnessOptions{config: func(c *Config) { c.PublicURL = pub; c.TrustForwardedHeaders = true }})
	sub := h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", submitBody("proj", "prod"), "X-Forwarded-Host", "evil.example.com")
	got := sub.header.Get("Operation-Location")
	assert.True(t, strings.HasPrefix(got, "https://gw.example.com/ner"+api.JobsPath+"/"), "operation-location %q ignores PublicURL", got)
}

func TestPublicBase(t *testing.T) {
	primary := newFakeRegion(t, "p")
	h := newHarness(t, []upstream{primary.upstream()}, harnessOptions{config: func(c *Config) { c.TrustForwardedHeaders = true }})
	for _, tt := range []struct {
		host, proto, fwdHost string
		tls                  bool
		want                 string
	}{
		{host: "gw:8080", want: "http://gw:8080"},
		{host: "gw", tls: true, want: "https://gw"},
		{host: "gw", proto: "HTTPS", want: "https://gw"},
		{host: "gw", proto: "gopher", want: "http://gw"},
		{host: "gw", fwdHost: "ner.example.com:8443", want: "http://ner.example.com:8443"},
		{host: "gw", fwdHost: `evil.com/"x`, want: "http://gw"}, // not a host: ignored
		{host: "[::1]:8080", want: "http://[::1]:8080"},
		{host: "a b", want: ""},
		{host: "", want: ""},
	} {
		r := httptest.NewRequest(http.MethodGet, "/language/analyze-text/jobs", nil)
		r.Host = tt.host
		if tt.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if tt.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		if tt.fwdHost != "" {
			r.Header.Set("X-Forwarded-Host", tt.fwdHost)
		}
		got, err := h.proxy.publicBase(r)
		assert.Equal(t, tt.want, got, "%+v: got %q %v, want %q", tt, got, err, tt.want)
		assert.Equal(t, tt.want == "", err != nil, "%+v: got %q %v, want %q", tt, got, err, tt.want)
	}
}

func TestAuthoringGoesToThePrimaryOnly(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{failures: 2})
	list := h.do(http.MethodGet, api.AuthoringProjectsPath+"?api-version=2022-05-01&top=1", "")
	require.Equal(t, 200, list.status, "list: %d %s", list.status, list.body)
	next, _ := list.json(t)["nextLink"].(string)
	assert.True(t, strings.HasPrefix(next, h.gw.URL+api.AuthoringProjectsPath+"?"), "nextLink %q not rewritten", next)
	exp := h.do(http.MethodPost, api.ProjectPath("p1")+"/:export?api-version=2022-05-01&stringIndexType=Utf16CodeUnit", `{"assetsToExport":["*"]}`)
	opLoc := exp.header.Get("Operation-Location")
	require.Equal(t, 202, exp.status, "export")
	require.True(t, strings.HasPrefix(opLoc, h.gw.URL+api.ProjectPath("p1")+"/export/jobs/"), "export")
	require.Contains(t, opLoc, "_637858368000000000", "export")
	st := h.do(http.MethodGet, opLoc, "")
	ru, _ := st.json(t)["resultUrl"].(string)
	assert.True(t, strings.HasPrefix(ru, h.gw.URL+"/language/authoring/"), "resultUrl %q not rewritten", ru)
	// The primary fails: 503 + Retry-After, never the secondary.
	primary.Always(http.StatusInternalServerError)
	for range 3 {
		got := h.do(http.MethodGet, api.AuthoringProjectsPath+"?api-version=2022-05-01", "")
		assert.Equal(t, http.StatusServiceUnavailable, got.status, "authoring while the primary fails: %d %v", got.status, got.header)
		assert.NotEqual(t, "", got.header.Get("Retry-After"), "authoring while the primary fails: %d %v", got.status, got.header)
	}
	assert.Equal(t, 0, secondary.TotalCalls(), "authoring reached the secondary")
	got := h.do(http.MethodGet, "/language/authoring/analyze-text/projects/../../analyze-text/jobs", "")
	assert.Equal(t, http.StatusNotFound, got.status, "dot segments")
}

func TestTimeoutIs504AndClientCancelIsNotCharged(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	primary.block, secondary.block = block, block
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{failures: 5, config: func(c *Config) { c.UpstreamTimeout = 50 * time.Millisecond }})
	got := h.submit("proj", "prod")
	require.Equal(t, http.StatusGatewayTimeout, got.status, "both regions time out: %d %s", got.status, got.body)
	require.Equal(t, api.CodeTimeout, got.errorCode(t), "both regions time out: %d %s", got.status, got.body)
	// As a 503 does: a hand-written client learns when to come back.
	ra := got.header.Get("Retry-After")
	assert.Equal(t, "1", ra, "504 Retry-After, want 1")
	assert.Equal(t, 1, primary.Calls(route.Submit.Name), "calls")
	assert.Equal(t, 1, secondary.Calls(route.Submit.Name), "calls")

	// A client that gives up: nothing charged to the region.
	h2 := newHarness(t, []upstream{primary.upstream()}, harnessOptions{failures: 1, config: func(c *Config) { c.UpstreamTimeout = time.Minute }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan reply)
	go func() { done <- h2.doCtx(ctx, http.MethodPost, api.JobsPath, submitBody("p", "d")) }()
	eventually(t, func() bool { return primary.Calls(route.Submit.Name) == 2 })
	cancel()
	<-done
	eventually(t, func() bool { return h2.counter("gateway.requests", map[string]string{"outcome": "canceled"}) == 1 })
	assert.Equal(t, region.StateClosed, h2.regions[0].State(), "a client's cancel tripped the breaker (threshold 1)")
}

func TestNewValidates(t *testing.T) {
	ep, _ := url.Parse("https://myres.cognitiveservices.azure.com")
	r, _ := region.New(region.Config{Name: "westus2", Role: region.RolePrimary, Endpoint: ep, Key: secret.Secret("k")})
	many := make([]*region.Region, maxRegions+1)
	for i := range many {
		many[i] = r
	}
	bad := func(s string) *url.URL { u, _ := url.Parse(s); return u }
	for name, cfg := range map[string]Config{
		"no regions":         {},
		"too many regions":   {Regions: many},
		"nil region":         {Regions: []*region.Region{r, nil}},
		"relative PublicURL": {Regions: []*region.Region{r}, PublicURL: bad("/gw")},
		"PublicURL query":    {Regions: []*region.Region{r}, PublicURL: bad("https://gw/?a=1")},
		"ftp PublicURL":      {Regions: []*region.Region{r}, PublicURL: bad("ftp://gw")},
		"not one-to-one":     {Regions: []*region.Region{r}, ProjectNames: map[string]string{"a": "x", "b": "x"}},
		"empty name":         {Regions: []*region.Region{r}, DeploymentNames: map[string]string{"a": ""}},
		"negative timeout":   {Regions: []*region.Region{r}, UpstreamTimeout: -time.Second},
	} {
		_, err := New(cfg)
		assert.Error(t, err, "%s: New accepted it", name)
	}
	p, err := New(Config{Regions: []*region.Region{r}})
	require.NoError(t, err)
	assert.Equal(t, defaultUpstreamTimeout, p.timeout, "defaults")
	assert.EqualValues(t, defaultMaxRequestBytes, p.maxBody, "defaults")
	assert.Equal(t, defaultOpenRetryAfter, p.openRetryAfter, "defaults")
}

// TestConcurrentFailover runs many clients at once while the primary fails
// every other call, for the race detector and for the invariants: every
// submit succeeds, every poll reaches the job's owner.
func TestConcurrentFailover(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	var statuses []int
	for i := range 200 {
		statuses = append(statuses, []int{0, http.StatusBadGateway}[i%2])
	}
	primary.Script(statuses...)
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{failures: 1000})
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for range 40 {
		wg.Go(func() {
			for range 3 {
				sub := h.submit("proj", "prod")
				if sub.status != http.StatusAccepted {
					errs <- fmt.Sprintf("submit %d", sub.status)
					return
				}
				opLoc := sub.header.Get("Operation-Location")
				if got := h.do(http.MethodGet, opLoc, ""); got.status != http.StatusOK && got.status != http.StatusServiceUnavailable {
					errs <- fmt.Sprintf("poll %d %s", got.status, got.body)
				} else if got.status == http.StatusOK && got.json(t)["jobId"] != jobID(t, opLoc) {
					errs <- "jobId mismatch"
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		assert.Fail(t, e)
	}
	assert.NotEqual(t, 0, secondary.Calls(route.Submit.Name), "no failover happened")
}
