package proxy

import (
	"net/http"
	"strings"
	"testing"

	"nergateway/api"
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
	if n := h.counter("gateway.requests", map[string]string{"route": RouteJob, "region": "westus2", "outcome": "ok"}); n != 3 {
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
	if secondary.Calls(RouteSubmit) != 1 || secondary.Calls(RouteJob) != 1 {
		t.Errorf("secondary calls: submit %d, job %d", secondary.Calls(RouteSubmit), secondary.Calls(RouteJob))
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
