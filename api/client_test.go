package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"nergateway/internal/secret"
	"nergateway/internal/testkit/loopback"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testKey = "region-key-3f9c1d"

// reply is one scripted answer of the fake region.
type reply struct {
	status int
	header map[string]string
	body   string // "{{URL}}" becomes the server's URL
	// block, when set, makes the handler wait for the request's context to
	// end (a hung upstream) after signalling on the channel.
	block chan<- struct{}
}

// seen is what the fake region received.
type seen struct {
	method, path, query, key, body string
}

// fakeRegion answers each "METHOD /path" with its scripted replies in turn,
// repeating the last one, and records every request.
type fakeRegion struct {
	*httptest.Server
	mu     sync.Mutex
	routes map[string][]reply
	got    []seen
}

func newFakeRegion(t *testing.T, routes map[string][]reply) *fakeRegion {
	t.Helper()
	f := &fakeRegion{routes: routes}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeRegion) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	route := r.Method + " " + r.URL.Path
	f.mu.Lock()
	f.got = append(f.got, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get(SubscriptionKeyHeader), string(b)})
	rs := f.routes[route]
	var rep reply
	switch len(rs) {
	case 0:
		f.mu.Unlock()
		WriteError(w, http.StatusNotFound, Error{Code: CodeNotFound, Message: "no route " + route})
		return
	case 1:
		rep = rs[0]
	default:
		rep, f.routes[route] = rs[0], rs[1:]
	}
	f.mu.Unlock()
	if rep.block != nil {
		rep.block <- struct{}{}
		<-r.Context().Done()
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, strings.ReplaceAll(v, "{{URL}}", f.URL))
	}
	if rep.body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rep.status)
	io.WriteString(w, strings.ReplaceAll(rep.body, "{{URL}}", f.URL))
}

func (f *fakeRegion) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.got...)
}

// sleeps records the waits a client asked for instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func newTestClient(t *testing.T, endpoint string, opts ClientOptions) (*Client, *sleeps) {
	t.Helper()
	c, err := NewClient(endpoint, secret.Secret(testKey), opts)
	require.NoError(t, err, "NewClient")
	s := &sleeps{}
	c.sleep = s.sleep
	t.Cleanup(c.http.CloseIdleConnections)
	return c, s
}

// noKey fails the test when err's text carries the key.
func noKey(t *testing.T, err error) {
	t.Helper()
	require.False(t, err != nil && strings.Contains(err.Error(), testKey), "error text contains the key: %v", err)
}

func job(status string, extra string) string {
	return `{"jobId":"j1","createdDateTime":"2026-01-01T00:00:00Z","lastUpdatedDateTime":"2026-01-01T00:00:01Z","status":"` + status + `"` + extra + `}`
}

func TestNewClientValidates(t *testing.T) {
	for _, ep := range []string{"", "example.com", "/language", "ftp://example.com", "http://", "https://h/?q=1", "https://u:p@h", "://bad"} {
		_, err := NewClient(ep, testKey, ClientOptions{})
		if assert.Error(t, err, "NewClient(%q)", ep) {
			noKey(t, err)
		}
	}
	_, err := NewClient("https://h.example", "", ClientOptions{})
	assert.Error(t, err, "empty key accepted")
	c, err := NewClient("https://h.example/base/", testKey, ClientOptions{})
	require.NoError(t, err)
	assert.Equal(t, "https://h.example/base", c.endpoint, "defaults not applied: %+v", c)
	assert.Equal(t, "2022-05-01", c.authoring, "defaults not applied: %+v", c)
	assert.Equal(t, "2023-04-01", c.runtime, "defaults not applied: %+v", c)
	assert.Equal(t, time.Second, c.pollInterval, "defaults not applied: %+v", c)
	assert.Equal(t, 30*time.Second, c.maxPollInterval, "defaults not applied: %+v", c)
	assert.Equal(t, 5, c.max429Retries, "defaults not applied: %+v", c)
	s := fmt.Sprintf("%v %+v %#v", c, c, c)
	assert.NotContains(t, s, testKey, "printing the client reveals the key")
}

func TestSubmitJobAndWaitJob(t *testing.T) {
	f := newFakeRegion(t, map[string][]reply{
		"POST " + JobsPath: {{status: 202, header: map[string]string{
			"Operation-Location": "{{URL}}/language/analyze-text/jobs/11111111-2222-4333-8444-555555555555?api-version=2023-04-01",
			"Retry-After":        "2",
		}}},
		"GET " + JobsPath + "/11111111-2222-4333-8444-555555555555": {
			{status: 200, body: job("notStarted", "")},
			{status: 200, header: map[string]string{"Retry-After": "3"}, body: job("running", "")},
			{status: 200, body: job("running", "")},
			{status: 200, body: job("succeeded", `,"tasks":{"completed":1,"total":1,"items":[{"kind":"CustomEntityRecognitionLROResults","status":"succeeded","results":{"projectName":"p","deploymentName":"d","errors":[],"documents":[{"id":"1","warnings":[],"entities":[{"text":"Seattle","category":"City","offset":0,"length":7,"confidenceScore":1}]}]}}]},"brandNew":{"x":1}`)},
		},
	})
	c, sl := newTestClient(t, f.URL, ClientOptions{PollInterval: 10 * time.Millisecond})
	ctx := t.Context()

	req := SubmitRequest{
		AnalysisInput: AnalysisInput{Documents: []Document{{ID: "1", Text: "Seattle"}}},
		Tasks:         []Task{{Kind: KindCustomEntityRecognition, Parameters: TaskParameters{ProjectName: "p", DeploymentName: "d"}}},
		Extra:         Extra{"future": json.RawMessage(`true`)},
	}
	op, err := c.SubmitJob(ctx, req)
	require.NoError(t, err)
	require.Equal(t, "11111111-2222-4333-8444-555555555555", op.JobID, "operation = %+v", op)
	require.Equal(t, 2*time.Second, op.RetryAfter, "operation = %+v", op)
	require.Equal(t, f.URL+"/language/analyze-text/jobs/11111111-2222-4333-8444-555555555555?api-version=2023-04-01", op.URL, "operation = %+v", op)
	st, err := c.WaitJob(ctx, op)
	require.NoError(t, err)
	require.Equal(t, StatusSucceeded, st.Status, "state = %+v", st)
	require.Equal(t, `{"x":1}`, string(st.Extra["brandNew"]), "state = %+v", st)
	var res CustomEntitiesResult
	err = json.Unmarshal(st.Tasks.Items[0].Results, &res)
	require.NoError(t, err, "results = %+v, %v", res, err)
	require.Equal(t, "Seattle", res.Documents[0].Entities[0].Text, "results = %+v, %v", res, err)

	// First wait honours the 202's Retry-After, then PollInterval backing
	// off, except where a poll answer carried Retry-After.
	want := []time.Duration{2 * time.Second, 10 * time.Millisecond, 3 * time.Second, 20 * time.Millisecond}
	got := sl.all()
	assert.Equal(t, fmt.Sprint(want), fmt.Sprint(got), "waits = %v, want %v", got, want)
	reqs := f.requests()
	require.Len(t, reqs, 5, "requests, want 5")
	for _, r := range reqs {
		assert.Equal(t, testKey, r.key, "%s %s?%s key=%q: want the key and the runtime api-version", r.method, r.path, r.query, r.key)
		assert.Contains(t, r.query, "api-version=2023-04-01", "%s %s?%s key=%q: want the key and the runtime api-version", r.method, r.path, r.query, r.key)
	}
	var sent map[string]json.RawMessage
	err = json.Unmarshal([]byte(reqs[0].body), &sent)
	if assert.NoError(t, err, "submitted body lost an unknown member: %s", reqs[0].body) {
		assert.Equal(t, "true", string(sent["future"]), "submitted body lost an unknown member: %s", reqs[0].body)
	}
}

func TestGetJobQueryAndURL(t *testing.T) {
	f := newFakeRegion(t, map[string][]reply{
		"GET " + JobsPath + "/j1": {{status: 200, body: job("succeeded", `,"nextLink":"{{URL}}/language/analyze-text/jobs/j1?api-version=2023-04-01&top=1&skip=1"`)}},
	})
	c, _ := newTestClient(t, f.URL, ClientOptions{})
	st, err := c.GetJob(t.Context(), "j1", JobQuery{Top: 1, Skip: 2, ShowStats: true})
	require.NoError(t, err)
	_, err = c.GetJobURL(t.Context(), st.NextLink)
	require.NoError(t, err)
	reqs := f.requests()
	q := reqs[0].query
	assert.Equal(t, "api-version=2023-04-01&showStats=true&skip=2&top=1", q, "query")
	q = reqs[1].query
	assert.Equal(t, "api-version=2023-04-01&top=1&skip=1", q, "nextLink not used as given")
	// A URL without api-version gets one; a URL on another origin is refused.
	_, err = c.GetJobURL(t.Context(), f.URL+"/language/analyze-text/jobs/j1")
	require.NoError(t, err)
	q = f.requests()[2].query
	assert.Equal(t, "api-version=2023-04-01", q, "query")
	for _, u := range []string{"http://elsewhere.example/language/analyze-text/jobs/j1", "/language/analyze-text/jobs/j1", "https" + strings.TrimPrefix(f.URL, "http") + "/x"} {
		_, err := c.GetJobURL(t.Context(), u)
		assert.Error(t, err, "GetJobURL(%q) succeeded; want the foreign URL refused", u)
	}
	n := len(f.requests())
	assert.Equal(t, 3, n, "requests, want 3")
}

func TestCancelJob(t *testing.T) {
	f := newFakeRegion(t, map[string][]reply{
		"POST " + JobsPath + "/j1:cancel": {{status: 202, header: map[string]string{"Operation-Location": "{{URL}}/language/analyze-text/jobs/j1?api-version=2023-04-01"}}},
		"GET " + JobsPath + "/j1": {
			{status: 200, body: job("cancelling", "")},
			{status: 200, body: job("cancelled", "")},
		},
	})
	c, _ := newTestClient(t, f.URL, ClientOptions{})
	op, err := c.CancelJob(t.Context(), "j1")
	require.NoError(t, err)
	st, err := c.WaitJob(t.Context(), op)
	var jf *JobFailedError
	require.ErrorAs(t, err, &jf, "WaitJob: want the cancelled state and a JobFailedError")
	require.Equal(t, StatusCancelled, jf.Status, "WaitJob: want the cancelled state and a JobFailedError")
	require.NotNil(t, st, "WaitJob: want the cancelled state and a JobFailedError")
	require.Equal(t, StatusCancelled, st.Status, "WaitJob: want the cancelled state and a JobFailedError")
}

func TestWaitAuthoringJob(t *testing.T) {
	loc := "/language/authoring/analyze-text/projects/p/train/jobs/abc_123"
	f := newFakeRegion(t, map[string][]reply{
		"POST " + ProjectPath("p") + "/:train": {{status: 202, header: map[string]string{"operation-location": "{{URL}}" + loc + "?api-version=2022-05-01"}}},
		"GET " + loc: {
			{status: 200, body: `{"jobId":"abc_123","status":"notStarted"}`},
			{status: 200, body: `{"jobId":"abc_123","status":"running","result":{"modelLabel":"m","trainingConfigVersion":"latest","trainingStatus":{"percentComplete":50,"status":"running"}}}`},
			{status: 200, body: `{"jobId":"abc_123","status":"succeeded","warnings":[{"code":"W","message":"w"}]}`},
		},
	})
	c, sl := newTestClient(t, f.URL, ClientOptions{PollInterval: 5 * time.Millisecond, MaxPollInterval: 8 * time.Millisecond})
	op, err := c.Train(t.Context(), "p", TrainRequest{ModelLabel: "m", TrainingConfigVersion: "latest"})
	require.NoError(t, err)
	var statuses []string
	j, err := c.Wait(t.Context(), op, func(j *AuthoringJob) { statuses = append(statuses, j.JobID+":"+j.Status) })
	require.NoError(t, err)
	require.Equal(t, StatusSucceeded, j.Status, "job = %+v", j)
	require.Len(t, j.Warnings, 1, "job = %+v", j)
	got := strings.Join(statuses, ",")
	assert.Equal(t, "abc_123:notStarted,abc_123:running,abc_123:succeeded", got, "onPoll saw")
	got, want := fmt.Sprint(sl.all()), fmt.Sprint([]time.Duration{0, 5 * time.Millisecond, 8 * time.Millisecond})
	assert.Equal(t, want, got, "waits (backoff capped at MaxPollInterval)")
	reqs := f.requests()
	assert.Equal(t, `{"modelLabel":"m","trainingConfigVersion":"latest"}`, reqs[0].body, "train request = %+v", reqs[0])
	assert.Contains(t, reqs[0].query, "api-version=2022-05-01", "train request = %+v", reqs[0])
}

func TestWaitRetryAfterIsCapped(t *testing.T) {
	loc := "/language/authoring/analyze-text/projects/p/import/jobs/x"
	f := newFakeRegion(t, map[string][]reply{
		"GET " + loc: {
			{status: 200, header: map[string]string{"Retry-After": "120"}, body: `{"jobId":"x","status":"running"}`},
			{status: 200, header: map[string]string{"Retry-After": time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, body: `{"jobId":"x","status":"running"}`},
			{status: 200, header: map[string]string{"retry-after-ms": "7"}, body: `{"jobId":"x","status":"running"}`},
			{status: 200, body: `{"jobId":"x","status":"succeeded"}`},
		},
	})
	c, sl := newTestClient(t, f.URL, ClientOptions{MaxPollInterval: 40 * time.Millisecond})
	_, err := c.Wait(t.Context(), &Operation{URL: f.URL + loc, JobID: "x", RetryAfter: time.Minute}, nil)
	require.NoError(t, err)
	want := []time.Duration{40 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond, 7 * time.Millisecond}
	got := sl.all()
	assert.Equal(t, fmt.Sprint(want), fmt.Sprint(got), "waits = %v, want %v", got, want)
	q := f.requests()[0].query
	assert.Equal(t, "api-version=2022-05-01", q, "authoring poll without api-version")
}

func TestWaitFailedJob(t *testing.T) {
	loc := "/language/authoring/analyze-text/projects/p/import/jobs/x"
	f := newFakeRegion(t, map[string][]reply{
		"GET " + loc: {{status: 200, body: `{"jobId":"x","status":"failed","errors":[` +
			`{"code":"InvalidRequest","message":"storage ` + testKey + ` missing","innererror":{"code":"InvalidParameterValue","message":"container"}},` +
			`{"code":"Conflict","message":"second"}]}`}},
	})
	c, _ := newTestClient(t, f.URL, ClientOptions{})
	j, err := c.Wait(t.Context(), &Operation{URL: f.URL + loc, JobID: "x"}, nil)
	if assert.NotNil(t, j, "job, want the failed job back") {
		assert.Equal(t, StatusFailed, j.Status, "job, want the failed job back")
	}
	var jf *JobFailedError
	require.ErrorAs(t, err, &jf, "err, want *JobFailedError")
	require.Equal(t, "x", jf.JobID, "err, want *JobFailedError")
	require.Equal(t, StatusFailed, jf.Status, "err, want *JobFailedError")
	require.Len(t, jf.Errors, 2, "err, want *JobFailedError")
	var ae *Error
	require.ErrorAs(t, err, &ae, "errors.As(*Error) = %+v", ae)
	require.Equal(t, CodeInvalidRequest, ae.Code, "errors.As(*Error) = %+v", ae)
	require.Equal(t, InnerInvalidParameterValue, ae.InnerError.Code, "errors.As(*Error) = %+v", ae)
	assert.False(t, IsNotFound(err), "a failed job is not a 404")
	noKey(t, err)
	assert.Contains(t, err.Error(), "InvalidRequest", "error text %q lacks the job's codes", err)
	assert.Contains(t, err.Error(), "Conflict", "error text %q lacks the job's codes", err)
}

func TestWaitPollErrors(t *testing.T) {
	loc := "/language/authoring/analyze-text/projects/p/import/jobs/x"
	t.Run("transient", func(t *testing.T) {
		f := newFakeRegion(t, map[string][]reply{"GET " + loc: {
			{status: 503, body: `{"error":{"code":"ServiceUnavailable","message":"busy"}}`},
			{status: 500, body: `oops`},
			{status: 200, body: `{"jobId":"x","status":"succeeded"}`},
		}})
		c, _ := newTestClient(t, f.URL, ClientOptions{})
		_, err := c.Wait(t.Context(), &Operation{URL: f.URL + loc, JobID: "x"}, nil)
		require.NoError(t, err, "two 5xx in a row should be ridden out")
	})
	t.Run("persistent5xx", func(t *testing.T) {
		f := newFakeRegion(t, map[string][]reply{"GET " + loc: {{status: 500, body: `{"error":{"code":"InternalServerError","message":"down"}}`}}})
		c, _ := newTestClient(t, f.URL, ClientOptions{})
		_, err := c.Wait(t.Context(), &Operation{URL: f.URL + loc, JobID: "x"}, nil)
		var ae *Error
		require.ErrorAs(t, err, &ae, "err")
		require.Equal(t, 500, ae.StatusCode, "err")
		n := len(f.requests())
		assert.Equal(t, maxPollErrors+1, n, "polls")
	})
	t.Run("404", func(t *testing.T) {
		f := newFakeRegion(t, nil)
		c, _ := newTestClient(t, f.URL, ClientOptions{})
		_, err := c.Wait(t.Context(), &Operation{URL: f.URL + loc, JobID: "x"}, nil)
		require.True(t, IsNotFound(err), "err = %v after %d polls; want a 404 at once", err, len(f.requests()))
		require.Len(t, f.requests(), 1, "err = %v after %d polls; want a 404 at once", err, len(f.requests()))
	})
	t.Run("foreignOrigin", func(t *testing.T) {
		c, _ := newTestClient(t, "http://127.0.0.1:1", ClientOptions{})
		_, err := c.Wait(t.Context(), &Operation{URL: "http://attacker.example" + loc}, nil)
		require.Error(t, err, "polled a URL on another origin")
		_, err = c.Wait(t.Context(), nil, nil)
		require.Error(t, err, "nil operation accepted")
	})
}

func TestWaitContextCancelled(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	loc := "/language/authoring/analyze-text/projects/p/export/jobs/x"

	t.Run("whileSleeping", func(t *testing.T) {
		f := newFakeRegion(t, map[string][]reply{"GET " + loc: {{status: 200, header: map[string]string{"Retry-After": "3600"}, body: `{"jobId":"x","status":"running"}`}}})
		c, err := NewClient(f.URL, testKey, ClientOptions{MaxPollInterval: time.Hour}) // real sleep
		require.NoError(t, err)
		defer c.http.CloseIdleConnections()
		ctx, cancel := context.WithCancel(t.Context())
		polled := make(chan struct{}, 1)
		done := make(chan error, 1)
		go func() {
			_, err := c.Wait(ctx, &Operation{URL: f.URL + loc, JobID: "x"}, func(*AuthoringJob) { polled <- struct{}{} })
			done <- err
		}()
		<-polled
		cancel()
		err = <-done
		require.ErrorIs(t, err, context.Canceled, "err, want context.Canceled")
		f.Close()
	})

	t.Run("whilePolling", func(t *testing.T) {
		entered := make(chan struct{}, 1)
		f := newFakeRegion(t, map[string][]reply{"GET " + loc: {
			{status: 200, body: `{"jobId":"x","status":"running"}`},
			{block: entered},
		}})
		c, err := NewClient(f.URL, testKey, ClientOptions{PollInterval: time.Millisecond})
		require.NoError(t, err)
		defer c.http.CloseIdleConnections()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		var last *AuthoringJob
		go func() {
			defer close(done)
			last, err = c.Wait(ctx, &Operation{URL: f.URL + loc, JobID: "x"}, nil)
		}()
		<-entered
		cancel()
		<-done
		require.ErrorIs(t, err, context.Canceled, "Wait; want the last job and context.Canceled")
		require.NotNil(t, last, "Wait; want the last job and context.Canceled")
		require.Equal(t, StatusRunning, last.Status, "Wait; want the last job and context.Canceled")
		f.Close()
	})
}

func Test429(t *testing.T) {
	frontDoor429 := `{"error":{"code":"429","message":"Requests to the Operation have exceeded rate limit. Please retry after 1 second."}}`
	ok := `{"projectName":"p","projectKind":"CustomEntityRecognition","language":"en"}`
	t.Run("waitedOut", func(t *testing.T) {
		f := newFakeRegion(t, map[string][]reply{"GET " + ProjectPath("p"): {
			{status: 429, header: map[string]string{"Retry-After": "1"}, body: frontDoor429},
			{status: 429, header: map[string]string{"Retry-After": "90"}, body: frontDoor429},
			{status: 200, body: ok},
		}})
		c, sl := newTestClient(t, f.URL, ClientOptions{MaxPollInterval: 20 * time.Millisecond})
		p, err := c.GetProject(t.Context(), "p")
		require.NoError(t, err, "GetProject = %+v, %v", p, err)
		require.Equal(t, "p", p.ProjectName, "GetProject = %+v, %v", p, err)
		got := fmt.Sprint(sl.all())
		assert.Equal(t, fmt.Sprint([]time.Duration{20 * time.Millisecond, 20 * time.Millisecond}), got, "waits")
		for _, r := range f.requests() {
			assert.Equal(t, testKey, r.key, "retry sent without the key")
		}
	})
	t.Run("retriesExhausted", func(t *testing.T) {
		f := newFakeRegion(t, map[string][]reply{"GET " + ProjectPath("p"): {{status: 429, header: map[string]string{"Retry-After": "0"}, body: frontDoor429}}})
		c, _ := newTestClient(t, f.URL, ClientOptions{Max429Retries: 2})
		_, err := c.GetProject(t.Context(), "p")
		var ae *Error
		require.ErrorAs(t, err, &ae, "err")
		require.Equal(t, 429, ae.StatusCode, "err")
		require.Equal(t, CodeFrontDoorTooManyRequests, ae.Code, "err")
		n := len(f.requests())
		assert.Equal(t, 3, n, "requests, want 1 + 2 retries")
	})
	t.Run("noRetryAfter", func(t *testing.T) {
		f := newFakeRegion(t, map[string][]reply{"POST " + JobsPath: {{status: 429, body: frontDoor429}}})
		c, _ := newTestClient(t, f.URL, ClientOptions{})
		_, err := c.SubmitJob(t.Context(), SubmitRequest{})
		require.Error(t, err, "err after requests; a 429 without Retry-After is not retried")
		require.Len(t, f.requests(), 1, "err after requests; a 429 without Retry-After is not retried")
	})
	t.Run("ctxEndsTheWait", func(t *testing.T) {
		f := newFakeRegion(t, map[string][]reply{"GET " + ProjectPath("p"): {{status: 429, header: map[string]string{"Retry-After": "1"}, body: frontDoor429}}})
		c, _ := newTestClient(t, f.URL, ClientOptions{})
		ctx, cancel := context.WithCancel(t.Context())
		c.sleep = func(context.Context, time.Duration) error { cancel(); return ctx.Err() }
		_, err := c.GetProject(ctx, "p")
		var ae *Error
		require.ErrorIs(t, err, context.Canceled, "err; want both the 429 and context.Canceled")
		require.ErrorAs(t, err, &ae, "err; want both the 429 and context.Canceled")
		require.Equal(t, 429, ae.StatusCode, "err; want both the 429 and context.Canceled")
	})
}

func TestErrorDecoding(t *testing.T) {
	long := strings.Repeat("x", 5000)
	f := newFakeRegion(t, map[string][]reply{
		"GET " + ProjectPath("unauth"):  {{status: 401, body: `{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint."}}`}},
		"GET " + ProjectPath("missing"): {{status: 404, body: `{"error":{"code":"ProjectNotFound","message":"The project missing could not be found.","innererror":{"code":"NotFound","message":"inner"}}}`}},
		"GET " + ProjectPath("html"):    {{status: 502, header: map[string]string{"Content-Type": "text/html"}, body: "<html><body>Bad Gateway " + testKey + " " + long + "</body></html>"}},
		"GET " + ProjectPath("empty"):   {{status: 503, header: map[string]string{"x-ms-error-code": "ServiceUnavailable"}}},
		"GET " + ProjectPath("echo"):    {{status: 400, body: `{"error":{"code":"InvalidRequest","message":"bad key ` + testKey + `","target":"` + testKey + `"}}`}},
	})
	c, _ := newTestClient(t, f.URL, ClientOptions{})
	get := func(p string) (*Error, error) {
		t.Helper()
		_, err := c.GetProject(t.Context(), p)
		noKey(t, err)
		var ae *Error
		require.ErrorAs(t, err, &ae, "GetProject(%q) err = %v, want *Error", p, err)
		return ae, err
	}

	ae, err := get("unauth")
	assert.Equal(t, 401, ae.StatusCode, "401: %+v", ae)
	assert.Equal(t, CodeFrontDoorUnauthorized, ae.Code, "401: %+v", ae)
	assert.False(t, IsNotFound(err), "401: %+v", ae)
	ae, err = get("missing")
	assert.Equal(t, 404, ae.StatusCode, "404: %+v", ae)
	assert.Equal(t, CodeProjectNotFound, ae.Code, "404: %+v", ae)
	assert.True(t, IsNotFound(err), "404: %+v", ae)
	assert.True(t, IsNotFound(fmt.Errorf("outer: %w", err)), "404: %+v", ae)
	assert.Contains(t, err.Error(), `get project "missing"`, "404 text %q lacks context", err)
	assert.Contains(t, err.Error(), "404", "404 text %q lacks context", err)
	ae, _ = get("html")
	assert.Equal(t, 502, ae.StatusCode, "non-JSON: %+v", ae)
	assert.Equal(t, "502", ae.Code, "non-JSON: %+v", ae)
	assert.Contains(t, ae.Message, "Bad Gateway", "non-JSON: %+v", ae)
	assert.LessOrEqual(t, len(ae.Message), 300, "non-JSON: %+v", ae)
	ae, _ = get("empty")
	assert.Equal(t, 503, ae.StatusCode, "empty body: %+v", ae)
	assert.Equal(t, CodeServiceUnavailable, ae.Code, "empty body: %+v", ae)
	assert.Equal(t, "Service Unavailable", ae.Message, "empty body: %+v", ae)
	ae, _ = get("echo")
	assert.Equal(t, secret.Redacted, ae.Target, "echoed key survived: %+v", ae)
	assert.NotContains(t, ae.Message, testKey, "echoed key survived: %+v", ae)
	assert.False(t, IsNotFound(nil), "IsNotFound is true for a non-*Error")
	assert.False(t, IsNotFound(errors.New("404")), "IsNotFound is true for a non-*Error")
}

func TestListDeploymentsFollowsNextLink(t *testing.T) {
	path := ProjectPath("p") + "/deployments"
	f := newFakeRegion(t, map[string][]reply{"GET " + path: {
		{status: 200, body: `{"value":[{"deploymentName":"a","modelId":"m-1"},{"deploymentName":"b","modelId":"m-2"}],"nextLink":"{{URL}}` + path + `?api-version=2022-05-01&skip=2&top=2"}`},
		{status: 200, body: `{"value":[{"deploymentName":"c","modelId":"m-3"}],"nextLink":null}`},
	}})
	c, _ := newTestClient(t, f.URL, ClientOptions{})
	ds, err := c.ListDeployments(t.Context(), "p")
	require.NoError(t, err)
	var names []string
	for _, d := range ds {
		names = append(names, d.DeploymentName)
	}
	assert.Equal(t, "a,b,c", strings.Join(names, ","), "deployments = %v", names)
	reqs := f.requests()
	if assert.Len(t, reqs, 2, "requests") {
		assert.Equal(t, "api-version=2022-05-01&skip=2&top=2", reqs[1].query, "requests")
		assert.Equal(t, testKey, reqs[1].key, "requests")
	}
}

func TestListStopsOnBadNextLink(t *testing.T) {
	other := newFakeRegion(t, nil)
	path := AuthoringProjectsPath
	f := newFakeRegion(t, map[string][]reply{"GET " + path: {{status: 200, body: `{"value":[{"projectName":"p"}],"nextLink":"` + other.URL + path + `"}`}}})
	c, _ := newTestClient(t, f.URL, ClientOptions{})
	_, err := c.ListProjects(t.Context())
	require.Error(t, err, "followed a nextLink to another origin")
	require.Empty(t, other.requests(), "the key went to another origin")

	loop := newFakeRegion(t, map[string][]reply{"GET " + path: {{status: 200, body: `{"value":[],"nextLink":"{{URL}}` + path + `?skip=0"}`}}})
	c, _ = newTestClient(t, loop.URL, ClientOptions{})
	_, err = c.ListProjects(t.Context())
	require.Error(t, err, "a repeating nextLink: err after requests")
	require.LessOrEqual(t, len(loop.requests()), 3, "a repeating nextLink: err after requests")
}

func TestRedirectToOtherOriginRefused(t *testing.T) {
	other := newFakeRegion(t, map[string][]reply{"GET " + ProjectPath("p"): {{status: 200, body: `{}`}}})
	f := newFakeRegion(t, map[string][]reply{"GET " + ProjectPath("p"): {{status: 307, header: map[string]string{"Location": other.URL + ProjectPath("p")}}}})
	for _, hc := range []*http.Client{nil, {}} {
		c, _ := newTestClient(t, f.URL, ClientOptions{HTTPClient: hc})
		_, err := c.GetProject(t.Context(), "p")
		assert.Error(t, err, "followed a redirect to another origin")
	}
	require.Empty(t, other.requests(), "the key went to another origin through a redirect")
}

func TestAuthoringCalls(t *testing.T) {
	exported := `{"projectFileVersion":"2022-05-01","stringIndexType":"Utf16CodeUnit","metadata":{"projectKind":"CustomEntityRecognition","projectName":"p","storageInputContainerName":"c","language":"en","multilingual":false,"newMeta":1},"assets":{"projectKind":"CustomEntityRecognition","entities":[{"category":"City"}],"documents":[{"location":"a.txt","language":"en","dataset":"Train","entities":[{"regionOffset":0,"regionLength":7,"labels":[{"category":"City","offset":0,"length":7}]}],"docNew":"x"}]}}`
	accepted := func(jobPath string) []reply {
		return []reply{{status: 202, header: map[string]string{"Operation-Location": "{{URL}}" + jobPath + "?api-version=2022-05-01"}}}
	}
	f := newFakeRegion(t, map[string][]reply{
		"POST " + ProjectPath("p") + "/:export":              accepted(ProjectPath("p") + "/export/jobs/e1"),
		"GET " + ProjectPath("p") + "/export/jobs/e1/result": {{status: 200, body: exported}},
		"POST " + ProjectPath("q") + "/:import":              accepted(ProjectPath("q") + "/import/jobs/i1"),
		"PUT " + DeploymentPath("q", "prod"):                 accepted(DeploymentPath("q", "prod") + "/jobs/d1"),
		"GET " + DeploymentPath("q", "prod"):                 {{status: 200, body: `{"deploymentName":"prod","modelId":"m-1"}`}},
		"GET " + ProjectPath("q") + "/models":                {{status: 200, body: `{"value":[{"label":"m","modelId":"m-1","lastTrainingDurationInSeconds":3}]}`}},
		"GET " + ProjectPath("q") + "/models/m":              {{status: 200, body: `{"label":"m","modelId":"m-1","hasSnapshot":true}`}},
		"GET " + AuthoringProjectsPath:                       {{status: 200, body: `{"value":[{"projectName":"p","lastModifiedDateTime":"2026-01-02T03:04:05Z"}]}`}},
		"POST " + ProjectPath("nolocation") + "/:import":     {{status: 202}},
		"POST " + ProjectPath("badlocation") + "/:import":    {{status: 202, header: map[string]string{"Operation-Location": "jobs/x"}}},
	})
	c, _ := newTestClient(t, f.URL, ClientOptions{AuthoringAPIVersion: "2023-04-01"})
	ctx := t.Context()

	op, err := c.Export(ctx, "p")
	require.NoError(t, err, "Export = %+v, %v", op, err)
	require.Equal(t, "e1", op.JobID, "Export = %+v, %v", op, err)
	ep, err := c.ExportResult(ctx, f.URL+ProjectPath("p")+"/export/jobs/e1/result?api-version=2023-04-01")
	require.NoError(t, err)
	ep.Metadata.ProjectName, ep.Metadata.StorageInputContainerName = "q", "c2"
	_, err = c.Import(ctx, "q", *ep)
	require.NoError(t, err)
	_, err = c.Deploy(ctx, "q", "prod", DeployRequest{TrainedModelLabel: "m"})
	require.NoError(t, err)
	d, err := c.GetDeployment(ctx, "q", "prod")
	require.NoError(t, err, "GetDeployment = %+v, %v", d, err)
	require.Equal(t, "m-1", d.ModelID, "GetDeployment = %+v, %v", d, err)
	ms, err := c.ListModels(ctx, "q")
	require.NoError(t, err, "ListModels")
	require.Len(t, ms, 1, "ListModels")
	require.Equal(t, 3, ms[0].LastTrainingDurationInSeconds, "ListModels")
	m, err := c.GetModel(ctx, "q", "m")
	require.NoError(t, err, "GetModel = %+v, %v", m, err)
	require.NotNil(t, m.HasSnapshot, "GetModel = %+v, %v", m, err)
	require.True(t, *m.HasSnapshot, "GetModel = %+v, %v", m, err)
	ps, err := c.ListProjects(ctx)
	require.NoError(t, err, "ListProjects")
	require.Len(t, ps, 1, "ListProjects")
	require.False(t, ps[0].LastModifiedDateTime.IsZero(), "ListProjects")
	_, err = c.Import(ctx, "nolocation", *ep)
	if assert.Error(t, err, "202 without operation-location") {
		assert.Contains(t, err.Error(), `import project "nolocation"`, "202 without operation-location")
	}
	_, err = c.Import(ctx, "badlocation", *ep)
	assert.Error(t, err, "relative operation-location accepted")

	reqs := f.requests()
	r := reqs[0]
	assert.Equal(t, "POST", r.method, "export request = %+v", r)
	assert.Equal(t, "api-version=2023-04-01&stringIndexType=Utf16CodeUnit", r.query, "export request = %+v", r)
	assert.Equal(t, "", r.body, "export request = %+v", r)
	var imported ExportedProject
	require.NoError(t, json.Unmarshal([]byte(reqs[2].body), &imported))
	assert.Equal(t, "q", imported.Metadata.ProjectName, "import body = %s", reqs[2].body)
	assert.Equal(t, "c2", imported.Metadata.StorageInputContainerName, "import body = %s", reqs[2].body)
	assert.Equal(t, "1", string(imported.Metadata.Extra["newMeta"]), "import body = %s", reqs[2].body)
	assert.Equal(t, `"x"`, string(imported.Assets.Documents[0].Extra["docNew"]), "import body = %s", reqs[2].body)
	r = reqs[3]
	assert.Equal(t, "PUT", r.method, "deploy request = %+v", r)
	assert.Equal(t, `{"trainedModelLabel":"m"}`, r.body, "deploy request = %+v", r)
	for _, r := range reqs {
		assert.Equal(t, testKey, r.key, "%s %s?%s: missing key or authoring api-version", r.method, r.path, r.query)
		assert.Contains(t, r.query, "api-version=2023-04-01", "%s %s?%s: missing key or authoring api-version", r.method, r.path, r.query)
	}
}

func TestTransportErrorIsWrapped(t *testing.T) {
	addr := loopback.FreeAddr(t) // a dead upstream: connection refused
	c, _ := newTestClient(t, "http://"+addr, ClientOptions{})
	_, err := c.GetDeployment(t.Context(), "p", "d")
	var ne net.Error
	require.Error(t, err, "err")
	require.ErrorAs(t, err, &ne, "err")
	require.Contains(t, err.Error(), `get deployment "d" of project "p"`, "err")
	noKey(t, err)
}

func TestProbe(t *testing.T) {
	f := newFakeRegion(t, map[string][]reply{"GET " + AuthoringProjectsPath: {
		{status: 200, body: `{"value":[{"projectName":"p"}],"nextLink":"{{URL}}/next"}`},
		{status: 429, header: map[string]string{"Retry-After": "5"}, body: `{"error":{"code":"429","message":"slow down"}}`},
		{status: 503, body: `<html>down</html>`},
	}})
	c, sl := newTestClient(t, f.URL, ClientOptions{})
	require.NoError(t, c.Probe(t.Context()))
	for _, want := range []int{429, 503} {
		err := c.Probe(t.Context())
		var ae *Error
		if assert.ErrorAs(t, err, &ae, "probe err = %v, want status %d", err, want) {
			assert.Equal(t, want, ae.StatusCode, "probe err = %v, want status %d", err, want)
		}
	}
	reqs := f.requests()
	if assert.Len(t, reqs, 3, "probe requests = %+v, waits %v; want one request each, no 429 wait, no paging", reqs, sl.all()) {
		assert.Equal(t, "api-version=2022-05-01&top=1", reqs[0].query, "probe requests = %+v, waits %v; want one request each, no 429 wait, no paging", reqs, sl.all())
		assert.Empty(t, sl.all(), "probe requests = %+v, waits %v; want one request each, no 429 wait, no paging", reqs, sl.all())
	}
}

// A transport error names no region host: Go's client quotes the URL and
// the dialled address, and the shared scrubber removes both, while
// errors.As still finds the network error.
func TestTransportErrorsNameNoHost(t *testing.T) {
	addr := loopback.FreeAddr(t) // a dead address: connection refused
	c, _ := newTestClient(t, "http://"+addr, ClientOptions{})
	err := c.Probe(t.Context())
	require.Error(t, err, "probe of a dead address succeeded")
	require.NotContains(t, err.Error(), addr, "error names the host: %v", err)
	require.NotContains(t, err.Error(), "127.0.0.1", "error names the host: %v", err)
	var op *net.OpError
	require.ErrorAs(t, err, &op, "errors.As lost the *net.OpError")
}
