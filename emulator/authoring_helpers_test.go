package emulator

import (
	"net/http"
	"strings"
	"time"

	"github.com/stretchr/testify/require"

	"nergateway/api"
)

// accepted checks a 202 with an absolute operation-location on the region
// and returns it.
func (rg *region) accepted(r resp) string {
	rg.t.Helper()
	require.Equal(rg.t, http.StatusAccepted, r.status, "body: %s", r.body)
	loc := r.header.Get(api.OperationLocationHeader)
	require.True(rg.t, strings.HasPrefix(loc, rg.URL+"/language/authoring/analyze-text/projects/"), loc)
	require.Contains(rg.t, loc, "api-version=")
	return loc
}

func (rg *region) authJob(loc string) api.AuthoringJob {
	rg.t.Helper()
	r := rg.do(http.MethodGet, loc, nil)
	require.Equal(rg.t, http.StatusOK, r.status, "body: %s", r.body)
	var j api.AuthoringJob
	r.decode(rg.t, &j)
	return j
}

// finish advances the clock in steps until the job at loc is terminal and
// returns its final state.
func (rg *region) finish(loc string) api.AuthoringJob {
	rg.t.Helper()
	for range 100 {
		j := rg.authJob(loc)
		if api.Terminal(j.Status) {
			return j
		}
		rg.clock.Advance(time.Second)
	}
	require.FailNow(rg.t, "job never ended", "job %s never ended", loc)
	return api.AuthoringJob{}
}

// succeed runs an authoring call to success.
func (rg *region) succeed(method, path string, body any) api.AuthoringJob {
	rg.t.Helper()
	j := rg.finish(rg.accepted(rg.do(method, q(path), body)))
	require.Equal(rg.t, api.StatusSucceeded, j.Status, "errors: %+v", j.Errors)
	return j
}

func (rg *region) getProject(name string) api.Project {
	rg.t.Helper()
	r := rg.do(http.MethodGet, q(api.ProjectPath(name)), nil)
	require.Equal(rg.t, http.StatusOK, r.status, "body: %s", r.body)
	var p api.Project
	r.decode(rg.t, &p)
	return p
}

// export runs an export and returns the exported project's JSON.
func (rg *region) export(name string) []byte {
	rg.t.Helper()
	j := rg.succeed(http.MethodPost, api.ProjectPath(name)+"/:export?stringIndexType=Utf16CodeUnit", map[string]any{"assetsToExport": []string{"*"}})
	require.True(rg.t, strings.HasPrefix(j.ResultURL, rg.URL+api.ProjectPath(name)+"/export/jobs/"+j.JobID+"/result?"), j.ResultURL)
	r := rg.do(http.MethodGet, j.ResultURL, nil)
	require.Equal(rg.t, http.StatusOK, r.status, "body: %s", r.body)
	return r.body
}
