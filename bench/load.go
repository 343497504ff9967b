package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"nergateway/api"
)

// The mix: a custom NER job of one to three documents, submitted, then
// polled until it succeeded (with zero job duration, the first poll).
var documents = []string{
	"Maria Garcia flew from Seattle to Lisbon to meet Contoso Pharmaceuticals about the Fabrikam contract.",
	"Fabrikam and Contoso Pharmaceuticals signed in Lisbon; Maria Garcia will report from Seattle next week.",
	"Nothing much happened in Seattle today, said a short note from Maria Garcia to Contoso Pharmaceuticals.",
}

// submitBodies are the job bodies, with one, two and three documents.
func submitBodies() [][]byte {
	var bodies [][]byte
	for n := 1; n <= len(documents); n++ {
		req := api.SubmitRequest{
			DisplayName: "bench",
			Tasks: []api.Task{{
				Kind: api.KindCustomEntityRecognition, TaskName: "ner",
				Parameters: api.TaskParameters{ProjectName: projectName, DeploymentName: deploymentName},
			}},
		}
		for i := range n {
			req.AnalysisInput.Documents = append(req.AnalysisInput.Documents,
				api.Document{ID: fmt.Sprint(i + 1), Language: "en", Text: documents[i]})
		}
		b, err := json.Marshal(req)
		if err != nil {
			panic(err) // static input
		}
		bodies = append(bodies, b)
	}
	return bodies
}

// Kinds of request in the mix.
const (
	kindSubmit uint8 = iota
	kindPoll
)

// sample is one request. Times are offsets from the load's epoch.
type sample struct {
	start, end time.Duration
	kind       uint8
	status     int  // 0: no answer (transport error)
	secondary  bool // the job ran in the secondary (submit and its polls)
	known      bool // the job's region is known (it was polled to success)
}

func (s sample) ok() bool { return s.status >= 200 && s.status < 300 }

// client sends the mix to one target.
type client struct {
	hc        *http.Client
	base, key string
	bodies    [][]byte
	epoch     time.Time
}

func newClient(base, key string, conns int) *client {
	return &client{
		hc: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
				MaxIdleConnsPerHost: conns + 16,
				IdleConnTimeout:     90 * time.Second,
				DisableCompression:  true,
			},
		},
		base: base, key: key, bodies: submitBodies(), epoch: time.Now(),
	}
}

func (c *client) close() { c.hc.CloseIdleConnections() }

func (c *client) since(t time.Time) time.Duration { return t.Sub(c.epoch) }

// do sends one request and reads the whole answer.
func (c *client) do(ctx context.Context, method, u string, body []byte) (int, http.Header, []byte) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, nil
	}
	req.Header.Set(api.SubscriptionKeyHeader, c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, nil, nil
	}
	return resp.StatusCode, resp.Header, b
}

var (
	succeeded = []byte(`"status":"succeeded"`)
	marker    = []byte(`"category":"` + secondaryMarker + `"`)
)

// op runs one job: submit, then poll by path (the operation-location's
// path and query on the target's base, so nginx's unrewritten header works
// too) until the job succeeded or a request failed. intended is when the
// submit was due (open loop); the submit's latency counts from then.
func (c *client) op(ctx context.Context, n int, intended time.Time, out []sample) []sample {
	body := c.bodies[n%len(c.bodies)]
	start := time.Now()
	if !intended.IsZero() {
		start = intended
	}
	status, hdr, _ := c.do(ctx, http.MethodPost, c.base+api.JobsPath+"?api-version="+apiVersion, body)
	first := len(out)
	out = append(out, sample{start: c.since(start), end: c.since(time.Now()), kind: kindSubmit, status: status})
	if status != http.StatusAccepted {
		return out
	}
	loc, err := url.Parse(hdr.Get(api.OperationLocationHeader))
	if err != nil || loc.Path == "" {
		out[first].status = -1 // accepted without a usable operation-location
		return out
	}
	poll := c.base + loc.EscapedPath() + "?" + loc.RawQuery
	for range 50 {
		if ctx.Err() != nil {
			return out
		}
		t := time.Now()
		status, _, b := c.do(ctx, http.MethodGet, poll, nil)
		out = append(out, sample{start: c.since(t), end: c.since(time.Now()), kind: kindPoll, status: status})
		if status != http.StatusOK {
			return out
		}
		if bytes.Contains(b, succeeded) {
			sec := bytes.Contains(b, marker)
			for i := first; i < len(out); i++ {
				out[i].secondary, out[i].known = sec, true
			}
			return out
		}
	}
	return out
}

// poll sends one GET of path (a job's operation path and query) and
// records it.
func (c *client) poll(ctx context.Context, path string, intended time.Time) sample {
	status, _, _ := c.do(ctx, http.MethodGet, c.base+path, nil)
	return sample{start: c.since(intended), end: c.since(time.Now()), kind: kindPoll, status: status}
}

// openLoop polls path at rate per second regardless of how fast answers
// come (at most maxInFlight at once; requests over that are counted as
// shed), for warmup+dur, and returns the samples of the requests that
// completed within the window. Latency counts from when a request was due,
// so a stalled target is not hidden (coordinated omission). at is called
// at the window's start and end (CPU readings).
func (c *client) openLoop(ctx context.Context, path string, rate float64, warmup, dur time.Duration, at func()) (samples []sample, shed int) {
	const maxInFlight = 4096
	start := time.Now()
	t0 := start.Add(warmup)
	t1 := t0.Add(dur)
	ctx, cancel := context.WithDeadline(ctx, t1.Add(10*time.Second))
	defer cancel()
	var (
		mu  sync.Mutex
		all []sample
		wg  sync.WaitGroup
	)
	sem := make(chan struct{}, maxInFlight)
	wg.Go(func() {
		time.Sleep(time.Until(t0))
		at()
		time.Sleep(time.Until(t1))
		at()
	})
	interval := time.Duration(float64(time.Second) / rate)
	for n := 0; ; n++ {
		due := start.Add(time.Duration(n) * interval)
		if !due.Before(t1) || ctx.Err() != nil {
			break
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		select {
		case sem <- struct{}{}:
		default:
			if !due.Before(t0) {
				shed++
			}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			s := c.poll(ctx, path, due)
			mu.Lock()
			all = append(all, s)
			mu.Unlock()
		})
	}
	wg.Wait()
	lo, hi := c.since(t0), c.since(t1)
	all = slices.DeleteFunc(all, func(s sample) bool { return s.end < lo || s.end > hi })
	return all, shed
}

// pollPath submits one job through the client's target, polls it until it
// succeeded and returns the path and query its polls go to: the region's
// v4 job id through direct, nginx, Caddy and the floor; the gateway's token
// for that id through the gateway.
func (c *client) pollPath(ctx context.Context) (string, error) {
	status, hdr, b := c.do(ctx, http.MethodPost, c.base+api.JobsPath+"?api-version="+apiVersion, c.bodies[1])
	if status != http.StatusAccepted {
		return "", fmt.Errorf("submitting the job to poll: status %d: %.300s", status, b)
	}
	loc, err := url.Parse(hdr.Get(api.OperationLocationHeader))
	if err != nil || loc.Path == "" {
		return "", fmt.Errorf("submitting the job to poll: no usable operation-location (%q)", hdr.Get(api.OperationLocationHeader))
	}
	path := loc.EscapedPath() + "?" + loc.RawQuery
	for range 50 {
		status, _, b := c.do(ctx, http.MethodGet, c.base+path, nil)
		if status != http.StatusOK {
			return "", fmt.Errorf("polling %s: status %d: %.300s", path, status, b)
		}
		if bytes.Contains(b, succeeded) {
			return path, nil
		}
	}
	return "", fmt.Errorf("the job at %s did not succeed", path)
}

// stats summarises samples.
type stats struct {
	n, errors      int
	p50, p99, p999 time.Duration
	max            time.Duration
}

func summarize(samples []sample) stats {
	st := stats{n: len(samples)}
	lat := make([]time.Duration, 0, len(samples))
	for _, s := range samples {
		if !s.ok() {
			st.errors++
		}
		lat = append(lat, s.end-s.start)
	}
	if len(lat) == 0 {
		return st
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	st.p50, st.p99, st.p999, st.max = q(0.50), q(0.99), q(0.999), lat[len(lat)-1]
	return st
}
