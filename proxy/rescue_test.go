package proxy

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"nergateway/api"
	"nergateway/internal/region"
	"nergateway/internal/secret"
	"nergateway/internal/testkit/redistest"
	"nergateway/rescue"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFinished(t *testing.T) {
	for body, want := range map[string]bool{
		`{"jobId":"x","status":"succeeded","tasks":{}}`:                   true,
		`{"status":"partiallyCompleted"}`:                                 true,
		`{"status":"partiallySucceeded"}`:                                 true, // 2022-10-01-preview: its body must go too
		`{"status":"failed"}`:                                             true,
		`{"status":"cancelled"}`:                                          true,
		`{"status":"running","tasks":{"items":[{"status":"succeeded"}]}}`: false, // a task's status is not the job's
		`{"status":"notStarted"}`:                                         false,
		`{"status":"cancelling"}`:                                         false,
		`{"error":{"code":"NotFound","message":"status succeeded"}}`:      false,
		`not json "status":"succeeded"`:                                   false,
		`{"displayName":"{\"status\":\"succeeded\"}","status":"running"}`: false,
		`{"STATUS":"succeeded"}`:                                          true, // member names match as Azure's deserializer does
		`{"tasks":{"items":[{"status":"succeeded","results":{"status":"x"}}]},"status":"failed"}`: true,
	} {
		got := finished([]byte(body))
		assert.Equal(t, want, got, "finished(%s) = %v, want %v", body, got, want)
	}
}

func TestJobIDIn(t *testing.T) {
	ep, _ := url.Parse("https://westus2.example/sub/path")
	r, err := region.New(region.Config{Name: "westus2", Role: region.RolePrimary, Endpoint: ep, Key: "k"})
	require.NoError(t, err)
	p, err := New(Config{Regions: []*region.Region{r}})
	require.NoError(t, err)
	id := newV4()
	base := ep.String()
	for loc, want := range map[string]string{
		base + api.JobsPath + "/" + id + "?api-version=2023-04-01": id,
		base + api.JobsPath + "/" + id:                             id,
		base + api.JobsPath + "/" + id + api.CancelSuffix:          "",
		base + "/language/authoring/analyze-text/jobs/" + id:       "",
		"%zz": "",
	} {
		got, ok := p.jobIDIn(loc, 0)
		assert.Equal(t, want, got, "jobIDIn(%q) = %q, %v; want %q", loc, got, ok, want)
		assert.Equal(t, want != "", ok, "jobIDIn(%q) = %q, %v; want %q", loc, got, ok, want)
	}
}

// BenchmarkSubmitAndPollRescue is BenchmarkSubmitAndPoll with job rescue
// off, on in memory, and on in a real Redis on loopback: a submit (one
// store write) and a poll that sees the job succeeded (one read, one
// delete).
func BenchmarkSubmitAndPollRescue(b *testing.B) {
	for _, tc := range []struct{ name, backend string }{{"off", ""}, {"memory", rescue.BackendMemory}, {"redis", "redis"}} {
		b.Run(tc.name, func(b *testing.B) {
			p, _, _ := benchProxy(b, false)
			if tc.backend != "" {
				backend := tc.backend
				if backend == "redis" {
					backend = redistest.Start(b).URL()
				}
				s, err := rescue.Open(context.Background(), rescue.Config{
					Backend: secret.Secret(backend), Keys: [][]byte{[]byte(strings.Repeat("k", rescue.KeySize))}, OpTimeout: time.Second,
				})
				require.NoError(b, err)
				b.Cleanup(s.Close)
				p.rescue = s
			}
			benchSubmitAndPoll(b, p)
		})
	}
}

// TestRescueThroughTheProxy: a job the primary accepted, a poll that finds
// the primary failing once its outage is due: the kept submit goes to the
// secondary, the client's id reads the rescued job from then
// on, the request span carries a rescue event, and a second poll is not a
// second resubmit.
func TestRescueThroughTheProxy(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	store := dueRescueStore(t)
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{config: func(c *Config) {
		c.Rescue = store
	}})
	sub := h.submit("proj", "prod")
	require.Equal(t, http.StatusAccepted, sub.status, "submit: %d %s", sub.status, sub.body)
	loc := sub.header.Get("Operation-Location")
	id := jobID(t, loc)

	primary.Always(http.StatusServiceUnavailable)
	for range 2 {
		r := h.do(http.MethodGet, loc, "")
		require.Equal(t, http.StatusOK, r.status, "poll of a rescued job: %d %s", r.status, r.body)
		got := r.json(t)["jobId"]
		require.Equal(t, id, got, "jobId = %v, want the client's %s", got, id)
	}
	n := secondary.Calls("submit")
	require.Equal(t, 1, n, "secondary submits, want exactly 1")
	events := 0
	for _, s := range h.spans.Ended() {
		for _, e := range s.Events() {
			if e.Name == "rescue" {
				events++
				attrs := map[string]string{}
				for _, a := range e.Attributes {
					attrs[string(a.Key)] = a.Value.AsString()
				}
				assert.Equal(t, "westus2", attrs["gateway.rescue.from"], "rescue event attributes %v", attrs)
				assert.Equal(t, "eastus", attrs["gateway.rescue.to"], "rescue event attributes %v", attrs)
			}
		}
	}
	require.Equal(t, 1, events, "rescue span events, want 1")
}

// TestRescueNotForAThrottledOwner: a 429 is a busy region, not a dead one:
// polls get a calm answer with Retry-After and the job stays where it is.
func TestRescueNotForAThrottledOwner(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	store := dueRescueStore(t)
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{config: func(c *Config) { c.Rescue = store }})
	sub := h.submit("proj", "prod")
	require.Equal(t, http.StatusAccepted, sub.status, "submit: %d %s", sub.status, sub.body)
	primary.mu.Lock()
	primary.retryAft = "30"
	primary.mu.Unlock()
	primary.Always(http.StatusTooManyRequests)
	for range 3 { // the 429, then the parked quota
		r := h.do(http.MethodGet, sub.header.Get("Operation-Location"), "")
		require.Equal(t, http.StatusOK, r.status, "poll of a throttled owner's job: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
		require.Equal(t, "30", r.header.Get("Retry-After"), "poll of a throttled owner's job: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	n := secondary.Calls("submit")
	require.Equal(t, 0, n, "a throttled owner's job was resubmitted ()")
}

// dueRescueStore is a memory rescue store whose rescues are due as soon as
// an owner fails.
func dueRescueStore(t *testing.T) *rescue.Store {
	t.Helper()
	store, err := rescue.Open(context.Background(), rescue.Config{
		Backend: rescue.BackendMemory, Keys: [][]byte{[]byte(strings.Repeat("k", rescue.KeySize))},
		After: time.Nanosecond,
	})
	require.NoError(t, err)
	t.Cleanup(store.Close)
	return store
}
