package emulator

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
)

var uuidShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestSubmitAndPollLifecycle(t *testing.T) {
	rg := newRegion(t, Options{JobDuration: 3 * time.Second})
	require.NoError(t, rg.Seed(demoProject()))

	r := rg.do(http.MethodPost, q(api.JobsPath), submitBody("demo", "production", api.StringIndexUTF16, "Zoë visited Köln."))
	require.Equal(t, http.StatusAccepted, r.status)
	assert.Empty(t, r.body)
	assert.Empty(t, r.header.Get("Content-Type"), "a 202 has no body and no type")
	assert.True(t, uuidShape.MatchString(r.header.Get(api.RequestIDHeader)))
	loc := r.header.Get(api.OperationLocationHeader)
	u, err := url.Parse(loc)
	require.NoError(t, err)
	assert.Equal(t, rg.URL, u.Scheme+"://"+u.Host, "operation-location is absolute on the region's host")
	assert.Equal(t, v2, u.Query().Get("api-version"))
	id := strings.TrimPrefix(u.Path, api.JobsPath+"/")
	assert.True(t, uuidShape.MatchString(id), id)

	st := rg.job(loc)
	assert.Equal(t, api.StatusNotStarted, st.Status)
	assert.Equal(t, id, st.JobID)
	assert.Equal(t, t0, st.CreatedDateTime)
	assert.Equal(t, t0.Add(24*time.Hour), st.ExpirationDateTime)
	assert.Equal(t, 1, st.Tasks.InProgress)
	assert.Empty(t, st.Tasks.Items)

	rg.clock.Advance(time.Second)
	st = rg.job(loc)
	assert.Equal(t, api.StatusRunning, st.Status)
	assert.Equal(t, t0.Add(time.Second), st.LastUpdatedDateTime)

	rg.clock.Advance(2 * time.Second)
	r = rg.do(http.MethodGet, loc, nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
	assert.Contains(t, string(r.body), `"lastUpdatedDateTime"`)
	assert.NotContains(t, string(r.body), `"modelVersion"`, "custom NER results carry no modelVersion")
	r.decode(t, &st)
	assert.Equal(t, api.StatusSucceeded, st.Status)
	assert.True(t, st.LastUpdateDateTime.IsZero(), "2023-04-01 sends lastUpdatedDateTime only (runtime-custom-ner-2023-04-01)")
	assert.Equal(t, api.TaskSummary{Completed: 1, Total: 1}, api.TaskSummary{Completed: st.Tasks.Completed, Failed: st.Tasks.Failed, InProgress: st.Tasks.InProgress, Total: st.Tasks.Total})
	item := st.Tasks.Items[0]
	assert.Equal(t, api.KindCustomEntityRecognitionResult, item.Kind)
	assert.Equal(t, "ner", item.TaskName)
	assert.Equal(t, api.StatusSucceeded, item.Status)
	res := customResults(t, st)
	assert.Equal(t, "demo", res.ProjectName)
	assert.Equal(t, "production", res.DeploymentName)
	assert.Empty(t, res.Errors)
	require.Len(t, res.Documents, 1)
	assert.Equal(t, []api.Entity{
		{Text: "Zoë", Category: "Person", Offset: 0, Length: 3, ConfidenceScore: 1},
		{Text: "Köln", Category: "City", Offset: 12, Length: 4, ConfidenceScore: 1},
	}, res.Documents[0].Entities)
	assert.Empty(t, st.NextLink)

	// Results stay 24 hours, then the job is gone.
	rg.clock.Advance(24 * time.Hour)
	r = rg.do(http.MethodGet, loc, nil)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, api.CodeNotFound, r.apiError(t).Code)
}

func TestSubmitZeroDurationSucceedsAtOnce(t *testing.T) {
	rg := newRegion(t, Options{})
	require.NoError(t, rg.Seed(demoProject()))
	st := rg.job(rg.submit(submitBody("demo", "production", "", "Anna")))
	assert.Equal(t, api.StatusSucceeded, st.Status)
}

func TestJobAcceptsEveryAPIVersion(t *testing.T) {
	rg := newRegion(t, Options{})
	require.NoError(t, rg.Seed(demoProject()))
	for _, v := range []string{"2022-05-01", "2023-04-01", "2024-11-01", "2022-10-01-preview", "2025-05-15-preview"} {
		r := rg.do(http.MethodPost, api.JobsPath+"?api-version="+v, submitBody("demo", "production", "", "Anna"))
		require.Equal(t, http.StatusAccepted, r.status, v)
		loc := r.header.Get(api.OperationLocationHeader)
		assert.Contains(t, loc, "api-version="+v)
		assert.Equal(t, http.StatusOK, rg.do(http.MethodGet, loc, nil).status)
	}
	for _, path := range []string{api.JobsPath, api.JobsPath + "?api-version=2019-01-01"} {
		r := rg.do(http.MethodPost, path, submitBody("demo", "production", "", "Anna"))
		assert.Equal(t, http.StatusBadRequest, r.status, path)
		assert.Equal(t, api.CodeInvalidRequest, r.apiError(t).Code)
	}
}

func TestUnauthorized(t *testing.T) {
	rg := newRegion(t, Options{})
	for _, key := range []string{"", "wrong"} {
		r := rg.doKey(http.MethodPost, q(api.JobsPath), key, submitBody("demo", "production", "", "x"))
		require.Equal(t, http.StatusUnauthorized, r.status)
		e := r.apiError(t)
		assert.Equal(t, "401", e.Code)
		assert.True(t, strings.HasPrefix(e.Message, "Access denied due to invalid subscription key or wrong API endpoint."))
		assert.NotEmpty(t, r.header.Get(api.RequestIDHeader))
		// The front door answers before it looks at the api-version.
		r = rg.doKey(http.MethodGet, api.JobPath(newUUID()), key, nil)
		assert.Equal(t, http.StatusUnauthorized, r.status)
	}
	assert.Equal(t, 2, rg.Calls("submit"))
	assert.Equal(t, 2, rg.Calls("job"))
}

func TestSubmitValidation(t *testing.T) {
	rg := newRegion(t, Options{})
	many := make([]string, 26)
	for i := range many {
		many[i] = "text"
	}
	long := strings.Repeat("a", 125001)
	dup := submitBody("demo", "production", "", "a", "b")
	dup.AnalysisInput.Documents[1].ID = dup.AnalysisInput.Documents[0].ID
	noID := submitBody("demo", "production", "", "a")
	noID.AnalysisInput.Documents[0].ID = ""
	badIndex := submitBody("demo", "production", "Bytes", "a")
	noProject := submitBody("", "production", "", "a")
	noDeployment := submitBody("demo", "", "", "a")
	noKind := submitBody("demo", "production", "", "a")
	noKind.Tasks[0].Kind = ""
	healthcare := submitBody("demo", "production", "", "a")
	healthcare.Tasks[0].Kind = "Healthcare"
	for name, tc := range map[string]struct {
		body  any
		code  string
		inner string
	}{
		"malformed":     {`{"analysisInput":`, api.CodeInvalidRequest, api.InnerInvalidRequestBodyFormat},
		"wrong type":    {`{"analysisInput":{"documents":"x"}}`, api.CodeInvalidRequest, api.InnerInvalidRequestBodyFormat},
		"no documents":  {`{"analysisInput":{"documents":[]},"tasks":[]}`, api.CodeInvalidArgument, api.InnerMissingInputDocuments},
		"no tasks":      {`{"analysisInput":{"documents":[{"id":"1","text":"a"}]}}`, api.CodeInvalidArgument, ""},
		"26 documents":  {submitBody("demo", "production", "", many...), api.CodeInvalidRequest, api.InnerInvalidDocumentBatch},
		"too long":      {submitBody("demo", "production", "", long), api.CodeInvalidRequest, api.InnerInvalidDocumentBatch},
		"duplicate ids": {dup, api.CodeInvalidArgument, "InvalidDocument"},
		"no id":         {noID, api.CodeInvalidArgument, ""},
		"index type":    {badIndex, api.CodeInvalidArgument, api.InnerInvalidParameterValue},
		"no project":    {noProject, api.CodeInvalidArgument, ""},
		"no deployment": {noDeployment, api.CodeInvalidArgument, ""},
		"no kind":       {noKind, api.CodeInvalidArgument, ""},
		"unsupported":   {healthcare, api.CodeInvalidArgument, ""},
	} {
		t.Run(name, func(t *testing.T) {
			r := rg.do(http.MethodPost, q(api.JobsPath), tc.body)
			require.Equal(t, http.StatusBadRequest, r.status, "body: %s", r.body)
			e := r.apiError(t)
			assert.Equal(t, tc.code, e.Code)
			if tc.inner != "" {
				require.NotNil(t, e.InnerError)
				assert.Equal(t, tc.inner, e.InnerError.Code)
			}
			// Azure's recorded 400s carry no x-ms-error-code (internal/testkit/recorded).
			assert.Empty(t, r.header.Get("x-ms-error-code"))
		})
	}
}

func TestUnknownJobAndRoute(t *testing.T) {
	rg := newRegion(t, Options{})
	r := rg.do(http.MethodGet, q(api.JobPath(newUUID())), nil)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, api.CodeNotFound, r.apiError(t).Code)
	r = rg.do(http.MethodPost, q(api.JobPath(newUUID())+api.CancelSuffix), nil)
	assert.Equal(t, http.StatusNotFound, r.status)
	r = rg.do(http.MethodGet, q("/language/nothing"), nil)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "404", r.apiError(t).Code)
	r = rg.do(http.MethodDelete, q(api.JobsPath), nil)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, 2, rg.Calls(routeUnknown))
}

func TestUnknownProjectOrDeploymentFailsTheJob(t *testing.T) {
	rg := newRegion(t, Options{JobDuration: time.Second})
	require.NoError(t, rg.Seed(demoProject()))
	for _, tc := range []struct{ project, deployment, code string }{
		{"nope", "production", api.CodeProjectNotFound},
		{"demo", "staging", api.CodeNotFound},
	} {
		loc := rg.submit(submitBody(tc.project, tc.deployment, "", "Anna"))
		assert.Equal(t, api.StatusNotStarted, rg.job(loc).Status)
		rg.clock.Advance(time.Second)
		st := rg.job(loc)
		assert.Equal(t, api.StatusFailed, st.Status)
		require.Len(t, st.Errors, 1)
		assert.Equal(t, tc.code, st.Errors[0].Code)
		assert.Equal(t, 1, st.Tasks.Failed)
		require.Len(t, st.Tasks.Items, 1)
		assert.Equal(t, api.StatusFailed, st.Tasks.Items[0].Status)
		assert.Empty(t, st.Tasks.Items[0].Results)
	}
}

func TestCancel(t *testing.T) {
	rg := newRegion(t, Options{JobDuration: 3 * time.Second})
	require.NoError(t, rg.Seed(demoProject()))
	loc := rg.submit(submitBody("demo", "production", "", "Anna"))
	st := rg.job(loc)

	r := rg.do(http.MethodPost, q(api.JobPath(st.JobID)+api.CancelSuffix), nil)
	require.Equal(t, http.StatusAccepted, r.status)
	assert.Equal(t, loc, r.header.Get(api.OperationLocationHeader))
	assert.Equal(t, api.StatusCancelling, rg.job(loc).Status)
	rg.clock.Advance(time.Second)
	st = rg.job(loc)
	assert.Equal(t, api.StatusCancelled, st.Status)
	// The task the cancel stopped is listed as cancelled, with empty
	// results, as Azure lists them (runtime-cancel-2023-04-01).
	require.Len(t, st.Tasks.Items, 1)
	assert.Equal(t, api.StatusCancelled, st.Tasks.Items[0].Status)
	assert.Empty(t, customResults(t, st).Documents)
	assert.Equal(t, 0, st.Tasks.Completed+st.Tasks.Failed+st.Tasks.InProgress)
	rg.clock.Advance(time.Hour)
	assert.Equal(t, api.StatusCancelled, rg.job(loc).Status)

	// A finished job stays finished.
	loc = rg.submit(submitBody("demo", "production", "", "Anna"))
	rg.clock.Advance(3 * time.Second)
	st = rg.job(loc)
	require.Equal(t, api.StatusSucceeded, st.Status)
	r = rg.do(http.MethodPost, q(api.JobPath(st.JobID)+api.CancelSuffix), nil)
	require.Equal(t, http.StatusAccepted, r.status)
	assert.Equal(t, api.StatusSucceeded, rg.job(loc).Status)
}

func TestPaging(t *testing.T) {
	rg := newRegion(t, Options{PageSize: 2})
	require.NoError(t, rg.Seed(demoProject()))
	texts := []string{"Anna", "Zoë", "Köln", "Paris", "Müller"}
	loc := rg.submit(submitBody("demo", "production", api.StringIndexUTF16, texts...))

	collect := func(first string) (ids []string, pages int) {
		next := first
		for next != "" {
			st := rg.job(next)
			pages++
			for _, d := range customResults(t, st).Documents {
				ids = append(ids, d.ID)
			}
			if st.NextLink != "" {
				u, err := url.Parse(st.NextLink)
				require.NoError(t, err)
				assert.Equal(t, rg.URL, u.Scheme+"://"+u.Host)
				assert.Equal(t, v2, u.Query().Get("api-version"))
			}
			next = st.NextLink
			require.Less(t, pages, 10)
		}
		return ids, pages
	}
	ids, pages := collect(loc)
	assert.Equal(t, []string{"1", "2", "3", "4", "5"}, ids)
	assert.Equal(t, 3, pages, "default page size 2")
	// The nextLink asks for a page as large again, in Azure's shape
	// (runtime-paging-2023-04-01).
	assert.Equal(t, rg.URL+api.JobPath(rg.job(loc).JobID)+"?showStats=False&top=2&skip=2&api-version="+v2, rg.job(loc).NextLink)

	ids, pages = collect(loc + "&top=1")
	assert.Equal(t, []string{"1", "2", "3", "4", "5"}, ids)
	assert.Equal(t, 5, pages, "top=1 pages by one")

	ids, pages = collect(loc + "&$top=1&$skip=3")
	assert.Equal(t, []string{"4", "5"}, ids)
	assert.Equal(t, 2, pages)

	st := rg.job(loc + "&top=10&showStats=true")
	assert.Equal(t, rg.URL+api.JobPath(st.JobID)+"?showStats=True&top=2&skip=2&api-version="+v2, st.NextLink,
		"a page holds at most PageSize documents whatever top asks")
	// Statistics sit in the task's results, as Azure sends them.
	assert.Nil(t, st.Statistics)
	stats := customResults(t, st).Statistics
	require.NotNil(t, stats)
	assert.Equal(t, 5, stats.DocumentsCount)
	assert.Equal(t, 5, stats.ValidDocumentsCount)
	assert.Equal(t, 5, stats.TransactionsCount)
	assert.NotNil(t, customResults(t, st).Documents[0].Statistics)

	for _, bad := range []string{"&top=x", "&$skip=-1", "&top=0"} {
		r := rg.do(http.MethodGet, loc+bad, nil)
		assert.Equal(t, http.StatusBadRequest, r.status, bad)
	}
}

func TestEmptyDocumentIsADocumentError(t *testing.T) {
	rg := newRegion(t, Options{})
	require.NoError(t, rg.Seed(demoProject()))
	st := rg.job(rg.submit(submitBody("demo", "production", "", "Anna", "")) + "&showStats=true")
	assert.Equal(t, api.StatusSucceeded, st.Status)
	res := customResults(t, st)
	require.Len(t, res.Errors, 1)
	assert.Equal(t, "2", res.Errors[0].ID)
	assert.Len(t, res.Documents, 1)
	assert.Equal(t, 1, res.Statistics.ErroneousDocumentsCount)
}

func TestSyncAnalyze(t *testing.T) {
	rg := newRegion(t, Options{})
	doc := map[string]any{"documents": []map[string]string{{"id": "1", "language": "en", "text": "Anna Smith met 😀 Zoë in Köln yesterday."}}}
	for _, kind := range []string{"EntityRecognition", "PiiEntityRecognition", "KeyPhraseExtraction", "LanguageDetection", "SentimentAnalysis", "EntityLinking"} {
		r := rg.do(http.MethodPost, q(api.SyncAnalyzePath, "showStats", "true"), map[string]any{
			"kind": kind, "analysisInput": doc, "parameters": map[string]any{"stringIndexType": api.StringIndexUTF16}})
		require.Equal(t, http.StatusOK, r.status, "%s: %s", kind, r.body)
		var body struct {
			Kind    string `json:"kind"`
			Results struct {
				Documents    []map[string]any `json:"documents"`
				Errors       []any            `json:"errors"`
				ModelVersion string           `json:"modelVersion"`
			} `json:"results"`
		}
		r.decode(t, &body)
		assert.Equal(t, kind+"Results", body.Kind)
		assert.Len(t, body.Results.Documents, 1)
		assert.NotEmpty(t, body.Results.ModelVersion)
		assert.NotNil(t, body.Results.Errors)
	}
	r := rg.do(http.MethodPost, q(api.SyncAnalyzePath), map[string]any{"kind": "EntityRecognition", "analysisInput": doc})
	var er struct {
		Results struct {
			Documents []struct{ Entities []api.Entity } `json:"documents"`
		} `json:"results"`
	}
	r.decode(t, &er)
	assert.Equal(t, []api.Entity{
		{Text: "Anna Smith", Category: "Person", Offset: 0, Length: 10, ConfidenceScore: 0.8},
		{Text: "Zoë", Category: "Person", Offset: 17, Length: 3, ConfidenceScore: 0.8},
		{Text: "Köln", Category: "Person", Offset: 24, Length: 4, ConfidenceScore: 0.8},
	}, er.Results.Documents[0].Entities, "TextElements_v8 by default: the emoji is one element")

	for _, body := range []any{
		map[string]any{"kind": api.KindCustomEntityRecognition, "analysisInput": doc},
		map[string]any{"kind": "Nonsense", "analysisInput": doc},
		`{"kind":`,
	} {
		r := rg.do(http.MethodPost, q(api.SyncAnalyzePath), body)
		assert.Equal(t, http.StatusBadRequest, r.status, "%v", body)
	}
}

func TestAsyncPrebuiltTask(t *testing.T) {
	rg := newRegion(t, Options{})
	body := submitBody("", "", "", "Anna went to Paris.")
	body.Tasks[0] = api.Task{Kind: "EntityRecognition"}
	st := rg.job(rg.submit(body))
	require.Equal(t, api.StatusSucceeded, st.Status)
	assert.Equal(t, "EntityRecognitionLROResults", st.Tasks.Items[0].Kind)
	assert.Contains(t, string(st.Tasks.Items[0].Results), `"modelVersion"`)
}
