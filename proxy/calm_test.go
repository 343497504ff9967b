package proxy

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/internal/region"
	"nergateway/rescue"
)

func TestReadJobHead(t *testing.T) {
	created := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	updated := created.Add(time.Second)
	expires := created.Add(24 * time.Hour)
	known := jobSeen{created: created, updated: updated, expires: expires, status: api.StatusRunning, total: 2, counted: true}
	for _, tc := range []struct {
		name string
		body string
		prev jobSeen
		want jobSeen
		ok   bool
	}{
		{name: "running, Azure's order",
			body: `{"jobId":"x","createdDateTime":"2026-11-29T03:00:00Z","lastUpdatedDateTime":"2026-11-29T03:00:01Z","expirationDateTime":"2026-11-30T03:00:00Z","status":"running","errors":[],"tasks":{"completed":1,"failed":0,"inProgress":1,"total":2,"items":[{"status":"succeeded","results":{"documents":[]}}]}}`,
			want: jobSeen{created: created, updated: updated, expires: expires, status: api.StatusRunning, completed: 1, total: 2, counted: true}, ok: true},
		{name: "the other spelling of the update's date, members in any order",
			body: `{"tasks":{"total":1,"failed":0,"completed":0},"status":"notStarted","lastUpdateDateTime":"2026-11-29T03:00:01Z"}`,
			want: jobSeen{updated: updated, status: api.StatusNotStarted, total: 1, counted: true}, ok: true},
		{name: "finished: read no further than the status",
			body: `{"status":"succeeded","tasks":not json at all`,
			prev: known,
			want: jobSeen{created: created, updated: updated, expires: expires, status: api.StatusSucceeded, final: true, total: 2, counted: true}, ok: true},
		{name: "a task's status is not the job's",
			body: `{"status":"running","tasks":{"completed":0,"failed":0,"total":1,"items":[{"status":"failed"}]}}`,
			want: jobSeen{status: api.StatusRunning, total: 1, counted: true}, ok: true},
		{name: "same status: dates kept, not parsed again",
			body: `{"createdDateTime":"2030-01-01T00:00:00Z","status":"running","tasks":{"completed":2,"failed":0,"total":2}}`,
			prev: known,
			want: jobSeen{created: created, updated: updated, expires: expires, status: api.StatusRunning, completed: 2, total: 2, counted: true}, ok: true},
		{name: "an unknown status is not final",
			body: `{"status":"somethingNew"}`, want: jobSeen{}, ok: true},
		{name: "not an object", body: `["status","succeeded"]`, prev: known, want: known},
		{name: "malformed", body: `{"status":"running",`, prev: known, want: known},
		{name: "a bad date keeps the old one",
			body: `{"status":"cancelling","createdDateTime":"yesterday"}`, prev: known,
			want: jobSeen{created: created, updated: updated, expires: expires, status: api.StatusCancelling, total: 2, counted: true}, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head, ok := readJobHead([]byte(tc.body))
			assert.Equal(t, tc.ok, ok)
			got := tc.prev // what noteJob keeps of a body that is not an object
			if ok {
				got = head.merge(tc.prev)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestCalmBody(t *testing.T) {
	created := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	var got api.JobState
	raw := calmBody("0f8fad5b-d9cb-469f-a165-70867728950e", jobSeen{created: created, updated: created.Add(time.Second),
		status: api.StatusRunning, completed: 1, total: 3, counted: true}, "2023-04-01")
	require.NoError(t, json.Unmarshal(raw, &got), "%s", raw)
	assert.Equal(t, "0f8fad5b-d9cb-469f-a165-70867728950e", got.JobID)
	assert.Equal(t, api.StatusRunning, got.Status)
	assert.True(t, got.CreatedDateTime.Equal(created))
	assert.True(t, got.LastUpdatedDateTime.Equal(created.Add(time.Second)))
	assert.True(t, got.ExpirationDateTime.IsZero(), "a date the gateway does not know is left out")
	assert.Equal(t, api.TaskSummary{Completed: 1, InProgress: 2, Total: 3, Items: []api.TaskItem{}}, got.Tasks)
	// Azure's recorded running job (internal/testkit/recorded, 2023-04-01), member for member.
	assert.Equal(t, `{"jobId":"0f8fad5b-d9cb-469f-a165-70867728950e","lastUpdatedDateTime":"2026-11-29T03:00:01Z","createdDateTime":"2026-11-29T03:00:00Z",`+
		`"status":"running","errors":[],"tasks":{"completed":1,"failed":0,"inProgress":2,"total":3,"items":[]}}`, string(raw))
	// The 2022 versions spell the update's date without the d.
	assert.Contains(t, string(calmBody("0f8fad5b-d9cb-469f-a165-70867728950e", jobSeen{updated: created}, "2022-05-01")), `"lastUpdateDateTime":"2026-11-29T03:00:00Z"`)
	// A job known finished is never written so; nothing known reads notStarted.
	for _, seen := range []jobSeen{{}, {status: api.StatusSucceeded, final: true}} {
		require.NoError(t, json.Unmarshal(calmBody("0f8fad5b-d9cb-469f-a165-70867728950e", seen, "2023-04-01"), &got))
		assert.Equal(t, api.StatusNotStarted, got.Status)
	}
}

// calmReply asserts a calm answer: 200, the client's job id, the status,
// no errors, items empty, a Retry-After of at least a second.
func calmReply(t *testing.T, r reply, id, status string) api.JobState {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var st api.JobState
	require.NoError(t, json.Unmarshal(r.body, &st), "%s", r.body)
	assert.Equal(t, id, st.JobID)
	assert.Equal(t, status, st.Status)
	assert.Contains(t, string(r.body), `"items":[]`)
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", r.header.Get("Retry-After"))
	assert.GreaterOrEqual(t, ra, 1)
	return st
}

// TestCalmPolls: each way an owner cannot answer for a job gets the calm
// answer, counted by reason and recorded on the request's span.
func TestCalmPolls(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reasons []region.Outcome // of consecutive polls
		fail    func(primary *fakeRegion)
		retry   string // Retry-After of the first poll, when it is known
	}{
		{name: "5xx then breaker open", reasons: []region.Outcome{region.OutcomeStatus5xx, region.OutcomeBreakerOpen},
			// The 5xx opens the breaker (threshold 1): come back at its trial.
			fail: func(f *fakeRegion) { f.Always(http.StatusServiceUnavailable) }, retry: "60"},
		{name: "429 then parked", reasons: []region.Outcome{region.OutcomeStatus429, region.OutcomeParked},
			fail: func(f *fakeRegion) {
				f.mu.Lock()
				f.retryAft = "7"
				f.mu.Unlock()
				f.Always(http.StatusTooManyRequests)
			}, retry: "7"},
		{name: "timeout", reasons: []region.Outcome{region.OutcomeTimeout},
			fail: func(f *fakeRegion) {
				f.mu.Lock()
				f.block = make(chan struct{})
				f.mu.Unlock()
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
			primary.mu.Lock()
			primary.running = true
			primary.mu.Unlock()
			h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{failures: 1,
				config: func(c *Config) { c.UpstreamTimeout = 300 * time.Millisecond }})
			sub := h.submit("proj", "prod")
			require.Equal(t, http.StatusAccepted, sub.status)
			loc := sub.header.Get("Operation-Location")
			id := jobID(t, loc)
			seen := h.do(http.MethodGet, loc, "")
			require.Equal(t, http.StatusOK, seen.status)

			tc.fail(primary)
			for i, reason := range tc.reasons {
				r := h.do(http.MethodGet, loc, "")
				st := calmReply(t, r, id, api.StatusRunning)
				if i == 0 && tc.retry != "" {
					assert.Equal(t, tc.retry, r.header.Get("Retry-After"))
				}
				// What the last real answer said, not invented.
				assert.Equal(t, time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC), st.CreatedDateTime.UTC())
				assert.Equal(t, time.Date(2026, 11, 29, 3, 0, 1, 0, time.UTC), st.LastUpdatedDateTime.UTC())
				assert.Equal(t, api.TaskSummary{Completed: 1, Total: 1, Items: []api.TaskItem{}}, st.Tasks)
				assert.EqualValues(t, 1, h.counter("gateway.polls.answered_calm", map[string]string{"region": "westus2", "reason": string(reason)}), reason)
			}
			assert.Zero(t, secondary.Calls("job"), "a poll never fails over")
			events := 0
			for _, s := range h.spans.Ended() {
				for _, e := range s.Events() {
					if e.Name == "calm_poll" {
						events++
					}
				}
			}
			assert.Equal(t, len(tc.reasons), events, "a calm_poll span event per calm answer")
			// A cancel is not a poll: it still fails.
			c := h.do(http.MethodPost, h.gw.URL+api.JobsPath+"/"+id+":cancel?api-version=2023-04-01", "")
			assert.Contains(t, []int{http.StatusServiceUnavailable, http.StatusGatewayTimeout}, c.status)
			primary.mu.Lock()
			if primary.block != nil {
				close(primary.block)
				primary.block = nil
			}
			primary.mu.Unlock()
		})
	}
}

// TestCalmPollOfARefusingOwner: a job the gateway knows only from its
// submit is notStarted, with its submit's time; one it never saw is
// notStarted without dates.
func TestCalmPollOfARefusingOwner(t *testing.T) {
	secondary := newFakeRegion(t, "s")
	h := newHarness(t, []upstream{deadUpstream(t), secondary.upstream()}, harnessOptions{})
	tok, _ := encodeToken(newV4(), 0)
	st := calmReply(t, h.do(http.MethodGet, api.JobsPath+"/"+tok+"?api-version=2023-04-01", ""), tok, api.StatusNotStarted)
	assert.True(t, st.CreatedDateTime.IsZero())
	assert.EqualValues(t, 1, h.counter("gateway.polls.answered_calm", map[string]string{"region": "westus2", "reason": "connection_error"}))

	tok2, _ := encodeToken(newV4(), 1)
	before := time.Now()
	k2, _ := jobKeyOf(tok2)
	h.proxy.jobs.put(k2, memoOf(jobSeen{created: before.UTC(), status: api.StatusNotStarted}), before)
	secondary.Always(http.StatusInternalServerError)
	st = calmReply(t, h.do(http.MethodGet, api.JobsPath+"/"+tok2+"?api-version=2023-04-01", ""), tok2, api.StatusNotStarted)
	assert.True(t, st.CreatedDateTime.Equal(before.UTC()))
}

// TestNoCalmPollForAFinishedJob: a job the gateway saw finish, whose
// result only its owner holds, is not answered running: 503 as before.
// So are result pages (a nextLink exists only once a job is finished).
func TestNoCalmPollForAFinishedJob(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{})
	sub := h.submit("proj", "prod")
	loc := sub.header.Get("Operation-Location")
	done := h.do(http.MethodGet, loc, "")
	require.Equal(t, http.StatusOK, done.status)
	require.Equal(t, api.StatusSucceeded, done.json(t)["status"])

	primary.Always(http.StatusServiceUnavailable)
	for _, target := range []string{loc, loc + "&skip=1&top=1"} {
		r := h.do(http.MethodGet, target, "")
		assert.Equal(t, http.StatusServiceUnavailable, r.status, "%s: %s", target, r.body)
		assert.NotEmpty(t, r.header.Get("Retry-After"))
	}
	tok, _ := encodeToken(newV4(), 0)
	r := h.do(http.MethodGet, api.JobsPath+"/"+tok+"?api-version=2023-04-01&top=1&skip=1", "")
	assert.Equal(t, http.StatusServiceUnavailable, r.status, "a page of a job never seen: %s", r.body)
	assert.Zero(t, h.counter("gateway.polls.answered_calm", nil))
}

// TestStaleViewTriesTheOwner: this replica saw the primary go down (its
// breaker is still open), but the primary accepted a job after that
// (through another replica). A poll of that job, with its rescue long due
// by the outage's clock, is sent to the primary once, breaker or not, and
// never resubmitted; later polls are calm until the breaker closes.
func TestStaleViewTriesTheOwner(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	primary.mu.Lock()
	primary.running = true
	primary.mu.Unlock()
	store := dueRescueStore(t)
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{failures: 1,
		config: func(c *Config) { c.Rescue = store }})
	primary.Always(http.StatusBadGateway)
	require.Equal(t, http.StatusAccepted, h.submit("proj", "prod").status, "fails over")
	require.Equal(t, region.StateOpen, h.regions[0].State())
	since, down := h.regions[0].DownSince()
	require.True(t, down, "the breaker's opening starts the outage")
	require.Equal(t, h.regions[0].OpenedAt(), since)
	primary.Always(0) // back, but this replica's breaker stays open for a minute

	// The job the primary accepted afterwards, as another replica kept it.
	upstream := newV4()
	primary.mu.Lock()
	primary.jobs[upstream] = &fakeJob{project: "proj", deployment: "prod"}
	primary.mu.Unlock()
	tok, ok := encodeToken(upstream, 0)
	require.True(t, ok)
	require.NoError(t, store.Put(context.Background(), tok, rescue.Job{Query: "api-version=2023-04-01",
		ContentType: "application/json", Body: []byte(submitBody("proj", "prod")), Accepted: time.Now()}))
	submits := secondary.Calls("submit")

	first := h.do(http.MethodGet, api.JobsPath+"/"+tok+"?api-version=2023-04-01", "")
	require.Equal(t, http.StatusOK, first.status, "%s", first.body)
	assert.Equal(t, "req-p", first.header.Get(api.RequestIDHeader), "the primary's own answer")
	assert.Equal(t, 1, primary.Calls("job"))
	for range 3 {
		calmReply(t, h.do(http.MethodGet, api.JobsPath+"/"+tok+"?api-version=2023-04-01", ""), tok, api.StatusRunning)
	}
	assert.Equal(t, submits, secondary.Calls("submit"), "a job the primary took after the outage began was resubmitted")
	assert.Equal(t, region.StateOpen, h.regions[0].State(), "the trial is not the breaker's")
	_, down = store.DueIn(h.regions[0], time.Now())
	assert.False(t, down, "the job's acceptance ended this replica's outage")
}

// TestJobMemoKeepsWhatCalmAnswersSay: the job memory's pointer-free form
// gives back every field it was given, unknown dates and status included.
func TestJobMemoKeepsWhatCalmAnswersSay(t *testing.T) {
	created := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	for _, seen := range []jobSeen{
		{},
		{created: created, status: api.StatusNotStarted},
		{created: created, updated: created.Add(1500 * time.Millisecond), expires: created.Add(24 * time.Hour),
			status: api.StatusRunning, completed: 1, failed: 2, total: 4, counted: true},
		{status: api.StatusPartiallySucceeded, final: true},
	} {
		assert.Equal(t, seen, memoOf(seen).seen())
	}
	for _, st := range jobStatuses {
		assert.Equal(t, st, memoOf(jobSeen{status: st}).seen().status)
	}
}
