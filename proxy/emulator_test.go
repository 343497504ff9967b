package proxy

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"nergateway/api"
	"nergateway/emulator"
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
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, upstream{url: s.URL, key: o.Key})
		t.Cleanup(func() { s.Close() })
		err = s.Seed(emulator.SeedProject{
			Name: project, Language: "en", DeploymentName: deployment,
			Documents: []emulator.SeedDocument{{
				Name: "01.txt", Text: "Contoso opened an office in Seattle.",
				Labels: []api.Label{{Category: "Company", Offset: 0, Length: 7}, {Category: "City", Offset: 28, Length: 7}},
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
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
		if tries > 200 {
			t.Fatal("job never ended")
		}
		got := h.do(http.MethodGet, next, "")
		if got.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", next, got.status, got.body)
		}
		body := got.json(t)
		if !api.Terminal(body["status"].(string)) {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		pages = append(pages, body)
		next, _ = body["nextLink"].(string)
		if next != "" && !strings.HasPrefix(next, h.gw.URL+"/") {
			t.Fatalf("nextLink %q does not point at the gateway", next)
		}
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
	if a.status != http.StatusAccepted {
		t.Fatalf("submit A: %d %s", a.status, a.body)
	}
	pagesA := pollAll(t, h, a.header.Get("Operation-Location"))
	entsA, projA, depA := entitiesOf(t, pagesA)
	if len(pagesA) != 3 || projA != "demo" || depA != "production" {
		t.Fatalf("job A: %d pages, names %s/%s", len(pagesA), projA, depA)
	}
	idA := jobID(t, a.header.Get("Operation-Location"))
	for _, p := range pagesA {
		if p["jobId"] != idA {
			t.Errorf("page jobId %v, want the token %s", p["jobId"], idA)
		}
	}

	// The primary refuses connections: job B goes to the secondary in the
	// same request, with the secondary's names, and results come back
	// named as the client asked.
	primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})
	b := h.do(http.MethodPost, api.JobsPath+"?api-version=2022-05-01", emuSubmit)
	if b.status != http.StatusAccepted {
		t.Fatalf("submit B: %d %s", b.status, b.body)
	}
	idB := jobID(t, b.header.Get("Operation-Location"))
	if _, idx, _ := decodeToken(idB); idx != 1 {
		t.Fatalf("job B owned by region %d", idx)
	}
	pagesB := pollAll(t, h, b.header.Get("Operation-Location"))
	entsB, projB, depB := entitiesOf(t, pagesB)
	if projB != "demo" || depB != "production" {
		t.Errorf("job B results named %s/%s, want demo/production", projB, depB)
	}
	if strings.Join(entsA, ",") != strings.Join(entsB, ",") || len(entsA) != 4 {
		t.Errorf("entities differ: primary %v, secondary %v", entsA, entsB)
	}
	if secondary.Calls("submit") != 1 {
		t.Errorf("secondary submits %d", secondary.Calls("submit"))
	}

	// Job A's poll while its owner is down: no failover, a 503 the client
	// retries.
	if got := h.do(http.MethodGet, a.header.Get("Operation-Location"), ""); got.status != http.StatusServiceUnavailable || got.header.Get("Retry-After") == "" {
		t.Errorf("poll A with its owner down: %d %v", got.status, got.header)
	}

	// The primary is back: both jobs poll from their owners.
	primary.ClearFaults()
	if got := pollAll(t, h, a.header.Get("Operation-Location")); len(got) != 3 {
		t.Errorf("job A after recovery: %d pages", len(got))
	}
	if got := pollAll(t, h, b.header.Get("Operation-Location")); len(got) != 3 {
		t.Errorf("job B after recovery: %d pages", len(got))
	}
}

func TestEmulatorBreakerRateLimitAndCancel(t *testing.T) {
	primary, secondary, ups := newEmulatorPair(t, emulator.Options{JobDuration: time.Hour})
	h := newHarness(t, ups, harnessOptions{failures: 3, config: mapped})

	// 503s open the primary's breaker after 3; then it gets no traffic.
	primary.SetFault(emulator.Fault{Status: http.StatusServiceUnavailable, Routes: []string{"submit"}})
	var last reply
	for range 6 {
		last = h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", emuSubmit)
		if last.status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", last.status, last.body)
		}
	}
	if primary.Calls("submit") != 3 || secondary.Calls("submit") != 6 {
		t.Errorf("submits: primary %d (want 3), secondary %d (want 6)", primary.Calls("submit"), secondary.Calls("submit"))
	}

	// Cancel the last job: routed to its owner, the secondary.
	id := jobID(t, last.header.Get("Operation-Location"))
	c := h.do(http.MethodPost, api.JobsPath+"/"+id+":cancel?api-version=2023-04-01", "")
	if c.status != http.StatusAccepted || jobID(t, c.header.Get("Operation-Location")) != id {
		t.Fatalf("cancel: %d %q %s", c.status, c.header.Get("Operation-Location"), c.body)
	}
	if secondary.Calls("cancel") != 1 || primary.Calls("cancel") != 0 {
		t.Errorf("cancel calls: primary %d, secondary %d", primary.Calls("cancel"), secondary.Calls("cancel"))
	}
	st := h.do(http.MethodGet, c.header.Get("Operation-Location"), "").json(t)
	if s := st["status"]; s != api.StatusCancelling && s != api.StatusCancelled {
		t.Errorf("status after cancel %v", s)
	}

	// A 429 from the secondary parks it; with the primary open, nothing
	// can serve: 503 with the Retry-After, and no call while parked.
	secondary.SetFault(emulator.Fault{Status: http.StatusTooManyRequests, RetryAfter: 30, Routes: []string{"submit"}})
	got := h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", emuSubmit)
	if got.status != http.StatusServiceUnavailable || got.header.Get("Retry-After") != "30" {
		t.Fatalf("all regions unavailable: %d Retry-After %q %s", got.status, got.header.Get("Retry-After"), got.body)
	}
	before := secondary.Calls("submit")
	if got := h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", emuSubmit); got.status != http.StatusServiceUnavailable {
		t.Errorf("while parked: %d", got.status)
	}
	if secondary.Calls("submit") != before {
		t.Error("parked secondary was called")
	}
}

func TestEmulatorClientErrorsAndSync(t *testing.T) {
	primary, secondary, ups := newEmulatorPair(t, emulator.Options{})
	h := newHarness(t, ups, harnessOptions{config: mapped})

	// Azure's own 400s come back untouched, with no failover.
	for _, body := range []string{`{"analysisInput":{"documents":[]},"tasks":[]}`, `not json`} {
		got := h.do(http.MethodPost, api.JobsPath+"?api-version=2023-04-01", body)
		if got.status != http.StatusBadRequest {
			t.Errorf("bad submit %q: %d %s", body, got.status, got.body)
		}
	}
	// A missing api-version is the region's to answer.
	if got := h.do(http.MethodPost, api.JobsPath, emuSubmit); got.status != http.StatusBadRequest {
		t.Errorf("missing api-version: %d %s", got.status, got.body)
	}
	// An unknown job on its owner: Azure's 404.
	tok, _ := encodeToken(newV4(), 0)
	if got := h.do(http.MethodGet, api.JobsPath+"/"+tok+"?api-version=2023-04-01", ""); got.status != http.StatusNotFound {
		t.Errorf("unknown job: %d %s", got.status, got.body)
	}
	if secondary.Calls("submit")+secondary.Calls("job") != 0 {
		t.Error("a client error failed over")
	}

	// The sync call fails over on a reset connection.
	primary.SetFault(emulator.Fault{Down: emulator.DownReset, Routes: []string{"analyze"}})
	got := h.do(http.MethodPost, api.SyncAnalyzePath+"?api-version=2023-04-01",
		`{"kind":"EntityRecognition","analysisInput":{"documents":[{"id":"1","language":"en","text":"Satya Nadella works at Microsoft in Redmond."}]}}`)
	if got.status != http.StatusOK || got.json(t)["kind"] != "EntityRecognitionResults" {
		t.Fatalf("sync: %d %s", got.status, got.body)
	}
	if secondary.Calls("analyze") != 1 {
		t.Errorf("secondary analyze calls %d", secondary.Calls("analyze"))
	}

	// Authoring: the primary only, URLs rewritten.
	exp := h.do(http.MethodPost, api.ProjectPath("demo")+"/:export?api-version=2022-05-01&stringIndexType=Utf16CodeUnit", "")
	if exp.status != http.StatusAccepted || !strings.HasPrefix(exp.header.Get("Operation-Location"), h.gw.URL+api.ProjectPath("demo")) {
		t.Fatalf("export: %d %q %s", exp.status, exp.header.Get("Operation-Location"), exp.body)
	}
	var job map[string]any
	for range 100 {
		job = h.do(http.MethodGet, exp.header.Get("Operation-Location"), "").json(t)
		if api.Terminal(job["status"].(string)) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ru, _ := job["resultUrl"].(string)
	if !strings.HasPrefix(ru, h.gw.URL+"/language/authoring/") {
		t.Fatalf("resultUrl %q", ru)
	}
	if res := h.do(http.MethodGet, ru, ""); res.status != http.StatusOK || res.json(t)["metadata"] == nil {
		t.Errorf("export result through the gateway: %d %.200s", res.status, res.body)
	}
	// A 204 is relayed without a body.
	if del := h.do(http.MethodDelete, api.ProjectPath("demo")+"/models/model?api-version=2022-05-01", ""); del.status != http.StatusNoContent || len(del.body) != 0 {
		t.Errorf("delete model: %d %q", del.status, del.body)
	}
	if secondary.Calls("export")+secondary.Calls("deleteModel") != 0 {
		t.Error("authoring reached the secondary")
	}
}
