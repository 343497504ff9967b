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
	if got.status != http.StatusServiceUnavailable || got.header.Get("Retry-After") == "" {
		t.Fatalf("authoring write on a 429: %d %s", got.status, got.body)
	}
	if until := h.regions[0].ParkedUntil(region.ScopeAuthoringWrite); time.Until(until) < 20*time.Second {
		t.Fatalf("authoring writes parked until %v, want about 30s", until)
	}
	// A second write is refused without calling the primary.
	calls := primary.TotalCalls()
	if got := h.do(http.MethodPost, "/language/authoring/analyze-text/projects/p/:export?api-version=2022-05-01", ""); got.status != http.StatusServiceUnavailable {
		t.Fatalf("second authoring write: %d", got.status)
	}
	if primary.TotalCalls() != calls {
		t.Fatal("a parked scope was called")
	}
	// Runtime work and authoring reads still go to the primary.
	sub := h.submit("proj", "prod")
	if sub.status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", sub.status, sub.body)
	}
	if primary.Calls(route.Submit.Name) != 1 || secondary.Calls(route.Submit.Name) != 0 {
		t.Fatalf("submit went to primary %d, secondary %d times: an authoring 429 moved runtime traffic",
			primary.Calls(route.Submit.Name), secondary.Calls(route.Submit.Name))
	}
	if poll := h.do(http.MethodGet, sub.header.Get("Operation-Location"), ""); poll.status != http.StatusOK {
		t.Fatalf("poll of a primary job: %d %s", poll.status, poll.body)
	}
	if got := h.do(http.MethodGet, api.AuthoringProjectsPath+"?api-version=2022-05-01", ""); got.status != http.StatusOK {
		t.Fatalf("authoring read: %d %s", got.status, got.body)
	}
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
			if sub.status != http.StatusAccepted || secondary.Calls(route.Submit.Name) != 1 {
				t.Fatalf("submit: %d %s (secondary submits %d)", sub.status, sub.body, secondary.Calls(route.Submit.Name))
			}
			for k, vv := range sub.header {
				if strings.Contains(strings.Join(vv, ","), "attacker.example") {
					t.Fatalf("%s relayed a foreign URL: %v", k, vv)
				}
			}
			if n := h.counter("gateway.failovers", map[string]string{"reason": string(region.OutcomeBadResponse)}); n != 1 {
				t.Errorf("failovers for bad_response: %d", n)
			}
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
	if !budget.Reserve(200 << 10) {
		t.Fatal("reserve")
	}
	if got := h.gauge("gateway.buffered_bytes"); got != 200<<10 {
		t.Fatalf("gateway.buffered_bytes = %d, want the 200 KiB held", got)
	}
	body := submitBody("proj", strings.Repeat("x", 60<<10))
	got := h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", body)
	if got.status != http.StatusServiceUnavailable || got.header.Get("Retry-After") != "1" || got.errorCode(t) != api.CodeServiceUnavailable {
		t.Fatalf("over budget: %d Retry-After %q %s", got.status, got.header.Get("Retry-After"), got.body)
	}
	if primary.TotalCalls() != 0 {
		t.Fatal("a body over the budget reached the region")
	}
	if budget.Used() != 200<<10 {
		t.Fatalf("budget holds %d bytes after the refused request, want only the others' 200 KiB", budget.Used())
	}
	// Once the others are done the same request passes, and everything is
	// given back.
	budget.Free(200 << 10)
	if got := h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", body); got.status != http.StatusAccepted {
		t.Fatalf("submit within budget: %d %s", got.status, got.body)
	}
	if budget.Used() != 0 {
		t.Fatalf("budget holds %d bytes after a served request", budget.Used())
	}
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
	if got.status != http.StatusBadGateway {
		t.Fatalf("answer over the whole budget: %d %s", got.status, got.body)
	}
	if budget.Used() != 0 {
		t.Fatalf("budget holds %d bytes", budget.Used())
	}
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
		if got.status != http.StatusBadGateway || strings.Contains(string(got.body), "attacker") {
			t.Fatalf("foreign nextLink %s: %d %s", link, got.status, got.body)
		}
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
	if got := h.do(http.MethodGet, api.JobsPath+"/"+old+"?api-version=2023-04-01", ""); got.status != http.StatusOK {
		t.Fatalf("legacy token poll: %d %s", got.status, got.body)
	}
	if primary.Calls(route.Job.Name) != 0 || secondary.Calls(route.Job.Name) != 1 {
		t.Fatalf("calls: primary %d, secondary %d", primary.Calls(route.Job.Name), secondary.Calls(route.Job.Name))
	}
	h.proxy.legacyTokensUntil = time.Now().Add(-time.Second)
	if got := h.do(http.MethodGet, api.JobsPath+"/"+old+"?api-version=2023-04-01", ""); got.status != http.StatusNotFound {
		t.Fatalf("legacy token after the window: %d %s (asked as a passthrough id: every region says 404)", got.status, got.body)
	}
}
