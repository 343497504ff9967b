package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/internal/testkit/jsonbody"
)

const (
	testKey = "k1"
	v1      = "2022-05-01"
	v2      = "2023-04-01"
)

// t0 is when every ManualClock of the tests starts.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// region is a Server on a ManualClock with an HTTP client for it.
type region struct {
	*Server
	clock *ManualClock
	t     *testing.T
}

func newRegion(t *testing.T, opts Options) *region {
	t.Helper()
	clock := NewManualClock(t0)
	if opts.Key == "" {
		opts.Key = testKey
	}
	if opts.Clock == nil {
		opts.Clock = clock
	}
	s, err := NewServer(opts)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return &region{Server: s, clock: clock, t: t}
}

// resp is a finished HTTP exchange.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "body: %s", r.body)
}

func (r resp) apiError(t *testing.T) api.Error {
	t.Helper()
	var er api.ErrorResponse
	r.decode(t, &er)
	return er.Error
}

// do sends a request with the region's key; path may be absolute.
func (rg *region) do(method, path string, body any) resp {
	rg.t.Helper()
	return rg.doKey(method, path, testKey, body)
}

func (rg *region) doKey(method, path, key string, body any) resp {
	rg.t.Helper()
	url := path
	if strings.HasPrefix(path, "/") {
		url = rg.URL + path
	}
	rd := jsonbody.Reader(rg.t, body)
	req, err := http.NewRequest(method, url, rd)
	require.NoError(rg.t, err)
	if key != "" {
		req.Header.Set(api.SubscriptionKeyHeader, key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(rg.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(rg.t, err)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// q adds api-version (and more) to a path.
func q(path string, kv ...string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	path += sep + "api-version=" + v2
	for i := 0; i+1 < len(kv); i += 2 {
		path += "&" + kv[i] + "=" + kv[i+1]
	}
	return path
}

// demoProject is a small labelled project with non-ASCII text.
func demoProject() SeedProject {
	return SeedProject{
		Name:      "demo",
		Container: "docs",
		Documents: []SeedDocument{
			{Name: "a.txt", Text: "Müller met Zoë in Köln.", Labels: []api.Label{
				{Category: "Person", Offset: 0, Length: 6},
				{Category: "Person", Offset: 11, Length: 3},
				{Category: "City", Offset: 18, Length: 4},
			}},
			{Name: "b.txt", Text: "😀 Anna flew to Paris 🇫🇷.", Labels: []api.Label{
				{Category: "Person", Offset: 3, Length: 4},
				{Category: "City", Offset: 16, Length: 5},
			}},
		},
		DeploymentName: "production",
	}
}

func submitBody(project, deployment, indexType string, texts ...string) api.SubmitRequest {
	req := api.SubmitRequest{
		DisplayName: "test",
		Tasks: []api.Task{{Kind: api.KindCustomEntityRecognition, TaskName: "ner",
			Parameters: api.TaskParameters{ProjectName: project, DeploymentName: deployment, StringIndexType: indexType}}},
	}
	for i, t := range texts {
		req.AnalysisInput.Documents = append(req.AnalysisInput.Documents, api.Document{ID: string(rune('1' + i)), Language: "en", Text: t})
	}
	return req
}

// submit posts a job and returns its operation-location.
func (rg *region) submit(body any) string {
	rg.t.Helper()
	r := rg.do(http.MethodPost, q(api.JobsPath), body)
	require.Equal(rg.t, http.StatusAccepted, r.status, "body: %s", r.body)
	loc := r.header.Get(api.OperationLocationHeader)
	require.NotEmpty(rg.t, loc)
	return loc
}

func (rg *region) job(url string) api.JobState {
	rg.t.Helper()
	r := rg.do(http.MethodGet, url, nil)
	require.Equal(rg.t, http.StatusOK, r.status, "body: %s", r.body)
	var st api.JobState
	r.decode(rg.t, &st)
	return st
}

func customResults(t *testing.T, st api.JobState) api.CustomEntitiesResult {
	t.Helper()
	require.NotEmpty(t, st.Tasks.Items, "job %s has no task items", st.Status)
	var res api.CustomEntitiesResult
	require.NoError(t, json.Unmarshal(st.Tasks.Items[0].Results, &res))
	return res
}

func jsonBody(v any) io.Reader {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return bytes.NewReader(b)
}

// getJob polls a job without a *testing.T, for goroutines.
func getJob(url string) (api.JobState, error) {
	var st api.JobState
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return st, err
	}
	req.Header.Set(api.SubscriptionKeyHeader, testKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return st, json.NewDecoder(res.Body).Decode(&st)
}
