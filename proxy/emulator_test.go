package proxy

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"nergateway/api"
	"nergateway/emulator"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The proxy in front of two emulated regions: the same rules as the fake
// region tests, against the emulator that is faithful to Azure's wire
// format, including real job lifecycles, paging and name differences.

// newEmulatorPair starts two seeded regions and returns them with their
// endpoints and keys as the gateway is configured.
func newEmulatorPair(t *testing.T, opts emulator.Options) (primary, secondary *emulator.Server, ups []upstream) {
	t.Helper()
	start := func(name, project, deployment string) *emulator.Server {
		o := opts
		o.Name, o.Key = name, "emu-key-"+name+"-"+randHex(8)
		s, err := emulator.NewServer(o)
		require.NoError(t, err)
		ups = append(ups, upstream{url: s.URL, key: o.Key})
		t.Cleanup(func() { s.Close() })
		err = s.Seed(emulator.SeedProject{
			Name: project, Language: "en", DeploymentName: deployment,
			Documents: []emulator.SeedDocument{{
				Name: "01.txt", Text: "Contoso opened an office in Seattle.",
				Labels: []api.Label{{Category: "Company", Offset: 0, Length: 7}, {Category: "City", Offset: 28, Length: 7}},
			}},
		})
		require.NoError(t, err)
		return s
	}
	// The secondary holds the replicated project under other names, as
	// SECONDARY_PROJECT_NAMES / SECONDARY_DEPLOYMENT_NAMES allow.
	primary, secondary = start("westus2", "demo", "production"), start("eastus", "demo-dr", "production-dr")
	return primary, secondary, ups
}

func mapped(c *Config) {
	c.ProjectNames = map[string]string{"demo": "demo-dr"}
	c.DeploymentNames = map[string]string{"production": "production-dr"}
}

const emuSubmit = `{"displayName":"e2e","analysisInput":{"documents":[` +
	`{"id":"1","language":"en","text":"Contoso is hiring in Seattle."},` +
	`{"id":"2","language":"en","text":"Seattle loves Contoso."},` +
	`{"id":"3","language":"en","text":"Nothing here."}]},` +
	`"tasks":[{"kind":"CustomEntityRecognition","taskName":"ner","parameters":{"projectName":"demo","deploymentName":"production","stringIndexType":"Utf16CodeUnit"}}]}`

// pollAll polls opLoc until the job ends, then follows every nextLink, and
// returns the pages.
func pollAll(t *testing.T, h *harness, opLoc string) []map[string]any {
	t.Helper()
	var pages []map[string]any
	next := opLoc
	for tries := 0; next != ""; tries++ {
		require.LessOrEqual(t, tries, 200, "job never ended")
		got := h.do(http.MethodGet, next, "")
		require.Equal(t, http.StatusOK, got.status, "GET %s: %d %s", next, got.status, got.body)
		body := got.json(t)
		if !api.Terminal(body["status"].(string)) {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		pages = append(pages, body)
		next, _ = body["nextLink"].(string)
		require.False(t, next != "" && !strings.HasPrefix(next, h.gw.URL+"/"), "nextLink %q does not point at the gateway", next)
	}
	return pages
}

func entitiesOf(t *testing.T, pages []map[string]any) (texts []string, project, deployment string) {
	t.Helper()
	for _, p := range pages {
		items := p["tasks"].(map[string]any)["items"].([]any)
		for _, it := range items {
			res := it.(map[string]any)["results"].(map[string]any)
			project, deployment = res["projectName"].(string), res["deploymentName"].(string)
			for _, d := range res["documents"].([]any) {
				for _, e := range d.(map[string]any)["entities"].([]any) {
					texts = append(texts, e.(map[string]any)["text"].(string))
				}
			}
		}
	}
	return texts, project, deployment
}

func TestEmulatorFailoverStickyPollsAndPaging(t *testing.T) {
	primary, secondary, ups := newEmulatorPair(t, emulator.Options{PageSize: 1})
	h := newHarness(t, ups, harnessOptions{config: mapped})

	// Job A on the healthy primary.
	a := h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", emuSubmit)
	require.Equal(t, http.StatusAccepted, a.status, "submit A: %d %s", a.status, a.body)
	pagesA := pollAll(t, h, a.header.Get("Operation-Location"))
	entsA, projA, depA := entitiesOf(t, pagesA)
	require.Len(t, pagesA, 3, "job A pages, names/")
	require.Equal(t, "demo", projA, "job A pages, names/")
	require.Equal(t, "production", depA, "job A pages, names/")
	idA := jobID(t, a.header.Get("Operation-Location"))
	for _, p := range pagesA {
		assert.Equal(t, idA, p["jobId"], "page jobId %v, want the token %s", p["jobId"], idA)
	}

	// The primary refuses connections: job B goes to the secondary in the
	// same request, with the secondary's names, and results come back
	// named as the client asked.
	primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})
	b := h.do(http.MethodPost, api.JobsPath+"?api-version=2022-05-01", emuSubmit)
	require.Equal(t, http.StatusAccepted, b.status, "submit B: %d %s", b.status, b.body)
	idB := jobID(t, b.header.Get("Operation-Location"))
	_, idx, _ := decodeToken(idB)
	require.Equal(t, 1, idx, "job B owned by region")
	pagesB := pollAll(t, h, b.header.Get("Operation-Location"))
	entsB, projB, depB := entitiesOf(t, pagesB)
	assert.Equal(t, "demo", projB, "job B results named/, want demo/production")
	assert.Equal(t, "production", depB, "job B results named/, want demo/production")
	assert.Equal(t, strings.Join(entsB, ","), strings.Join(entsA, ","), "entities differ: primary %v, secondary %v", entsA, entsB)
	assert.Len(t, entsA, 4, "entities differ: primary %v, secondary %v", entsA, entsB)
	assert.Equal(t, 1, secondary.Calls("submit"), "secondary submits")

	// Job A's poll while its owner is down: no failover, a 503 the client
	// retries.
	got := h.do(http.MethodGet, a.header.Get("Operation-Location"), "")
	assert.Equal(t, http.StatusServiceUnavailable, got.status, "poll A with its owner down: %d %v", got.status, got.header)
	assert.NotEqual(t, "", got.header.Get("Retry-After"), "poll A with its owner down: %d %v", got.status, got.header)

	// The primary is back: both jobs poll from their owners.
	primary.ClearFaults()
	assert.Len(t, pollAll(t, h, a.header.Get("Operation-Location")), 3, "job A after recovery pages")
	assert.Len(t, pollAll(t, h, b.header.Get("Operation-Location")), 3, "job B after recovery pages")
}

func TestEmulatorBreakerRateLimitAndCancel(t *testing.T) {
	primary, secondary, ups := newEmulatorPair(t, emulator.Options{JobDuration: time.Hour})
	h := newHarness(t, ups, harnessOptions{failures: 3, config: mapped})

	// 503s open the primary's breaker after 3; then it gets no traffic.
	primary.SetFault(emulator.Fault{Status: http.StatusServiceUnavailable, Routes: []string{"submit"}})
	var last reply
	for range 6 {
		last = h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", emuSubmit)
		require.Equal(t, http.StatusAccepted, last.status, "submit: %d %s", last.status, last.body)
	}
	assert.Equal(t, 3, primary.Calls("submit"), "submits: primary (want 3), secondary (want 6)")
	assert.Equal(t, 6, secondary.Calls("submit"), "submits: primary (want 3), secondary (want 6)")

	// Cancel the last job: routed to its owner, the secondary.
	id := jobID(t, last.header.Get("Operation-Location"))
	c := h.do(http.MethodPost, api.JobsPath+"/"+id+":cancel?api-version=2023-04-01", "")
	require.Equal(t, http.StatusAccepted, c.status, "cancel: %d %q %s", c.status, c.header.Get("Operation-Location"), c.body)
	require.Equal(t, id, jobID(t, c.header.Get("Operation-Location")), "cancel: %d %q %s", c.status, c.header.Get("Operation-Location"), c.body)
	assert.Equal(t, 1, secondary.Calls("cancel"), "cancel calls: primary, secondary")
	assert.Equal(t, 0, primary.Calls("cancel"), "cancel calls: primary, secondary")
	st := h.do(http.MethodGet, c.header.Get("Operation-Location"), "").json(t)
	s := st["status"]
	assert.False(t, s != api.StatusCancelling && s != api.StatusCancelled, "status after cancel %v", s)

	// A 429 from the secondary parks it; with the primary open, nothing
	// can serve: 503 with the Retry-After, and no call while parked.
	secondary.SetFault(emulator.Fault{Status: http.StatusTooManyRequests, RetryAfter: 30, Routes: []string{"submit"}})
	got := h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", emuSubmit)
	require.Equal(t, http.StatusServiceUnavailable, got.status, "all regions unavailable: %d Retry-After %q %s", got.status, got.header.Get("Retry-After"), got.body)
	require.Equal(t, "30", got.header.Get("Retry-After"), "all regions unavailable: %d Retry-After %q %s", got.status, got.header.Get("Retry-After"), got.body)
	before := secondary.Calls("submit")
	got = h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", emuSubmit)
	assert.Equal(t, http.StatusServiceUnavailable, got.status, "while parked")
	assert.Equal(t, before, secondary.Calls("submit"), "parked secondary was called")
}

func TestEmulatorClientErrorsAndSync(t *testing.T) {
	primary, secondary, ups := newEmulatorPair(t, emulator.Options{})
	h := newHarness(t, ups, harnessOptions{config: mapped})

	// Azure's own 400s come back untouched, with no failover.
	for _, body := range []string{`{"analysisInput":{"documents":[]},"tasks":[]}`, `not json`} {
		got := h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", body)
		assert.Equal(t, http.StatusBadRequest, got.status, "bad submit %q: %d %s", body, got.status, got.body)
	}
	// A missing api-version is the region's to answer.
	got := h.do(http.MethodPost, api.JobsPath, emuSubmit)
	assert.Equal(t, http.StatusBadRequest, got.status, "missing api-version: %d %s", got.status, got.body)
	// An unknown job on its owner: Azure's 404.
	tok, _ := encodeToken(newV4(), 0)
	got = h.do(http.MethodGet, api.JobsPath+"/"+tok+"?api-version=2023-04-01", "")
	assert.Equal(t, http.StatusNotFound, got.status, "unknown job: %d %s", got.status, got.body)
	assert.Equal(t, 0, secondary.Calls("submit")+secondary.Calls("job"), "a client error failed over")

	// The sync call fails over on a reset connection.
	primary.SetFault(emulator.Fault{Down: emulator.DownReset, Routes: []string{"analyze"}})
	got = h.do(http.MethodPost, api.SyncAnalyzePath+"?api-version=2023-04-01",
		`{"kind":"EntityRecognition","analysisInput":{"documents":[{"id":"1","language":"en","text":"Satya Nadella works at Microsoft in Redmond."}]}}`)
	require.Equal(t, http.StatusOK, got.status, "sync: %d %s", got.status, got.body)
	require.Equal(t, "EntityRecognitionResults", got.json(t)["kind"], "sync: %d %s", got.status, got.body)
	assert.Equal(t, 1, secondary.Calls("analyze"), "secondary analyze calls")

	// Authoring: the primary only, URLs rewritten.
	exp := h.do(http.MethodPost, api.ProjectPath("demo")+"/:export?api-version=2022-05-01&stringIndexType=Utf16CodeUnit", "")
	require.Equal(t, http.StatusAccepted, exp.status, "export: %d %q %s", exp.status, exp.header.Get("Operation-Location"), exp.body)
	require.True(t, strings.HasPrefix(exp.header.Get("Operation-Location"), h.gw.URL+api.ProjectPath("demo")), "export: %d %q %s", exp.status, exp.header.Get("Operation-Location"), exp.body)
	var job map[string]any
	for range 100 {
		job = h.do(http.MethodGet, exp.header.Get("Operation-Location"), "").json(t)
		if api.Terminal(job["status"].(string)) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ru, _ := job["resultUrl"].(string)
	require.True(t, strings.HasPrefix(ru, h.gw.URL+"/language/authoring/"), "resultUrl %q", ru)
	res := h.do(http.MethodGet, ru, "")
	assert.Equal(t, http.StatusOK, res.status, "export result through the gateway: %d %.200s", res.status, res.body)
	assert.False(t, res.json(t)["metadata"] == nil, "export result through the gateway: %d %.200s", res.status, res.body)
	// A 204 is relayed without a body.
	del := h.do(http.MethodDelete, api.ProjectPath("demo")+"/models/model?api-version=2022-05-01", "")
	assert.Equal(t, http.StatusNoContent, del.status, "delete model")
	assert.Empty(t, del.body, "delete model")
	assert.Equal(t, 0, secondary.Calls("export")+secondary.Calls("deleteModel"), "authoring reached the secondary")
}
