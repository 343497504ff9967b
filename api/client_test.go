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
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	s := &sleeps{}
	c.sleep = s.sleep
	t.Cleanup(c.http.CloseIdleConnections)
	return c, s
}

// noKey fails the test when err's text carries the key.
func noKey(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), testKey) {
		t.Fatalf("error text contains the key: %v", err)
	}
}

func job(status string, extra string) string {
	return `{"jobId":"j1","createdDateTime":"2026-01-01T00:00:00Z","lastUpdatedDateTime":"2026-01-01T00:00:01Z","status":"` + status + `"` + extra + `}`
}

func TestNewClientValidates(t *testing.T) {
	for _, ep := range []string{"", "example.com", "/language", "ftp://example.com", "http://", "https://h/?q=1", "https://u:p@h", "://bad"} {
		if _, err := NewClient(ep, testKey, ClientOptions{}); err == nil {
			t.Errorf("NewClient(%q) = nil error, want one", ep)
		} else {
			noKey(t, err)
		}
	}
	if _, err := NewClient("https://h.example", "", ClientOptions{}); err == nil {
		t.Error("empty key accepted")
	}
	c, err := NewClient("https://h.example/base/", testKey, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.endpoint != "https://h.example/base" || c.authoring != "2022-05-01" || c.runtime != "2023-04-01" ||
		c.pollInterval != time.Second || c.maxPollInterval != 30*time.Second || c.max429Retries != 5 {
		t.Errorf("defaults not applied: %+v", c)
	}
	if s := fmt.Sprintf("%v %+v %#v", c, c, c); strings.Contains(s, testKey) {
		t.Errorf("printing the client reveals the key: %s", s)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	if op.JobID != "11111111-2222-4333-8444-555555555555" || op.RetryAfter != 2*time.Second ||
		op.URL != f.URL+"/language/analyze-text/jobs/11111111-2222-4333-8444-555555555555?api-version=2023-04-01" {
		t.Fatalf("operation = %+v", op)
	}
	st, err := c.WaitJob(ctx, op)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusSucceeded || string(st.Extra["brandNew"]) != `{"x":1}` {
		t.Fatalf("state = %+v", st)
	}
	var res CustomEntitiesResult
	if err := json.Unmarshal(st.Tasks.Items[0].Results, &res); err != nil || res.Documents[0].Entities[0].Text != "Seattle" {
		t.Fatalf("results = %+v, %v", res, err)
	}

	// First wait honours the 202's Retry-After, then PollInterval backing
	// off, except where a poll answer carried Retry-After.
	want := []time.Duration{2 * time.Second, 10 * time.Millisecond, 3 * time.Second, 20 * time.Millisecond}
	if got := sl.all(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	reqs := f.requests()
	if len(reqs) != 5 {
		t.Fatalf("requests = %d, want 5", len(reqs))
	}
	for _, r := range reqs {
		if r.key != testKey || !strings.Contains(r.query, "api-version=2023-04-01") {
			t.Errorf("%s %s?%s key=%q: want the key and the runtime api-version", r.method, r.path, r.query, r.key)
		}
	}
	var sent map[string]json.RawMessage
	if err := json.Unmarshal([]byte(reqs[0].body), &sent); err != nil || string(sent["future"]) != "true" {
		t.Errorf("submitted body lost an unknown member: %s", reqs[0].body)
	}
}

func TestGetJobQueryAndURL(t *testing.T) {
	f := newFakeRegion(t, map[string][]reply{
		"GET " + JobsPath + "/j1": {{status: 200, body: job("succeeded", `,"nextLink":"{{URL}}/language/analyze-text/jobs/j1?api-version=2023-04-01&top=1&skip=1"`)}},
	})
	c, _ := newTestClient(t, f.URL, ClientOptions{})
	st, err := c.GetJob(t.Context(), "j1", JobQuery{Top: 1, Skip: 2, ShowStats: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetJobURL(t.Context(), st.NextLink); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if q := reqs[0].query; q != "api-version=2023-04-01&showStats=true&skip=2&top=1" {
		t.Errorf("query = %q", q)
	}
	if q := reqs[1].query; q != "api-version=2023-04-01&top=1&skip=1" {
		t.Errorf("nextLink not used as given: %q", q)
	}
	// A URL without api-version gets one; a URL on another origin is refused.
	if _, err := c.GetJobURL(t.Context(), f.URL+"/language/analyze-text/jobs/j1"); err != nil {
		t.Fatal(err)
	}
	if q := f.requests()[2].query; q != "api-version=2023-04-01" {
		t.Errorf("query = %q", q)
	}
	for _, u := range []string{"http://elsewhere.example/language/analyze-text/jobs/j1", "/language/analyze-text/jobs/j1", "https" + strings.TrimPrefix(f.URL, "http") + "/x"} {
		if _, err := c.GetJobURL(t.Context(), u); err == nil {
			t.Errorf("GetJobURL(%q) succeeded; want the foreign URL refused", u)
		}
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("requests = %d, want 3", n)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitJob(t.Context(), op)
	var jf *JobFailedError
	if !errors.As(err, &jf) || jf.Status != StatusCancelled || st == nil || st.Status != StatusCancelled {
		t.Fatalf("WaitJob = %+v, %v; want the cancelled state and a JobFailedError", st, err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	j, err := c.Wait(t.Context(), op, func(j *AuthoringJob) { statuses = append(statuses, j.JobID+":"+j.Status) })
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != StatusSucceeded || len(j.Warnings) != 1 {
		t.Fatalf("job = %+v", j)
	}
	if got := strings.Join(statuses, ","); got != "abc_123:notStarted,abc_123:running,abc_123:succeeded" {
		t.Errorf("onPoll saw %s", got)
	}
	if got, want := fmt.Sprint(sl.all()), fmt.Sprint([]time.Duration{0, 5 * time.Millisecond, 8 * time.Millisecond}); got != want {
		t.Errorf("waits = %s, want %s (backoff capped at MaxPollInterval)", got, want)
	}
	reqs := f.requests()
	if reqs[0].body != `{"modelLabel":"m","trainingConfigVersion":"latest"}` || !strings.Contains(reqs[0].query, "api-version=2022-05-01") {
		t.Errorf("train request = %+v", reqs[0])
	}
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
	if _, err := c.Wait(t.Context(), &Operation{URL: f.URL + loc, JobID: "x", RetryAfter: time.Minute}, nil); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{40 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond, 7 * time.Millisecond}
	if got := sl.all(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	if q := f.requests()[0].query; q != "api-version=2022-05-01" {
		t.Errorf("authoring poll without api-version got %q", q)
	}
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
	if j == nil || j.Status != StatusFailed {
		t.Errorf("job = %+v, want the failed job back", j)
	}
	var jf *JobFailedError
	if !errors.As(err, &jf) || jf.JobID != "x" || jf.Status != StatusFailed || len(jf.Errors) != 2 {
		t.Fatalf("err = %#v, want *JobFailedError", err)
	}
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != CodeInvalidRequest || ae.InnerError.Code != InnerInvalidParameterValue {
		t.Fatalf("errors.As(*Error) = %+v", ae)
	}
	if IsNotFound(err) {
		t.Error("a failed job is not a 404")
	}
	noKey(t, err)
	if !strings.Contains(err.Error(), "InvalidRequest") || !strings.Contains(err.Error(), "Conflict") {
		t.Errorf("error text %q lacks the job's codes", err)
	}
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
		if _, err := c.Wait(t.Context(), &Operation{URL: f.URL + loc, JobID: "x"}, nil); err != nil {
			t.Fatalf("two 5xx in a row should be ridden out: %v", err)
		}
	})
	t.Run("persistent5xx", func(t *testing.T) {
		f := newFakeRegion(t, map[string][]reply{"GET " + loc: {{status: 500, body: `{"error":{"code":"InternalServerError","message":"down"}}`}}})
		c, _ := newTestClient(t, f.URL, ClientOptions{})
		_, err := c.Wait(t.Context(), &Operation{URL: f.URL + loc, JobID: "x"}, nil)
		var ae *Error
		if !errors.As(err, &ae) || ae.StatusCode != 500 {
			t.Fatalf("err = %v", err)
		}
		if n := len(f.requests()); n != maxPollErrors+1 {
			t.Errorf("polls = %d, want %d", n, maxPollErrors+1)
		}
	})
	t.Run("404", func(t *testing.T) {
		f := newFakeRegion(t, nil)
		c, _ := newTestClient(t, f.URL, ClientOptions{})
		_, err := c.Wait(t.Context(), &Operation{URL: f.URL + loc, JobID: "x"}, nil)
		if !IsNotFound(err) || len(f.requests()) != 1 {
			t.Fatalf("err = %v after %d polls; want a 404 at once", err, len(f.requests()))
		}
	})
	t.Run("foreignOrigin", func(t *testing.T) {
		c, _ := newTestClient(t, "http://127.0.0.1:1", ClientOptions{})
		if _, err := c.Wait(t.Context(), &Operation{URL: "http://attacker.example" + loc}, nil); err == nil {
			t.Fatal("polled a URL on another origin")
		}
		if _, err := c.Wait(t.Context(), nil, nil); err == nil {
			t.Fatal("nil operation accepted")
		}
	})
}

func TestWaitContextCancelled(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	loc := "/language/authoring/analyze-text/projects/p/export/jobs/x"

	t.Run("whileSleeping", func(t *testing.T) {
		f := newFakeRegion(t, map[string][]reply{"GET " + loc: {{status: 200, header: map[string]string{"Retry-After": "3600"}, body: `{"jobId":"x","status":"running"}`}}})
		c, err := NewClient(f.URL, testKey, ClientOptions{MaxPollInterval: time.Hour}) // real sleep
		if err != nil {
			t.Fatal(err)
		}
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
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		f.Close()
	})

	t.Run("whilePolling", func(t *testing.T) {
		entered := make(chan struct{}, 1)
		f := newFakeRegion(t, map[string][]reply{"GET " + loc: {
			{status: 200, body: `{"jobId":"x","status":"running"}`},
			{block: entered},
		}})
		c, err := NewClient(f.URL, testKey, ClientOptions{PollInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
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
		if !errors.Is(err, context.Canceled) || last == nil || last.Status != StatusRunning {
			t.Fatalf("Wait = %+v, %v; want the last job and context.Canceled", last, err)
		}
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
		if err != nil || p.ProjectName != "p" {
			t.Fatalf("GetProject = %+v, %v", p, err)
		}
		if got := fmt.Sprint(sl.all()); got != fmt.Sprint([]time.Duration{20 * time.Millisecond, 20 * time.Millisecond}) {
			t.Errorf("waits = %s", got)
		}
		for _, r := range f.requests() {
			if r.key != testKey {
				t.Error("retry sent without the key")
			}
		}
	})
	t.Run("retriesExhausted", func(t *testing.T) {
		f := newFakeRegion(t, map[string][]reply{"GET " + ProjectPath("p"): {{status: 429, header: map[string]string{"Retry-After": "0"}, body: frontDoor429}}})
		c, _ := newTestClient(t, f.URL, ClientOptions{Max429Retries: 2})
		_, err := c.GetProject(t.Context(), "p")
		var ae *Error
		if !errors.As(err, &ae) || ae.StatusCode != 429 || ae.Code != CodeFrontDoorTooManyRequests {
			t.Fatalf("err = %v", err)
		}
		if n := len(f.requests()); n != 3 {
			t.Errorf("requests = %d, want 1 + 2 retries", n)
		}
	})
	t.Run("noRetryAfter", func(t *testing.T) {
		f := newFakeRegion(t, map[string][]reply{"POST " + JobsPath: {{status: 429, body: frontDoor429}}})
		c, _ := newTestClient(t, f.URL, ClientOptions{})
		if _, err := c.SubmitJob(t.Context(), SubmitRequest{}); err == nil || len(f.requests()) != 1 {
			t.Fatalf("err = %v after %d requests; a 429 without Retry-After is not retried", err, len(f.requests()))
		}
	})
	t.Run("ctxEndsTheWait", func(t *testing.T) {
		f := newFakeRegion(t, map[string][]reply{"GET " + ProjectPath("p"): {{status: 429, header: map[string]string{"Retry-After": "1"}, body: frontDoor429}}})
		c, _ := newTestClient(t, f.URL, ClientOptions{})
		ctx, cancel := context.WithCancel(t.Context())
		c.sleep = func(context.Context, time.Duration) error { cancel(); return ctx.Err() }
		_, err := c.GetProject(ctx, "p")
		var ae *Error
		if !errors.Is(err, context.Canceled) || !errors.As(err, &ae) || ae.StatusCode != 429 {
			t.Fatalf("err = %v; want both the 429 and context.Canceled", err)
		}
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
		if !errors.As(err, &ae) {
			t.Fatalf("GetProject(%q) err = %v, want *Error", p, err)
		}
		return ae, err
	}

	ae, err := get("unauth")
	if ae.StatusCode != 401 || ae.Code != CodeFrontDoorUnauthorized || IsNotFound(err) {
		t.Errorf("401: %+v", ae)
	}
	ae, err = get("missing")
	if ae.StatusCode != 404 || ae.Code != CodeProjectNotFound || !IsNotFound(err) || !IsNotFound(fmt.Errorf("outer: %w", err)) {
		t.Errorf("404: %+v", ae)
	}
	if !strings.Contains(err.Error(), `get project "missing"`) || !strings.Contains(err.Error(), "404") {
		t.Errorf("404 text %q lacks context", err)
	}
	ae, _ = get("html")
	if ae.StatusCode != 502 || ae.Code != "502" || !strings.Contains(ae.Message, "Bad Gateway") || len(ae.Message) > 300 {
		t.Errorf("non-JSON: %+v", ae)
	}
	ae, _ = get("empty")
	if ae.StatusCode != 503 || ae.Code != CodeServiceUnavailable || ae.Message != "Service Unavailable" {
		t.Errorf("empty body: %+v", ae)
	}
	ae, _ = get("echo")
	if ae.Target != secret.Redacted || strings.Contains(ae.Message, testKey) {
		t.Errorf("echoed key survived: %+v", ae)
	}
	if IsNotFound(nil) || IsNotFound(errors.New("404")) {
		t.Error("IsNotFound is true for a non-*Error")
	}
}

func TestListDeploymentsFollowsNextLink(t *testing.T) {
	path := ProjectPath("p") + "/deployments"
	f := newFakeRegion(t, map[string][]reply{"GET " + path: {
		{status: 200, body: `{"value":[{"deploymentName":"a","modelId":"m-1"},{"deploymentName":"b","modelId":"m-2"}],"nextLink":"{{URL}}` + path + `?api-version=2022-05-01&skip=2&top=2"}`},
		{status: 200, body: `{"value":[{"deploymentName":"c","modelId":"m-3"}],"nextLink":null}`},
	}})
	c, _ := newTestClient(t, f.URL, ClientOptions{})
	ds, err := c.ListDeployments(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.DeploymentName)
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Errorf("deployments = %v", names)
	}
	reqs := f.requests()
	if len(reqs) != 2 || reqs[1].query != "api-version=2022-05-01&skip=2&top=2" || reqs[1].key != testKey {
		t.Errorf("requests = %+v", reqs)
	}
}

func TestListStopsOnBadNextLink(t *testing.T) {
	other := newFakeRegion(t, nil)
	path := AuthoringProjectsPath
	f := newFakeRegion(t, map[string][]reply{"GET " + path: {{status: 200, body: `{"value":[{"projectName":"p"}],"nextLink":"` + other.URL + path + `"}`}}})
	c, _ := newTestClient(t, f.URL, ClientOptions{})
	if _, err := c.ListProjects(t.Context()); err == nil {
		t.Fatal("followed a nextLink to another origin")
	}
	if len(other.requests()) != 0 {
		t.Fatal("the key went to another origin")
	}

	loop := newFakeRegion(t, map[string][]reply{"GET " + path: {{status: 200, body: `{"value":[],"nextLink":"{{URL}}` + path + `?skip=0"}`}}})
	c, _ = newTestClient(t, loop.URL, ClientOptions{})
	if _, err := c.ListProjects(t.Context()); err == nil || len(loop.requests()) > 3 {
		t.Fatalf("a repeating nextLink: err = %v after %d requests", err, len(loop.requests()))
	}
}

func TestRedirectToOtherOriginRefused(t *testing.T) {
	other := newFakeRegion(t, map[string][]reply{"GET " + ProjectPath("p"): {{status: 200, body: `{}`}}})
	f := newFakeRegion(t, map[string][]reply{"GET " + ProjectPath("p"): {{status: 307, header: map[string]string{"Location": other.URL + ProjectPath("p")}}}})
	for _, hc := range []*http.Client{nil, {}} {
		c, _ := newTestClient(t, f.URL, ClientOptions{HTTPClient: hc})
		if _, err := c.GetProject(t.Context(), "p"); err == nil {
			t.Error("followed a redirect to another origin")
		}
	}
	if len(other.requests()) != 0 {
		t.Fatal("the key went to another origin through a redirect")
	}
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
	if err != nil || op.JobID != "e1" {
		t.Fatalf("Export = %+v, %v", op, err)
	}
	ep, err := c.ExportResult(ctx, f.URL+ProjectPath("p")+"/export/jobs/e1/result?api-version=2023-04-01")
	if err != nil {
		t.Fatal(err)
	}
	ep.Metadata.ProjectName, ep.Metadata.StorageInputContainerName = "q", "c2"
	if _, err := c.Import(ctx, "q", *ep); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deploy(ctx, "q", "prod", DeployRequest{TrainedModelLabel: "m"}); err != nil {
		t.Fatal(err)
	}
	if d, err := c.GetDeployment(ctx, "q", "prod"); err != nil || d.ModelID != "m-1" {
		t.Fatalf("GetDeployment = %+v, %v", d, err)
	}
	if ms, err := c.ListModels(ctx, "q"); err != nil || len(ms) != 1 || ms[0].LastTrainingDurationInSeconds != 3 {
		t.Fatalf("ListModels = %+v, %v", ms, err)
	}
	if m, err := c.GetModel(ctx, "q", "m"); err != nil || m.HasSnapshot == nil || !*m.HasSnapshot {
		t.Fatalf("GetModel = %+v, %v", m, err)
	}
	if ps, err := c.ListProjects(ctx); err != nil || len(ps) != 1 || ps[0].LastModifiedDateTime.IsZero() {
		t.Fatalf("ListProjects = %+v, %v", ps, err)
	}
	if _, err := c.Import(ctx, "nolocation", *ep); err == nil || !strings.Contains(err.Error(), `import project "nolocation"`) {
		t.Errorf("202 without operation-location: %v", err)
	}
	if _, err := c.Import(ctx, "badlocation", *ep); err == nil {
		t.Error("relative operation-location accepted")
	}

	reqs := f.requests()
	if r := reqs[0]; r.method != "POST" || r.query != "api-version=2023-04-01&stringIndexType=Utf16CodeUnit" || r.body != "" {
		t.Errorf("export request = %+v", r)
	}
	var imported ExportedProject
	if err := json.Unmarshal([]byte(reqs[2].body), &imported); err != nil {
		t.Fatal(err)
	}
	if imported.Metadata.ProjectName != "q" || imported.Metadata.StorageInputContainerName != "c2" ||
		string(imported.Metadata.Extra["newMeta"]) != "1" || string(imported.Assets.Documents[0].Extra["docNew"]) != `"x"` {
		t.Errorf("import body = %s", reqs[2].body)
	}
	if r := reqs[3]; r.method != "PUT" || r.body != `{"trainedModelLabel":"m"}` {
		t.Errorf("deploy request = %+v", r)
	}
	for _, r := range reqs {
		if r.key != testKey || !strings.Contains(r.query, "api-version=2023-04-01") {
			t.Errorf("%s %s?%s: missing key or authoring api-version", r.method, r.path, r.query)
		}
	}
}

func TestTransportErrorIsWrapped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a dead upstream: connection refused
	c, _ := newTestClient(t, "http://"+addr, ClientOptions{})
	_, err = c.GetDeployment(t.Context(), "p", "d")
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !strings.Contains(err.Error(), `get deployment "d" of project "p"`) {
		t.Fatalf("err = %v", err)
	}
	noKey(t, err)
}

func TestProbe(t *testing.T) {
	f := newFakeRegion(t, map[string][]reply{"GET " + AuthoringProjectsPath: {
		{status: 200, body: `{"value":[{"projectName":"p"}],"nextLink":"{{URL}}/next"}`},
		{status: 429, header: map[string]string{"Retry-After": "5"}, body: `{"error":{"code":"429","message":"slow down"}}`},
		{status: 503, body: `<html>down</html>`},
	}})
	c, sl := newTestClient(t, f.URL, ClientOptions{})
	if err := c.Probe(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{429, 503} {
		err := c.Probe(t.Context())
		var ae *Error
		if !errors.As(err, &ae) || ae.StatusCode != want {
			t.Errorf("probe err = %v, want status %d", err, want)
		}
	}
	reqs := f.requests()
	if len(reqs) != 3 || reqs[0].query != "api-version=2022-05-01&top=1" || len(sl.all()) != 0 {
		t.Errorf("probe requests = %+v, waits %v; want one request each, no 429 wait, no paging", reqs, sl.all())
	}
}

// A transport error names no region host: Go's client quotes the URL and
// the dialled address, and the shared scrubber removes both, while
// errors.As still finds the network error.
func TestTransportErrorsNameNoHost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a dead address: connection refused
	c, _ := newTestClient(t, "http://"+addr, ClientOptions{})
	err = c.Probe(t.Context())
	if err == nil {
		t.Fatal("probe of a dead address succeeded")
	}
	if strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("error names the host: %v", err)
	}
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Fatalf("errors.As lost the *net.OpError: %v", err)
	}
}
