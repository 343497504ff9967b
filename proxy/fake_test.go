package proxy

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"nergateway/api"
	"nergateway/internal/route"
)

// fakeRegion is a hand-written stand-in for one Azure Language region: just
// enough of the runtime and authoring API to drive the proxy, with scripted
// failures and a record of what it received.
type fakeRegion struct {
	name string
	key  string
	srv  *httptest.Server // nil when served in process (synctest)
	host string           // what it writes into URLs

	mu       sync.Mutex
	calls    map[string]int
	script   []int // statuses to answer next, in order; consumed
	always   int   // status to answer every call with (0: none)
	retryAft string
	newID    func() string
	jobs     map[string]*fakeJob
	pages    int // result pages per job
	bodies   [][]byte
	headers  []http.Header
	block    chan struct{} // when set, calls wait on it (or the client's end)
	running  bool          // jobs answer running instead of succeeded
}

type fakeJob struct {
	project, deployment string
	cancelled           bool
}

func newFakeRegion(t testing.TB, name string) *fakeRegion {
	t.Helper()
	f := newFakeHandler(name)
	f.srv = httptest.NewServer(f)
	f.host = f.srv.Listener.Addr().String()
	t.Cleanup(f.srv.Close)
	return f
}

// newFakeHandler builds a fake that is not listening (for in-process
// transports); its URLs use a made-up host.
func newFakeHandler(name string) *fakeRegion {
	return &fakeRegion{
		name:  name,
		key:   "region-key-" + name + "-" + randHex(8),
		host:  name + ".fake-region.test",
		calls: make(map[string]int),
		jobs:  make(map[string]*fakeJob),
		newID: newV4,
		pages: 1,
	}
}

func (f *fakeRegion) URL() string { return "http://" + f.host }

func (f *fakeRegion) Calls(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[route]
}

func (f *fakeRegion) TotalCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

func (f *fakeRegion) Script(statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, statuses...)
}

func (f *fakeRegion) Always(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.always = status
}

func (f *fakeRegion) LastBody() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) == 0 {
		return nil
	}
	return f.bodies[len(f.bodies)-1]
}

func (f *fakeRegion) LastHeader() http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.headers) == 0 {
		return nil
	}
	return f.headers[len(f.headers)-1]
}

func routeOf(r *http.Request) string {
	rt, _ := route.Match(r.URL.Path)
	if rt.Name == route.Unknown.Name {
		return "other"
	}
	return rt.Name
}

func (f *fakeRegion) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil { // nil on a client-side GET served in process
		body, _ = io.ReadAll(r.Body)
	}
	route := routeOf(r)
	f.mu.Lock()
	f.calls[route]++
	f.bodies = append(f.bodies, body)
	f.headers = append(f.headers, r.Header.Clone())
	status := f.always
	if status == 0 && len(f.script) > 0 {
		status, f.script = f.script[0], f.script[1:]
	}
	retryAfter, block, running := f.retryAft, f.block, f.running
	f.mu.Unlock()

	if block != nil {
		select {
		case <-block:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("apim-request-id", "req-"+f.name)
	// A header naming the region's host: the proxy must drop it (the
	// harness's scanner checks every answer).
	w.Header().Set("X-Served-By", f.host)
	w.Header().Set("Set-Cookie", "ARRAffinity=1; Domain="+f.host)
	if r.Header.Get(api.SubscriptionKeyHeader) != f.key {
		api.WriteError(w, http.StatusUnauthorized, api.Error{Code: api.CodeFrontDoorUnauthorized, Message: "Access denied due to invalid subscription key."})
		return
	}
	if status != 0 {
		if status == http.StatusTooManyRequests && retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		api.WriteError(w, status, api.Error{Code: "Scripted" + strconv.Itoa(status), Message: "scripted by the test on " + f.host})
		return
	}
	apiVersion := r.URL.Query().Get("api-version")
	switch route {
	case "submit":
		var req struct {
			Tasks []struct {
				Parameters struct{ ProjectName, DeploymentName string }
			}
		}
		if err := json.Unmarshal(body, &req); err != nil || len(req.Tasks) == 0 {
			api.WriteError(w, http.StatusBadRequest, api.Error{Code: api.CodeInvalidRequest, Message: "bad body"})
			return
		}
		id := f.newID()
		f.mu.Lock()
		f.jobs[id] = &fakeJob{project: req.Tasks[0].Parameters.ProjectName, deployment: req.Tasks[0].Parameters.DeploymentName}
		f.mu.Unlock()
		w.Header().Set("operation-location", f.URL()+api.JobsPath+"/"+id+"?api-version="+apiVersion)
		w.WriteHeader(http.StatusAccepted)
	case "job", "cancel":
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, api.JobsPath+"/"), api.CancelSuffix)
		f.mu.Lock()
		job, ok := f.jobs[id]
		if ok && route == "cancel" {
			job.cancelled = true
		}
		f.mu.Unlock()
		if !ok {
			api.WriteError(w, http.StatusNotFound, api.Error{Code: api.CodeNotFound, Message: "job not found"})
			return
		}
		if route == "cancel" {
			w.Header().Set("Operation-Location", f.URL()+api.JobsPath+"/"+id+"?api-version="+apiVersion)
			w.WriteHeader(http.StatusAccepted)
			return
		}
		skip, _ := strconv.Atoi(r.URL.Query().Get("skip"))
		next := ""
		if skip+1 < f.pages {
			next = fmt.Sprintf(`,"nextLink":"%s%s/%s?api-version=%s&skip=%d&top=1"`, f.URL(), api.JobsPath, id, apiVersion, skip+1)
		}
		status := "succeeded"
		switch {
		case job.cancelled:
			status = "cancelled"
		case running:
			status = "running"
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		fmt.Fprintf(w, `{"jobId":"%s","createdDateTime":"2026-11-29T03:00:00Z","lastUpdatedDateTime":"2026-11-29T03:00:01Z","status":"%s","errors":[]%s,`+
			`"futureField":{"keep":[1,2.50,true]},"tasks":{"completed":1,"failed":0,"inProgress":0,"total":1,"items":[`+
			`{"kind":"CustomEntityRecognitionLROResults","lastUpdateDateTime":"2026-11-29T03:00:01Z","status":"succeeded",`+
			`"results":{"projectName":"%s","deploymentName":"%s","errors":[],"documents":[{"id":"%d","warnings":[],"entities":[],"newThing":"x"}]}}]}}`,
			id, status, next, job.project, job.deployment, skip+1)
	case "analyze":
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		fmt.Fprintf(w, `{"kind":"EntityRecognitionResults","results":{"documents":[],"errors":[],"modelVersion":"%s"}}`, f.name)
	case "authoring":
		switch {
		case r.Method == http.MethodGet && r.URL.Path == api.AuthoringProjectsPath:
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			fmt.Fprintf(w, `{"value":[{"projectName":"p1"}],"nextLink":"%s%s?api-version=%s&skip=1"}`, f.URL(), api.AuthoringProjectsPath, apiVersion)
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/:export"):
			w.Header().Set("operation-location", f.URL()+strings.TrimSuffix(r.URL.Path, "/:export")+"/export/jobs/"+newV4()+"_637858368000000000?api-version="+apiVersion)
			w.WriteHeader(http.StatusAccepted)
		default:
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			fmt.Fprintf(w, `{"resultUrl":"%s%s/result?api-version=%s"}`, f.URL(), r.URL.Path, apiVersion)
		}
	default:
		api.WriteError(w, http.StatusNotFound, api.Error{Code: api.CodeNotFound, Message: "no such path"})
	}
}

// newV4 returns a random v4 UUID, as Azure issues job ids.
func newV4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)[:n]
}
