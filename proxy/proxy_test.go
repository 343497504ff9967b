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
)

func TestHappyPathSubmitPollPage(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	primary.pages = 3
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{})

	sub := h.submit("proj", "prod")
	if sub.status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", sub.status, sub.body)
	}
	opLoc := sub.header.Get("Operation-Location")
	if !strings.HasPrefix(opLoc, h.gw.URL+api.JobsPath+"/") || !strings.HasSuffix(opLoc, "?api-version=2023-04-01") {
		t.Fatalf("operation-location %q does not point at the gateway", opLoc)
	}
	id := jobID(t, opLoc)
	if !isUUIDShape(id) {
		t.Fatalf("job id %q is not UUID-shaped", id)
	}
	if _, idx, ok := decodeToken(id); !ok || idx != 0 {
		t.Fatalf("job id %q is not a token of region 0", id)
	}
	// What the region received: its own key, no client credentials, the
	// body as sent.
	got := primary.LastHeader()
	if got.Get(api.SubscriptionKeyHeader) != primary.key || got.Get("Authorization") != "" {
		t.Errorf("region got key %q, Authorization %q", got.Get(api.SubscriptionKeyHeader), got.Get("Authorization"))
	}
	if string(primary.LastBody()) != submitBody("proj", "prod") {
		t.Errorf("body changed on the way to the primary:\n%s", primary.LastBody())
	}
	if got.Get("Traceparent") == "" {
		t.Error("no trace context injected into the upstream request")
	}

	// Poll and page through every page with the nextLinks as given.
	next, pages := opLoc, 0
	for next != "" {
		poll := h.do(http.MethodGet, next, "")
		if poll.status != http.StatusOK {
			t.Fatalf("poll %s: %d %s", next, poll.status, poll.body)
		}
		pages++
		body := poll.json(t)
		if body["jobId"] != id {
			t.Fatalf("jobId %v, want the token %s", body["jobId"], id)
		}
		if body["futureField"] == nil {
			t.Error("unknown member dropped")
		}
		next, _ = body["nextLink"].(string)
		if next != "" && (!strings.HasPrefix(next, h.gw.URL+api.JobsPath+"/"+id+"?") || !strings.Contains(next, "skip=")) {
			t.Fatalf("nextLink %q is not the gateway's URL with the token", next)
		}
		if len(poll.header.Get("Content-Length")) == 0 {
			t.Error("no Content-Length")
		}
	}
	if pages != 3 {
		t.Errorf("paged %d pages, want 3", pages)
	}
	if secondary.TotalCalls() != 0 {
		t.Errorf("secondary got %d calls on the happy path", secondary.TotalCalls())
	}
	if n := h.counter("gateway.requests", map[string]string{"route": route.Job.Name, "region": "westus2", "outcome": "ok"}); n != 3 {
		t.Errorf("gateway.requests{job,westus2,ok} = %d, want 3", n)
	}
}

func TestFailoverOnRefusedConnection(t *testing.T) {
	secondary := newFakeRegion(t, "s")
	h := newHarness(t, []upstream{deadUpstream(t), secondary.upstream()}, harnessOptions{})

	sub := h.submit("proj", "prod")
	if sub.status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", sub.status, sub.body)
	}
	id := jobID(t, sub.header.Get("Operation-Location"))
	if _, idx, ok := decodeToken(id); !ok || idx != 1 {
		t.Fatalf("job id %q is not a token of the secondary", id)
	}
	poll := h.do(http.MethodGet, sub.header.Get("Operation-Location"), "")
	if poll.status != http.StatusOK || poll.json(t)["jobId"] != id {
		t.Fatalf("poll: %d %s", poll.status, poll.body)
	}
	if secondary.Calls(route.Submit.Name) != 1 || secondary.Calls(route.Job.Name) != 1 {
		t.Errorf("secondary calls: submit %d, job %d", secondary.Calls(route.Submit.Name), secondary.Calls(route.Job.Name))
	}
	if n := h.counter("gateway.failovers", map[string]string{"from": "westus2", "to": "eastus", "reason": "connection_error"}); n != 1 {
		t.Errorf("gateway.failovers = %d, want 1", n)
	}
	var event bool
	for _, s := range h.spans.Ended() {
		for _, e := range s.Events() {
			if e.Name == "failover" {
				event = true
			}
		}
	}
	if !event {
		t.Error("no failover event on the request span")
	}
}

func TestBreakerOpensAfterFailuresThenPrimaryGetsNoTraffic(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	primary.Always(http.StatusServiceUnavailable)
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{failures: 3})

	for i := range 10 {
		sub := h.submit("proj", "prod")
		if sub.status != http.StatusAccepted {
			t.Fatalf("submit %d: %d %s", i, sub.status, sub.body)
		}
		if _, idx, _ := decodeToken(jobID(t, sub.header.Get("Operation-Location"))); idx != 1 {
			t.Fatalf("submit %d owned by region %d", i, idx)
		}
	}
	if got := primary.Calls(route.Submit.Name); got != 3 {
		t.Errorf("primary got %d submits, want 3 (then its breaker is open)", got)
	}
	if h.regions[0].State() != region.StateOpen {
		t.Errorf("primary breaker %s", h.regions[0].State())
	}
	if got := secondary.Calls(route.Submit.Name); got != 10 {
		t.Errorf("secondary got %d submits, want 10", got)
	}
	if n := h.counter("gateway.failovers", map[string]string{"reason": "status_5xx"}); n != 3 {
		t.Errorf("failovers with reason status_5xx: %d", n)
	}
}

func TestRateLimitParksPrimary(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	primary.retryAft = "120"
	primary.Script(http.StatusTooManyRequests)
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{failures: 1})

	for range 3 {
		if sub := h.submit("proj", "prod"); sub.status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", sub.status, sub.body)
		}
	}
	if primary.TotalCalls() != 1 || secondary.Calls(route.Submit.Name) != 3 {
		t.Errorf("primary calls %d (want 1), secondary submits %d (want 3)", primary.TotalCalls(), secondary.Calls(route.Submit.Name))
	}
	// A 429 does not trip the breaker, even with a threshold of 1.
	if h.regions[0].State() != region.StateClosed {
		t.Errorf("breaker %s after a 429", h.regions[0].State())
	}
	// Parking is capped at REGION_MAX_PARK (60s by default), whatever the
	// Retry-After asked.
	if until := h.regions[0].ParkedUntil(region.ScopeRuntime); time.Until(until) < 50*time.Second || time.Until(until) > 60*time.Second {
		t.Errorf("parked until %v, want the 60s cap from now", until)
	}
	// Polls of a job the parked primary owns get a calm answer (200, the
	// job as far as known: nothing, so notStarted) with the park's end in
	// Retry-After, no call.
	tok, _ := encodeToken(newV4(), 0)
	poll := h.do(http.MethodGet, api.JobsPath+"/"+tok+"?api-version=2023-04-01", "")
	if poll.status != http.StatusOK || poll.json(t)["status"] != api.StatusNotStarted || poll.json(t)["jobId"] != tok {
		t.Fatalf("poll of a parked owner: %d %s", poll.status, poll.body)
	}
	if ra, _ := strconv.Atoi(poll.header.Get("Retry-After")); ra < 50 || ra > 60 {
		t.Errorf("Retry-After %q, want about 60", poll.header.Get("Retry-After"))
	}
	if primary.TotalCalls() != 1 {
		t.Errorf("parked primary was called")
	}
}

func TestClientErrorPassedThroughWithoutFailover(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{failures: 1})

	bad := h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", `{"tasks":"not an array"}`)
	want := httptest.NewRecorder()
	api.WriteError(want, http.StatusBadRequest, api.Error{Code: api.CodeInvalidRequest, Message: "bad body"})
	if bad.status != http.StatusBadRequest || string(bad.body) != want.Body.String() {
		t.Fatalf("got %d %s, want the region's answer untouched: %s", bad.status, bad.body, want.Body)
	}
	if bad.header.Get("x-ms-error-code") != want.Header().Get("x-ms-error-code") || bad.header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("headers not relayed: %v", bad.header)
	}
	if bad.header.Get("apim-request-id") != "req-p" {
		t.Errorf("apim-request-id not relayed: %q", bad.header.Get("apim-request-id"))
	}
	if secondary.TotalCalls() != 0 {
		t.Errorf("secondary called %d times for a client error", secondary.TotalCalls())
	}
	if h.regions[0].State() != region.StateClosed {
		t.Errorf("a client error tripped the breaker")
	}
	// A scripted 409 with a body that names the region's host: relayed,
	// host replaced.
	primary.Script(http.StatusConflict)
	conflict := h.submit("proj", "prod")
	if conflict.status != http.StatusConflict || strings.Contains(string(conflict.body), primary.host) {
		t.Fatalf("got %d %s", conflict.status, conflict.body)
	}
	if !strings.Contains(string(conflict.body), "Scripted409") {
		t.Errorf("the region's error body was not relayed: %s", conflict.body)
	}
}

func TestRegionKeyRejectedFailsOver(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	up := primary.upstream()
	up.key = "wrong-region-key-" + randHex(6)
	h := newHarness(t, []upstream{up, secondary.upstream()}, harnessOptions{})
	if sub := h.submit("proj", "prod"); sub.status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", sub.status, sub.body)
	}
	if primary.Calls(route.Submit.Name) != 1 || secondary.Calls(route.Submit.Name) != 1 {
		t.Errorf("calls: primary %d secondary %d", primary.Calls(route.Submit.Name), secondary.Calls(route.Submit.Name))
	}
	if n := h.counter("gateway.failovers", map[string]string{"reason": "auth_error"}); n != 1 {
		t.Errorf("failovers for 401: %d", n)
	}
}

func TestStickyPollsAcrossFailover(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{failures: 5})

	a := h.submit("proj", "prod")
	primary.Script(http.StatusInternalServerError)
	b := h.submit("proj", "prod")
	if a.status != 202 || b.status != 202 {
		t.Fatalf("submits: %d %d", a.status, b.status)
	}
	idA, idB := jobID(t, a.header.Get("Operation-Location")), jobID(t, b.header.Get("Operation-Location"))
	if _, i, _ := decodeToken(idA); i != 0 {
		t.Fatalf("job A on region %d", i)
	}
	if _, i, _ := decodeToken(idB); i != 1 {
		t.Fatalf("job B on region %d", i)
	}
	// The primary is healthy again: each job is polled where it lives.
	for _, tt := range []struct {
		opLoc, id string
		f         *fakeRegion
	}{{a.header.Get("Operation-Location"), idA, primary}, {b.header.Get("Operation-Location"), idB, secondary}} {
		before := tt.f.Calls(route.Job.Name)
		poll := h.do(http.MethodGet, tt.opLoc, "")
		if poll.status != 200 || poll.json(t)["jobId"] != tt.id {
			t.Fatalf("poll %s: %d %s", tt.id, poll.status, poll.body)
		}
		if tt.f.Calls(route.Job.Name) != before+1 {
			t.Errorf("poll of %s did not reach its owner", tt.id)
		}
	}
	// The primary fails while job B is polled: B is unaffected; A's poll
	// is a 503 (never failed over to a region without the job).
	primary.Always(http.StatusServiceUnavailable)
	if poll := h.do(http.MethodGet, b.header.Get("Operation-Location"), ""); poll.status != 200 {
		t.Fatalf("poll B while the primary fails: %d", poll.status)
	}
	pollA := h.do(http.MethodGet, a.header.Get("Operation-Location"), "")
	if pollA.status != http.StatusServiceUnavailable || pollA.header.Get("Retry-After") == "" {
		t.Fatalf("poll A while its owner fails: %d %v", pollA.status, pollA.header)
	}
	if secondary.Calls(route.Job.Name) != 2 {
		t.Errorf("A's poll failed over to the secondary")
	}
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
	if h.regions[0].State() != region.StateOpen {
		t.Fatalf("primary breaker %s", h.regions[0].State())
	}
	calls := primary.TotalCalls()
	for _, path := range []string{a.header.Get("Operation-Location"),
		h.gw.URL + api.JobsPath + "/" + jobID(t, a.header.Get("Operation-Location")) + ":cancel?api-version=2023-04-01"} {
		method := http.MethodGet
		if strings.Contains(path, ":cancel") {
			method = http.MethodPost
		}
		got := h.do(method, path, "")
		wantRetry := strconv.Itoa(int(math.Ceil(time.Until(h.regions[0].OpenUntil()).Seconds())))
		if got.header.Get("Retry-After") != wantRetry {
			t.Errorf("%s %s: Retry-After %q, want %s", method, path, got.header.Get("Retry-After"), wantRetry)
		}
		if method == http.MethodGet {
			if got.status != http.StatusOK || got.json(t)["status"] != api.StatusNotStarted {
				t.Errorf("poll: %d %s, want a calm 200 notStarted", got.status, got.body)
			}
		} else if got.status != http.StatusServiceUnavailable || got.errorCode(t) != api.CodeServiceUnavailable {
			t.Errorf("cancel: %d %s", got.status, got.body)
		}
	}
	if primary.TotalCalls() != calls || secondary.Calls(route.Job.Name)+secondary.Calls(route.Cancel.Name) != 0 {
		t.Errorf("a region was called for a job whose owner is open")
	}
	if n := h.counter("gateway.requests", map[string]string{"route": route.Job.Name, "outcome": "breaker_open"}); n != 1 {
		t.Errorf("requests{job, breaker_open} = %d", n)
	}
}

func TestCancelRoutedToOwner(t *testing.T) {
	secondary := newFakeRegion(t, "s")
	h := newHarness(t, []upstream{deadUpstream(t), secondary.upstream()}, harnessOptions{})
	sub := h.submit("proj", "prod")
	id := jobID(t, sub.header.Get("Operation-Location"))
	c := h.do(http.MethodPost, api.JobsPath+"/"+id+":cancel?api-version=2023-04-01", "")
	if c.status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", c.status, c.body)
	}
	if want := h.gw.URL + api.JobsPath + "/" + id + "?api-version=2023-04-01"; c.header.Get("Operation-Location") != want {
		t.Errorf("cancel operation-location %q, want %q", c.header.Get("Operation-Location"), want)
	}
	if secondary.Calls(route.Cancel.Name) != 1 {
		t.Errorf("cancel did not reach the owner")
	}
	if got := h.do(http.MethodGet, c.header.Get("Operation-Location"), ""); got.json(t)["status"] != "cancelled" {
		t.Errorf("status after cancel: %s", got.body)
	}
	if got := h.do(http.MethodGet, api.JobsPath+"/"+id+":cancel", ""); got.status != http.StatusMethodNotAllowed || got.header.Get("Allow") != "POST" {
		t.Errorf("GET on cancel: %d Allow %q", got.status, got.header.Get("Allow"))
	}
}

func TestSyncAnalyzeFailsOver(t *testing.T) {
	secondary := newFakeRegion(t, "s")
	h := newHarness(t, []upstream{deadUpstream(t), secondary.upstream()}, harnessOptions{})
	got := h.do(http.MethodPost, api.SyncAnalyzePath+"?api-version=2023-04-01",
		`{"kind":"EntityRecognition","analysisInput":{"documents":[{"id":"1","text":"hi"}]}}`)
	if got.status != http.StatusOK || got.json(t)["kind"] != "EntityRecognitionResults" {
		t.Fatalf("sync: %d %s", got.status, got.body)
	}
	if secondary.Calls(route.Analyze.Name) != 1 {
		t.Errorf("secondary analyze calls %d", secondary.Calls(route.Analyze.Name))
	}
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
		if got.status != http.StatusNotFound || got.errorCode(t) != api.CodeNotFound {
			t.Errorf("GET %s: %d %s", path, got.status, got.body)
		}
	}
	if n := primary.TotalCalls() + secondary.TotalCalls(); n != 0 {
		t.Errorf("%d upstream calls for malformed ids", n)
	}
	// Wrong methods on known paths.
	for _, tt := range []struct{ method, path, allow string }{
		{http.MethodGet, api.JobsPath, "POST"},
		{http.MethodDelete, api.JobsPath + "/" + tok5[:0] + newV4(), "GET"},
		{http.MethodGet, api.SyncAnalyzePath, "POST"},
	} {
		got := h.do(tt.method, tt.path, "")
		if got.status != http.StatusMethodNotAllowed || got.header.Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d Allow %q", tt.method, tt.path, got.status, got.header.Get("Allow"))
		}
	}
}

func TestPassthroughIDsResolvedByAsking(t *testing.T) {
	secondary := newFakeRegion(t, "s")
	n := 0
	secondary.newID = func() string { n++; return fmt.Sprintf("%08d-0000-1000-8000-000000000000", n) } // a v1 UUID: no token
	h := newHarness(t, []upstream{deadUpstream(t), secondary.upstream()}, harnessOptions{failures: 1})
	sub := h.submit("proj", "prod")
	id := jobID(t, sub.header.Get("Operation-Location"))
	if id != "00000001-0000-1000-8000-000000000000" {
		t.Fatalf("passthrough id changed: %s", id)
	}
	// The replica that issued it remembers the owner: one call.
	if got := h.do(http.MethodGet, sub.header.Get("Operation-Location"), ""); got.status != 200 || secondary.Calls(route.Job.Name) != 1 {
		t.Fatalf("poll: %d, secondary job calls %d", got.status, secondary.Calls(route.Job.Name))
	}

	// Another replica (a fresh proxy, both regions up) asks in order.
	primary2 := newFakeRegion(t, "p2")
	h2 := newHarness(t, []upstream{primary2.upstream(), secondary.upstream()}, harnessOptions{})
	got := h2.do(http.MethodGet, api.JobsPath+"/"+id+"?api-version=2023-04-01", "")
	if got.status != 200 || got.json(t)["jobId"] != id {
		t.Fatalf("fallback poll: %d %s", got.status, got.body)
	}
	if primary2.Calls(route.Job.Name) != 1 || secondary.Calls(route.Job.Name) != 2 {
		t.Errorf("fallback calls: primary %d, secondary %d", primary2.Calls(route.Job.Name), secondary.Calls(route.Job.Name))
	}
	// Now cached: the next poll goes straight to the owner.
	h2.do(http.MethodGet, api.JobsPath+"/"+id+"?api-version=2023-04-01", "")
	if primary2.Calls(route.Job.Name) != 1 {
		t.Errorf("cached owner not used")
	}
	// A UUID nobody has: every region says 404, so does the gateway.
	if got := h2.do(http.MethodGet, api.JobsPath+"/"+newV4()+"?api-version=2023-04-01", ""); got.status != http.StatusNotFound {
		t.Errorf("unknown job: %d %s", got.status, got.body)
	}
	// With the primary failing, an unknown id is not declared gone.
	primary2.Always(http.StatusInternalServerError)
	if got := h2.do(http.MethodGet, api.JobsPath+"/"+newV4()+"?api-version=2023-04-01", ""); got.status != http.StatusServiceUnavailable {
		t.Errorf("unknown job while the primary fails: %d %s", got.status, got.body)
	}
}

func TestOversizedBodyIs413(t *testing.T) {
	primary := newFakeRegion(t, "p")
	h := newHarness(t, []upstream{primary.upstream()}, harnessOptions{config: func(c *Config) { c.MaxRequestBytes = 1024 }})
	big := `{"tasks":[],"analysisInput":{"documents":[{"id":"1","text":"` + strings.Repeat("x", 2000) + `"}]}}`
	got := h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", big)
	if got.status != http.StatusRequestEntityTooLarge || got.errorCode(t) != api.CodeRequestTooLarge {
		t.Fatalf("got %d %s", got.status, got.body)
	}
	// Without Content-Length (chunked), the cap still holds.
	req, _ := http.NewRequest(http.MethodPost, h.gw.URL+api.JobsPath, io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set(api.SubscriptionKeyHeader, gatewayKey)
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked: %d", resp.StatusCode)
	}
	if primary.TotalCalls() != 0 {
		t.Errorf("oversized body reached the region")
	}
}

func TestNameMappingBothWays(t *testing.T) {
	secondary := newFakeRegion(t, "s")
	h := newHarness(t, []upstream{deadUpstream(t), secondary.upstream()}, harnessOptions{config: func(c *Config) {
		c.ProjectNames = map[string]string{"proj": "proj-dr"}
		c.DeploymentNames = map[string]string{"prod": "prod-dr"}
	}})
	sub := h.submit("proj", "prod")
	if sub.status != 202 {
		t.Fatalf("submit: %d %s", sub.status, sub.body)
	}
	want := strings.Replace(submitBody("proj", "prod"), `"projectName":"proj"`, `"projectName":"proj-dr"`, 1)
	want = strings.Replace(want, `"deploymentName":"prod"`, `"deploymentName":"prod-dr"`, 1)
	if got := string(secondary.LastBody()); got != want {
		t.Fatalf("secondary received\n%s\nwant\n%s", got, want)
	}
	poll := h.do(http.MethodGet, sub.header.Get("Operation-Location"), "")
	body := poll.json(t)
	results := body["tasks"].(map[string]any)["items"].([]any)[0].(map[string]any)["results"].(map[string]any)
	if results["projectName"] != "proj" || results["deploymentName"] != "prod" {
		t.Errorf("results name %v/%v, want proj/prod", results["projectName"], results["deploymentName"])
	}
	if body["futureField"] == nil || !strings.Contains(string(poll.body), `"newThing":"x"`) || !strings.Contains(string(poll.body), `[1,2.50,true]`) {
		t.Errorf("unknown members changed: %s", poll.body)
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
		if !strings.HasPrefix(opLoc, want) {
			t.Errorf("trusted=%v: operation-location %q, want prefix %q", trusted, opLoc, want)
		}
		if primary.LastHeader().Get("X-Forwarded-Host") != "" {
			t.Errorf("X-Forwarded-Host forwarded to the region")
		}
	}
	// A configured public URL wins over everything.
	primary := newFakeRegion(t, "p")
	pub, _ := url.Parse("https://gw.example.com/ner/")
	h := newHarness(t, []upstream{primary.upstream()}, harnessOptions{config: func(c *Config) { c.PublicURL = pub; c.TrustForwardedHeaders = true }})
	sub := h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", submitBody("proj", "prod"), "X-Forwarded-Host", "evil.example.com")
	if got := sub.header.Get("Operation-Location"); !strings.HasPrefix(got, "https://gw.example.com/ner"+api.JobsPath+"/") {
		t.Errorf("operation-location %q ignores PublicURL", got)
	}
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
		if got != tt.want || (tt.want == "") != (err != nil) {
			t.Errorf("%+v: got %q %v, want %q", tt, got, err, tt.want)
		}
	}
}

func TestAuthoringGoesToThePrimaryOnly(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{failures: 2})
	list := h.do(http.MethodGet, api.AuthoringProjectsPath+"?api-version=2022-05-01&top=1", "")
	if list.status != 200 {
		t.Fatalf("list: %d %s", list.status, list.body)
	}
	next, _ := list.json(t)["nextLink"].(string)
	if !strings.HasPrefix(next, h.gw.URL+api.AuthoringProjectsPath+"?") {
		t.Errorf("nextLink %q not rewritten", next)
	}
	exp := h.do(http.MethodPost, api.ProjectPath("p1")+"/:export?api-version=2022-05-01&stringIndexType=Utf16CodeUnit", `{"assetsToExport":["*"]}`)
	opLoc := exp.header.Get("Operation-Location")
	if exp.status != 202 || !strings.HasPrefix(opLoc, h.gw.URL+api.ProjectPath("p1")+"/export/jobs/") || !strings.Contains(opLoc, "_637858368000000000") {
		t.Fatalf("export: %d %q", exp.status, opLoc)
	}
	st := h.do(http.MethodGet, opLoc, "")
	if ru, _ := st.json(t)["resultUrl"].(string); !strings.HasPrefix(ru, h.gw.URL+"/language/authoring/") {
		t.Errorf("resultUrl %q not rewritten", ru)
	}
	// The primary fails: 503 + Retry-After, never the secondary.
	primary.Always(http.StatusInternalServerError)
	for range 3 {
		got := h.do(http.MethodGet, api.AuthoringProjectsPath+"?api-version=2022-05-01", "")
		if got.status != http.StatusServiceUnavailable || got.header.Get("Retry-After") == "" {
			t.Errorf("authoring while the primary fails: %d %v", got.status, got.header)
		}
	}
	if secondary.TotalCalls() != 0 {
		t.Errorf("authoring reached the secondary")
	}
	if got := h.do(http.MethodGet, "/language/authoring/analyze-text/projects/../../analyze-text/jobs", ""); got.status != http.StatusNotFound {
		t.Errorf("dot segments: %d", got.status)
	}
}

func TestTimeoutIs504AndClientCancelIsNotCharged(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	primary.block, secondary.block = block, block
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{failures: 5, config: func(c *Config) { c.UpstreamTimeout = 50 * time.Millisecond }})
	got := h.submit("proj", "prod")
	if got.status != http.StatusGatewayTimeout || got.errorCode(t) != api.CodeTimeout {
		t.Fatalf("both regions time out: %d %s", got.status, got.body)
	}
	// As a 503 does: a hand-written client learns when to come back.
	if ra := got.header.Get("Retry-After"); ra != "1" {
		t.Errorf("504 Retry-After %q, want 1", ra)
	}
	if primary.Calls(route.Submit.Name) != 1 || secondary.Calls(route.Submit.Name) != 1 {
		t.Errorf("calls %d %d", primary.Calls(route.Submit.Name), secondary.Calls(route.Submit.Name))
	}

	// A client that gives up: nothing charged to the region.
	h2 := newHarness(t, []upstream{primary.upstream()}, harnessOptions{failures: 1, config: func(c *Config) { c.UpstreamTimeout = time.Minute }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan reply)
	go func() { done <- h2.doCtx(ctx, http.MethodPost, api.JobsPath, submitBody("p", "d")) }()
	eventually(t, func() bool { return primary.Calls(route.Submit.Name) == 2 })
	cancel()
	<-done
	eventually(t, func() bool { return h2.counter("gateway.requests", map[string]string{"outcome": "canceled"}) == 1 })
	if h2.regions[0].State() != region.StateClosed {
		t.Errorf("a client's cancel tripped the breaker (threshold 1)")
	}
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
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	p, err := New(Config{Regions: []*region.Region{r}})
	if err != nil {
		t.Fatal(err)
	}
	if p.timeout != defaultUpstreamTimeout || p.maxBody != defaultMaxRequestBytes || p.openRetryAfter != defaultOpenRetryAfter {
		t.Errorf("defaults: %v %v %v", p.timeout, p.maxBody, p.openRetryAfter)
	}
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
		t.Error(e)
	}
	if secondary.Calls(route.Submit.Name) == 0 {
		t.Error("no failover happened")
	}
}
