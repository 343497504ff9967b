package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/internal/testkit/recorded"
)

// The tests below send the emulator the requests Microsoft's SDK tests
// sent Azure (internal/testkit/recorded) and hold its answers to Azure's: status,
// headers, the members of every body at every level (so one date name per
// api-version, tasks.items: [] while a job runs, no taskName the request
// did not have, estimatedEndDateTime only while training runs, warnings: []
// on a finished training job), the precision of every date (whole seconds
// on job and project dates, seven fractional digits on task and training
// times), nextLink's exact shape, and the values that carry meaning
// (statuses, kinds, codes, task counts, names). Values the model or the
// clock decides (entity texts, ids, dates) are not compared. Where the
// emulator keeps a difference, the step names it and says why.

// replayStep adjusts one entry of a conversation for the emulator.
type replayStep struct {
	// advance moves the clock before the request, so the job is in the
	// phase Azure's answer shows.
	advance time.Duration
	// body replaces the recorded request body.
	body any
	// key replaces the region's key ("" sends none).
	key *string
	// edit adjusts the recorded answer before the comparison, for a
	// difference the emulator keeps (the step's comment says which).
	edit func(want map[string]any)
	// accept lists body paths whose difference is accepted, with why.
	accept map[string]string
}

// replay sends the conversation's requests to rg and compares the answers.
func replay(t *testing.T, rg *region, c recorded.Conversation, steps map[int]replayStep) {
	t.Helper()
	links := map[string]string{} // a link Azure gave -> the one the emulator gave
	ids := map[string]string{}   // a job id Azure gave -> the emulator's
	for i, e := range c.Entries {
		st := steps[i]
		rg.clock.Advance(st.advance)
		target, ok := links[e.RequestURI]
		if !ok {
			target = rg.URL + recorded.SubstituteIDs(e.PathAndQuery(), ids)
		}
		var body any
		if e.HasRequestBody() {
			body = e.RequestBodyBytes()
		}
		if st.body != nil {
			body = st.body
		}
		key := testKey
		if st.key != nil {
			key = *st.key
		}
		r := rg.doKey(e.RequestMethod, target, key, body)
		where := fmt.Sprintf("entry %d: %s %s", i, e.RequestMethod, e.PathAndQuery())
		require.Equal(t, e.StatusCode, r.status, "%s: %s", where, r.body)
		compareHeaders(t, where, e.ResponseHeaders, r.header)

		if loc := e.ResponseHeaders["operation-location"]; loc != "" {
			got := r.header.Get(api.OperationLocationHeader)
			links[loc] = got
			ids[recorded.LastSegment(loc)] = recorded.LastSegment(got)
			assert.Equal(t, rg.URL+recorded.SubstituteIDs(strings.TrimPrefix(loc, e.Origin()), ids), got, "%s: operation-location", where)
		}
		if !e.HasResponseBody() {
			assert.Empty(t, r.body, where)
			continue
		}
		var want, got map[string]any
		require.NoError(t, json.Unmarshal(e.ResponseBodyBytes(), &want))
		require.NoError(t, json.Unmarshal(r.body, &got), "%s: %s", where, r.body)
		if st.edit != nil {
			st.edit(want)
		}
		compareBody(t, where, "", want, got, st.accept)
		for _, k := range []string{"nextLink", "resultUrl"} {
			if w, ok := want[k].(string); ok {
				g, _ := got[k].(string)
				links[w] = g
				assert.Equal(t, rg.URL+recorded.SubstituteIDs(strings.TrimPrefix(w, e.Origin()), ids), g, "%s: %s has Azure's shape", where, k)
			}
		}
	}
}

// headersNotCompared vary with the transport or the body, or are the
// deprecation notes of Azure's own models.
var headersNotCompared = map[string]bool{"date": true, "content-length": true, "transfer-encoding": true, "connection": true, "azure-deprecating": true}

// compareHeaders checks that the emulator sends every header Azure sent,
// with the same value where the value is not per request, and no
// x-ms-error-code where Azure sent none.
func compareHeaders(t *testing.T, where string, want map[string]string, got http.Header) {
	t.Helper()
	for k, v := range want {
		lk := strings.ToLower(k)
		if headersNotCompared[lk] {
			continue
		}
		assert.NotEmpty(t, got.Get(k), "%s: header %s", where, k)
		switch lk {
		case "content-type", "strict-transport-security", "x-content-type-options", "access-control-expose-headers":
			assert.Equal(t, v, got.Get(k), "%s: header %s", where, k)
		case "request-id":
			assert.Equal(t, got.Get(api.RequestIDHeader), got.Get(k), "%s: request-id repeats apim-request-id", where)
		}
	}
	for _, k := range []string{"x-ms-error-code", "Content-Type", "operation-location", "request-id"} {
		if _, ok := lookupFold(want, k); !ok {
			assert.Empty(t, got.Get(k), "%s: Azure sent no %s", where, k)
		}
	}
}

func lookupFold(m map[string]string, k string) (string, bool) {
	for mk, v := range m {
		if strings.EqualFold(mk, k) {
			return v, true
		}
	}
	return "", false
}

// Members whose values carry meaning, compared as values.
var (
	compareStrings = map[string]bool{"status": true, "kind": true, "code": true, "taskName": true, "projectName": true,
		"deploymentName": true, "modelLabel": true, "trainingConfigVersion": true, "projectKind": true,
		"modelTrainingConfigVersion": true}
	compareNumbers = map[string]bool{"completed": true, "failed": true, "inProgress": true, "total": true, "percentComplete": true,
		"documentsCount": true, "validDocumentsCount": true, "erroneousDocumentsCount": true}
	wholeSecondsDate = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	ticksDate        = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$`)
)

// dateClass names the precision of a date as Azure writes it.
func dateClass(s string) string {
	switch {
	case wholeSecondsDate.MatchString(s):
		return "whole seconds"
	case ticksDate.MatchString(s):
		return "7 fractional digits"
	}
	return "other: " + s
}

// compareBody compares the emulator's answer with Azure's, member by
// member; arrays compare their first elements (Azure's and the emulator's
// documents differ in number only where the model decides).
func compareBody(t *testing.T, where, path string, want, got any, accept map[string]string) {
	t.Helper()
	if _, ok := accept[path]; ok {
		return
	}
	name := path[strings.LastIndex(path, ".")+1:]
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !assert.True(t, ok, "%s: %s is an object in Azure's answer, %T here", where, path, got) {
			return
		}
		assert.Equal(t, keys(w, path, accept), keys(g, path, accept), "%s: members of %q", where, path)
		for k, wv := range w {
			if gv, ok := g[k]; ok {
				compareBody(t, where, path+"."+k, wv, gv, accept)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !assert.True(t, ok, "%s: %s is an array in Azure's answer, %T here", where, path, got) {
			return
		}
		if len(w) == 0 {
			assert.Empty(t, g, "%s: %s is empty in Azure's answer", where, path)
			return
		}
		if assert.NotEmpty(t, g, "%s: %s is not empty in Azure's answer", where, path) {
			compareBody(t, where, path+"[0]", w[0], g[0], accept)
		}
	case string:
		g, ok := got.(string)
		if !assert.True(t, ok, "%s: %s is a string in Azure's answer", where, path) {
			return
		}
		switch {
		case strings.HasSuffix(name, "DateTime"):
			assert.Equal(t, dateClass(w), dateClass(g), "%s: precision of %s", where, path)
		case compareStrings[name]:
			assert.Equal(t, w, g, "%s: %s", where, path)
		}
	case float64:
		if compareNumbers[name] {
			assert.Equal(t, w, got, "%s: %s", where, path)
		}
	}
}

// keys lists an object's members, leaving out the accepted paths.
func keys(m map[string]any, path string, accept map[string]string) []string {
	var out []string
	for k := range m {
		if _, ok := accept[path+"."+k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func loadRecording(t *testing.T, name string) recorded.Conversation {
	t.Helper()
	c, err := recorded.Load(name)
	require.NoError(t, err)
	return c
}

// seedRecordedNER seeds a project whose model finds, in text, the
// entities Azure found in it.
func seedRecordedNER(t *testing.T, rg *region, project, deployment, text string, entities []api.Entity) {
	t.Helper()
	doc := SeedDocument{Name: "01.txt", Text: text}
	for _, e := range entities {
		doc.Labels = append(doc.Labels, api.Label{Category: e.Category, Offset: e.Offset, Length: e.Length})
	}
	if len(doc.Labels) == 0 {
		doc = SeedDocument{Name: "01.txt", Text: "Contoso", Labels: []api.Label{{Category: "Organization", Offset: 0, Length: 7}}}
	}
	require.NoError(t, rg.Seed(SeedProject{Name: project, Documents: []SeedDocument{doc}, ModelLabel: "model5", DeploymentName: deployment}))
}

// recordedEntities reads the entities Azure found in document doc of the
// last entry's first task.
func recordedEntities(t *testing.T, c recorded.Conversation, doc int) []api.Entity {
	t.Helper()
	var st api.JobState
	require.NoError(t, json.Unmarshal(c.Entries[len(c.Entries)-1].ResponseBodyBytes(), &st))
	var res api.CustomEntitiesResult
	require.NoError(t, json.Unmarshal(st.Tasks.Items[0].Results, &res))
	return res.Documents[doc].Entities
}

func TestEmulatorAnswersCustomNERAsRecorded(t *testing.T) {
	t.Run("2023-04-01", func(t *testing.T) {
		c := loadRecording(t, "runtime-custom-ner-2023-04-01")
		rg := newRegion(t, Options{JobDuration: 3 * time.Second})
		var sub api.SubmitRequest
		require.NoError(t, json.Unmarshal(c.Entries[0].RequestBodyBytes(), &sub))
		docs := sub.AnalysisInput.Documents
		// One training document holding both texts, labelled where Azure
		// found entities, so the emulator's model finds entities in both.
		text := docs[0].Text + "\n" + docs[1].Text
		ents := recordedEntities(t, c, 0)
		for _, e := range recordedEntities(t, c, 1) {
			e.Offset += len(docs[0].Text) + 1
			ents = append(ents, e)
		}
		seedRecordedNER(t, rg, "Sanitized", "Sanitized", text, ents)
		replay(t, rg, c, map[int]replayStep{2: {advance: 3 * time.Second}})
	})
	t.Run("2025-11-15-preview", func(t *testing.T) {
		c := loadRecording(t, "runtime-custom-ner-2025-11-15-preview")
		rg := newRegion(t, Options{JobDuration: 3 * time.Second})
		seedRecordedNER(t, rg, "Example-ner-project", "TestDeployment", "", nil)
		replay(t, rg, c, map[int]replayStep{2: {advance: 3 * time.Second}})
	})
	t.Run("//language, 2025-11-15-preview", func(t *testing.T) {
		c := loadRecording(t, "runtime-custom-ner-doubleslash-2025-11-15-preview")
		rg := newRegion(t, Options{JobDuration: 3 * time.Second})
		seedRecordedNER(t, rg, "Example-ner-project", "TestDeployment", "", nil)
		replay(t, rg, c, map[int]replayStep{2: {advance: 3 * time.Second}})
	})
}

func TestEmulatorAnswersPerDocumentErrorAsRecorded(t *testing.T) {
	c := loadRecording(t, "runtime-custom-partial-error-2022-10-01-preview")
	rg := newRegion(t, Options{})
	var sub map[string]any
	require.NoError(t, json.Unmarshal(c.Entries[0].RequestBodyBytes(), &sub))
	gao := sub["analysisInput"].(map[string]any)["documents"].([]any)[0].(map[string]any)["text"].(string)
	var want api.JobState
	require.NoError(t, json.Unmarshal(c.Entries[1].ResponseBodyBytes(), &want))
	var res api.CustomEntitiesResult
	require.NoError(t, json.Unmarshal(want.Tasks.Items[2].Results, &res))
	seedRecordedNER(t, rg, "custom_entities_project_name", "custom_entities_project_name", gao, res.Documents[0].Entities)

	// The emulator serves no custom classification: the request keeps
	// its entity recognition task (taskName "2"), and Azure's answer is
	// compared on that task alone.
	sub["tasks"] = sub["tasks"].([]any)[2:]
	oneTask := func(want map[string]any) {
		tasks := want["tasks"].(map[string]any)
		tasks["items"] = tasks["items"].([]any)[2:]
		tasks["completed"], tasks["total"] = 1.0, 1.0
	}
	replay(t, rg, c, map[int]replayStep{0: {body: sub}, 1: {edit: oneTask}})
}

func TestEmulatorPagesAsRecorded(t *testing.T) {
	c := loadRecording(t, "runtime-paging-2023-04-01")
	rg := newRegion(t, Options{JobDuration: 3 * time.Second})
	// Azure finished the second task (key phrases) first; the emulator
	// finishes tasks in request order, so the task finished while the job
	// runs is the first (entities). Which task finishes first is Azure's
	// choice: the item's kind and results are not compared there, its
	// members, dates and counts and the page's nextLink are.
	firstFinished := map[string]string{
		".tasks.items[0].kind":    "Azure finished another task first",
		".tasks.items[0].results": "the results of that other kind",
	}
	replay(t, rg, c, map[int]replayStep{
		2: {advance: time.Second},                        // running, nothing finished
		3: {advance: time.Second, accept: firstFinished}, // running, one task finished, nextLink
		4: {advance: time.Second},                        // succeeded
		5: {},                                            // the client's own top=10 page; 6 and 7 follow its nextLinks
	})
}

func TestEmulatorCancelsAsRecorded(t *testing.T) {
	c := loadRecording(t, "runtime-cancel-2023-04-01")
	rg := newRegion(t, Options{JobDuration: 4 * time.Second})
	// The emulator has no Healthcare model: key phrases take the first
	// task's place, and the finished task's kind and results are not
	// compared (the recording's Healthcare results were trimmed).
	var sub map[string]any
	require.NoError(t, json.Unmarshal(c.Entries[0].RequestBodyBytes(), &sub))
	tasks := sub["tasks"].([]any)
	tasks[0] = map[string]any{"kind": "KeyPhraseExtraction", "parameters": map[string]any{}}
	sub["tasks"] = tasks
	// A 4-task job running from 4/3 s to 4 s finishes its first task at
	// 2 s: the cancel at 2.5 s stops the other three.
	replay(t, rg, c, map[int]replayStep{
		0: {body: sub},
		1: {advance: 1500 * time.Millisecond},
		2: {advance: time.Second},
		3: {advance: 2 * time.Second, accept: map[string]string{
			".tasks.items[0].kind":    "KeyPhraseExtraction in the Healthcare task's place",
			".tasks.items[0].results": "trimmed in the recording",
		}},
	})
}

func TestEmulatorRefusesAsRecorded(t *testing.T) {
	t.Run("401", func(t *testing.T) {
		rg := newRegion(t, Options{})
		wrong := "not-the-key"
		replay(t, rg, loadRecording(t, "runtime-401-2022-10-01-preview"), map[int]replayStep{0: {key: &wrong}})
	})
	t.Run("400 modelVersion", func(t *testing.T) {
		rg := newRegion(t, Options{})
		// Azure named one bad task (PII, the third); the emulator names the
		// first. The messages name the task, so they are not compared.
		replay(t, rg, loadRecording(t, "runtime-400-model-version-2022-10-01-preview"), nil)
		var sub api.SubmitRequest
		require.NoError(t, json.Unmarshal([]byte(`{"analysisInput":{"documents":[{"id":"1","text":"x"}]},
			"tasks":[{"kind":"EntityRecognition","parameters":{"modelVersion":"InvalidVersion"}}]}`), &sub))
		r := rg.do(http.MethodPost, q(api.JobsPath), sub)
		require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
		e := r.apiError(t)
		require.NotNil(t, e.InnerError)
		assert.Equal(t, api.InnerInvalidParameterValue, e.InnerError.Code)
		require.Len(t, e.Details, 1)
		assert.Contains(t, e.Details[0].InnerError.Message, "'InvalidVersion'")
		for _, ok := range []string{"latest", "2023-09-01"} {
			sub.Tasks[0].Parameters.Extra["modelVersion"] = json.RawMessage(`"` + ok + `"`)
			assert.Equal(t, http.StatusAccepted, rg.do(http.MethodPost, q(api.JobsPath), sub).status, ok)
		}
	})
}

// seedRecordedProject seeds the authoring recordings' project: a custom
// NER project under the recorded name (the emulator serves custom NER
// projects only; the recordings' project is a single-label
// classification one, so projectKind is the one value compared apart).
func seedRecordedProject(t *testing.T, rg *region) {
	t.Helper()
	require.NoError(t, rg.Seed(SeedProject{Name: "single-class-project", Container: "single-class-example",
		Documents:  []SeedDocument{{Name: "01.txt", Text: "Contoso lends.", Labels: []api.Label{{Category: "LenderName", Offset: 0, Length: 7}}}},
		ModelLabel: "model5", DeploymentName: "other"}))
}

var classificationKind = map[string]string{".projectKind": "the emulator serves custom NER projects only"}

func TestEmulatorAnswersAuthoringAsRecorded(t *testing.T) {
	opts := Options{AuthoringJobDuration: 3 * time.Second}
	t.Run("export", func(t *testing.T) {
		rg := newRegion(t, opts)
		seedRecordedProject(t, rg)
		replay(t, rg, loadRecording(t, "authoring-export-2025-05-15-preview"), map[int]replayStep{2: {advance: 3 * time.Second}})
	})
	t.Run("export //language", func(t *testing.T) {
		rg := newRegion(t, opts)
		seedRecordedProject(t, rg)
		replay(t, rg, loadRecording(t, "authoring-export-doubleslash-2025-05-15-preview"), map[int]replayStep{2: {advance: 3 * time.Second}})
	})
	t.Run("import", func(t *testing.T) {
		rg := newRegion(t, opts)
		// The recorded body is a classification project; the emulator
		// imports the same project as custom NER.
		body := api.ExportedProject{ProjectFileVersion: "2022-05-01", StringIndexType: api.StringIndexUTF16,
			Metadata: api.ProjectMetadata{ProjectKind: api.ProjectKindCustomNER, StorageInputContainerName: "single-class-example",
				ProjectName: "MyImportTextProject0902", Language: "en"}}
		replay(t, rg, loadRecording(t, "authoring-import-classification-2025-05-15-preview"), map[int]replayStep{
			0: {body: body}, 1: {advance: time.Second}, 2: {advance: 2 * time.Second}})
	})
	t.Run("train", func(t *testing.T) {
		rg := newRegion(t, opts)
		seedRecordedProject(t, rg)
		// Azure's running poll caught evaluation running: 2.5 s into the
		// emulator's 3 s job.
		replay(t, rg, loadRecording(t, "authoring-train-2025-05-15-preview"), map[int]replayStep{
			2: {advance: 2500 * time.Millisecond, accept: map[string]string{
				".result.evaluationStatus.percentComplete": "how far evaluation got is the clock's",
			}},
			3: {advance: time.Second}})
	})
	t.Run("deploy", func(t *testing.T) {
		rg := newRegion(t, opts)
		seedRecordedProject(t, rg)
		replay(t, rg, loadRecording(t, "authoring-deploy-2025-05-15-preview"), map[int]replayStep{
			1: {advance: time.Second}, 2: {advance: 2 * time.Second}})
	})
	t.Run("project GET", func(t *testing.T) {
		rg := newRegion(t, opts)
		seedRecordedProject(t, rg)
		// Azure's GET of a trained, deployed project (2025-05-15-preview)
		// has neither lastTrainedDateTime nor lastDeployedDateTime, which
		// the 2023-04-01 spec defines and the replication worker reads;
		// the emulator keeps them, and settings (the spec's) too.
		replay(t, rg, loadRecording(t, "authoring-project-get-2025-05-15-preview"), map[int]replayStep{0: {
			edit: func(want map[string]any) {
				want["lastTrainedDateTime"], want["lastDeployedDateTime"], want["settings"] = "2026-02-02T23:14:34Z", "2026-02-02T23:14:34Z", map[string]any{}
				delete(want, "description") // Seed sets none
			},
			accept: map[string]string{".projectKind": classificationKind[".projectKind"],
				// Whole seconds in Azure's answer; the emulator keeps the
				// clock's precision (see project.body) until the
				// replication worker judges drift by content, not date.
				".lastModifiedDateTime": "sub-second precision kept for the drift check"},
		}})
	})
}

// TestRecordedDatesKeepTheirPrecision checks the date rule the replay
// relies on against Azure's own answers, so a recording that broke it
// would be noticed rather than silently compared.
func TestRecordedDatesKeepTheirPrecision(t *testing.T) {
	for _, name := range recorded.Names() {
		c := loadRecording(t, name)
		for i, e := range c.Entries {
			var body any
			if !e.HasResponseBody() {
				continue
			}
			require.NoError(t, json.Unmarshal(e.ResponseBodyBytes(), &body))
			walkDates(body, "", func(path, v string) {
				want := "whole seconds"
				if ticksMember(path) {
					want = "7 fractional digits"
				}
				assert.Equal(t, want, dateClass(v), "%s entry %d: %s", name, i, path)
			})
		}
	}
}

// ticksMember reports whether Azure writes the date at path with seven
// fractional digits: task and training times, and the training time of a
// deployment's model (the only top-level lastTrainedDateTime recorded).
func ticksMember(path string) bool {
	return strings.Contains(path, ".items[") || strings.Contains(path, ".result.") || path == ".lastTrainedDateTime"
}

func walkDates(v any, path string, f func(path, v string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, vv := range x {
			if s, ok := vv.(string); ok && strings.HasSuffix(k, "DateTime") {
				f(path+"."+k, s)
				continue
			}
			walkDates(vv, path+"."+k, f)
		}
	case []any:
		for i, vv := range x {
			walkDates(vv, fmt.Sprintf("%s[%d]", path, i), f)
		}
	}
}

// TestEmulatorJobDateNamePerAPIVersion: the job's date goes under the one
// name its api-version defines: lastUpdateDateTime on 2022-10-01-preview
// (recorded), lastUpdatedDateTime on the recorded 2022-05-01, 2023-04-01
// and 2025-11-15-preview and on 2025-05-15-preview, whose spec requires it
// (no runtime recording exists for it).
func TestEmulatorJobDateNamePerAPIVersion(t *testing.T) {
	rg := newRegion(t, Options{})
	require.NoError(t, rg.Seed(demoProject()))
	for v, name := range map[string]string{
		"2022-05-01": "lastUpdatedDateTime", "2022-10-01-preview": "lastUpdateDateTime", "2023-04-01": "lastUpdatedDateTime",
		"2025-05-15-preview": "lastUpdatedDateTime", "2025-11-15-preview": "lastUpdatedDateTime",
	} {
		r := rg.do(http.MethodPost, api.JobsPath+"?api-version="+v, submitBody("demo", "production", "", "Anna"))
		require.Equal(t, http.StatusAccepted, r.status, v)
		r = rg.do(http.MethodGet, r.header.Get(api.OperationLocationHeader), nil)
		var job map[string]any
		r.decode(t, &job)
		other := map[string]string{"lastUpdatedDateTime": "lastUpdateDateTime", "lastUpdateDateTime": "lastUpdatedDateTime"}[name]
		assert.Contains(t, job, name, v)
		assert.NotContains(t, job, other, v)
	}
}
