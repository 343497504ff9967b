package proxy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"nergateway/api"
	"nergateway/internal/region"
	"nergateway/internal/route"
	"nergateway/internal/secret"
	"nergateway/internal/transport"

	"github.com/stretchr/testify/require"
)

// Hot-path benchmarks (issue 7). Run: go test -run x -bench . -benchmem ./proxy/

func BenchmarkJudge(b *testing.B) {
	eu, _ := url.Parse("https://westus2.example")
	r, err := region.New(region.Config{Name: "westus2", Endpoint: eu, Key: "k"})
	require.NoError(b, err)
	now := time.Now()
	answers := []region.Answer{
		{Status: 200, Header: http.Header{}},
		{Status: 202, Header: http.Header{"Operation-Location": {"https://westus2.example/language/analyze-text/jobs/x"}}},
		{Status: 400, Header: http.Header{}},
		{Status: 503, Header: http.Header{}},
		{Status: 429, Header: http.Header{"Retry-After": {"2"}}},
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = r.Judge(answers[i%len(answers)], now)
	}
}

func BenchmarkTokenEncode(b *testing.B) {
	id := newV4()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = encodeToken(id, 1)
	}
}

func BenchmarkTokenDecode(b *testing.B) {
	tok, _ := encodeToken(newV4(), 1)
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = decodeToken(tok)
	}
}

// benchProxy is a two-region proxy whose regions are served in process.
// inProcessPair is a primary (westus2) and a secondary (eastus) fake
// region served in process through rt, no sockets, each a region.Region
// with the breaker settings of breaker (ConsecutiveFailures, OpenTimeout).
func inProcessPair(t testing.TB, breaker region.Config) (rt inProcess, regions []*region.Region, fakes []*fakeRegion) {
	t.Helper()
	rt = inProcess{}
	for i, name := range []string{"westus2", "eastus"} {
		f := newFakeHandler(name)
		rt[f.host] = f
		eu, _ := url.Parse(f.URL())
		role := region.RolePrimary
		if i > 0 {
			role = region.RoleSecondary
		}
		r, err := region.New(region.Config{Name: name, Role: role, Endpoint: eu, Key: secret.Secret(f.key),
			ConsecutiveFailures: breaker.ConsecutiveFailures, OpenTimeout: breaker.OpenTimeout})
		require.NoError(t, err)
		regions, fakes = append(regions, r), append(fakes, f)
	}
	return rt, regions, fakes
}

func benchProxy(b *testing.B, names bool) (*Proxy, *fakeRegion, *fakeRegion) {
	b.Helper()
	rt, regions, fakes := inProcessPair(b, region.Config{})
	cfg := Config{Regions: regions, Transport: rt}
	if names {
		cfg.ProjectNames = map[string]string{"proj": "proj-dr"}
		cfg.DeploymentNames = map[string]string{"prod": "prod-dr"}
	}
	p, err := New(cfg)
	require.NoError(b, err)
	return p, fakes[0], fakes[1]
}

func BenchmarkRewriteOperationLocation(b *testing.B) {
	p, f, _ := benchProxy(b, false)
	loc := f.URL() + api.JobsPath + "/" + newV4() + "?api-version=2023-04-01"
	c := &call{public: "https://gw.example.com", publicHost: "gw.example.com",
		r: httptest.NewRequest(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", nil)}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = p.rewriteLocation(loc, c, 0)
	}
}

// jobBody is a realistic job answer: 5 documents of results and a nextLink.
func jobBody(host, id, project string) []byte {
	var docs []string
	for i := range 5 {
		docs = append(docs, fmt.Sprintf(`{"id":"%d","warnings":[],"entities":[{"text":"Contoso","category":"Company","offset":0,"length":7,"confidenceScore":1},{"text":"Seattle","category":"City","offset":21,"length":7,"confidenceScore":1}]}`, i))
	}
	return []byte(fmt.Sprintf(`{"jobId":"%s","createdDateTime":"2026-11-29T03:00:00Z","lastUpdatedDateTime":"2026-11-29T03:00:01Z","status":"succeeded","errors":[],`+
		`"nextLink":"http://%s/language/analyze-text/jobs/%s?api-version=2023-04-01&skip=5&top=5",`+
		`"tasks":{"completed":1,"failed":0,"inProgress":0,"total":1,"items":[{"kind":"CustomEntityRecognitionLROResults","lastUpdateDateTime":"2026-11-29T03:00:01Z","status":"succeeded",`+
		`"results":{"projectName":"%s","deploymentName":"prod-dr","errors":[],"documents":[%s]}}]}}`, id, host, id, project, strings.Join(docs, ",")))
}

// BenchmarkJobBody compares the job-body rewriting the proxy does (byte
// search for the region URL and the job id; the JSON scanner only when a
// name must be mapped back) with decoding and re-encoding through the api
// types.
func BenchmarkJobBody(b *testing.B) {
	p, _, sec := benchProxy(b, true)
	id := newV4()
	tok, _ := encodeToken(id, 1)
	body := jobBody(sec.host, id, "proj-dr")
	c := &call{route: route.Job, public: "https://gw.example.com", publicHost: "gw.example.com", clientID: tok, upstreamID: id}
	b.Run("targeted/no-mapping", func(b *testing.B) {
		pn, _, secn := benchProxy(b, false)
		bodyn := jobBody(secn.host, id, "proj")
		dst := make([]byte, 0, 4096)
		b.SetBytes(int64(len(bodyn)))
		b.ReportAllocs()
		for b.Loop() {
			_ = pn.responseBody(dst[:0], c, 1, bodyn)
		}
	})
	b.Run("targeted/mapping", func(b *testing.B) {
		dst := make([]byte, 0, 4096)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			_ = p.responseBody(dst[:0], c, 1, body)
		}
	})
	b.Run("decode-reencode", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var js api.JobState
			require.NoError(b, json.Unmarshal(body, &js))
			js.JobID = tok
			js.NextLink = strings.Replace(js.NextLink, "http://"+sec.host, c.public, 1)
			js.NextLink = strings.Replace(js.NextLink, id, tok, 1)
			for i := range js.Tasks.Items {
				var r api.CustomEntitiesResult
				_ = json.Unmarshal(js.Tasks.Items[i].Results, &r)
				r.ProjectName, r.DeploymentName = "proj", "prod"
				js.Tasks.Items[i].Results, _ = json.Marshal(r)
			}
			_, err := json.Marshal(js)
			require.NoError(b, err)
		}
	})
}

// BenchmarkRequestBody is the submit body on its way to a region: to the
// primary (no mapping applies: no work), and to a secondary with a name
// mapping (the targeted scanner).
func BenchmarkRequestBody(b *testing.B) {
	body := []byte(submitBody("proj", "prod"))
	projects := newNameMap(map[string]string{"proj": "proj-dr"})
	deployments := newNameMap(map[string]string{"prod": "prod-dr"})
	b.Run("no-mapping", func(b *testing.B) {
		p, _, _ := benchProxy(b, false)
		c := &call{route: route.Submit, body: bufferOf(b, body)}
		b.ReportAllocs()
		for b.Loop() {
			c.mappedDone = false
			_ = p.bodyFor(c, 1)
		}
	})
	b.Run("mapping-not-mentioned", func(b *testing.B) {
		other := []byte(submitBody("other", "staging"))
		b.ReportAllocs()
		for b.Loop() {
			_ = mapNames(other, requestNamePaths, projects, deployments)
		}
	})
	b.Run("mapping", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			_ = mapNames(body, requestNamePaths, projects, deployments)
		}
	})
}

// BenchmarkSubmitAndPoll is one submit and one poll through the whole proxy
// (routing, selection, breaker, upstream request, rewriting, telemetry
// with no-op providers) against an in-process region.
func BenchmarkSubmitAndPoll(b *testing.B) {
	p, _, _ := benchProxy(b, false)
	benchSubmitAndPoll(b, p)
}

// BenchmarkSubmitAndPollFollowed is BenchmarkSubmitAndPoll with the
// proxy's Run running, as cmd/gateway runs it: each submit is sent by its
// own goroutine, which could follow it (orphans.go).
func BenchmarkSubmitAndPollFollowed(b *testing.B) {
	p, _, _ := benchProxy(b, false)
	runProxy(b, p)
	benchSubmitAndPoll(b, p)
}

// benchSubmitAndPoll measures one submit and one poll of the job it
// started, in process, per iteration.
func benchSubmitAndPoll(b *testing.B, p *Proxy) {
	body := submitBody("proj", "prod")
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "http://gw.test"+api.JobsPath+"?api-version=2023-04-01", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		require.Equal(b, http.StatusAccepted, rec.Code, "submit")
		poll := httptest.NewRequest(http.MethodGet, rec.Header().Get("Operation-Location"), nil)
		rec = httptest.NewRecorder()
		p.ServeHTTP(rec, poll)
		require.Equal(b, http.StatusOK, rec.Code, "poll")
	}
}

// BenchmarkSubmitAndPollLoopback is the same over real loopback TCP, the
// proxy's own transport included.
func BenchmarkSubmitAndPollLoopback(b *testing.B) {
	b.Run("unfollowed", func(b *testing.B) { benchLoopback(b, false) })
	b.Run("followed", func(b *testing.B) { benchLoopback(b, true) }) // Run running, as in cmd/gateway
}

func benchLoopback(b *testing.B, followed bool) {
	f := newFakeRegion(b, "p")
	eu, _ := url.Parse(f.URL())
	r, _ := region.New(region.Config{Name: "westus2", Role: region.RolePrimary, Endpoint: eu, Key: secret.Secret(f.key)})
	tr, err := transport.New("")
	require.NoError(b, err)
	p, err := New(Config{Regions: []*region.Region{r}, Transport: tr})
	require.NoError(b, err)
	if followed {
		runProxy(b, p)
	}
	gw := httptest.NewServer(p)
	b.Cleanup(func() { gw.Close(); tr.CloseIdleConnections() })
	client := gw.Client()
	body := submitBody("proj", "prod")
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Post(gw.URL+api.JobsPath+"?api-version=2023-04-01", "application/json", strings.NewReader(body))
		require.NoError(b, err, "submit: %v %v", err, resp)
		require.Equal(b, http.StatusAccepted, resp.StatusCode, "submit: %v %v", err, resp)
		resp.Body.Close()
		resp, err = client.Get(resp.Header.Get("Operation-Location"))
		require.NoError(b, err, "poll: %v %v", err, resp)
		require.Equal(b, http.StatusOK, resp.StatusCode, "poll: %v %v", err, resp)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
