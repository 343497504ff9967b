package emulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
)

// everyRoute is one example request per route, for checks that hold for
// all of them.
func everyRoute() []struct{ name, method, path string } {
	p := api.ProjectPath("demo")
	jid := newUUID()
	aid := authoringJobID(t0)
	return []struct{ name, method, path string }{
		{"submit", http.MethodPost, api.JobsPath},
		{"job", http.MethodGet, api.JobPath(jid)},
		{"cancel", http.MethodPost, api.JobPath(jid) + api.CancelSuffix},
		{"analyze", http.MethodPost, api.SyncAnalyzePath},
		{"listProjects", http.MethodGet, api.AuthoringProjectsPath},
		{"trainingConfigVersions", http.MethodGet, api.AuthoringProjectsPath + "/global/training-config-versions"},
		{"deletionJob", http.MethodGet, api.AuthoringProjectsPath + "/global/deletion-jobs/" + aid},
		{"getProject", http.MethodGet, p},
		{"patchProject", http.MethodPatch, p},
		{"deleteProject", http.MethodDelete, p},
		{"export", http.MethodPost, p + "/:export"},
		{"exportJob", http.MethodGet, p + "/export/jobs/" + aid},
		{"exportResult", http.MethodGet, p + "/export/jobs/" + aid + "/result"},
		{"import", http.MethodPost, p + "/:import"},
		{"importJob", http.MethodGet, p + "/import/jobs/" + aid},
		{"train", http.MethodPost, p + "/:train"},
		{"listTrainJobs", http.MethodGet, p + "/train/jobs"},
		{"trainJob", http.MethodGet, p + "/train/jobs/" + aid},
		{"cancelTrainJob", http.MethodPost, p + "/train/jobs/" + aid + "/:cancel"},
		{"listDeployments", http.MethodGet, p + "/deployments"},
		{"swap", http.MethodPost, p + "/deployments/:swap"},
		{"swapJob", http.MethodGet, p + "/deployments/swap/jobs/" + aid},
		{"getDeployment", http.MethodGet, api.DeploymentPath("demo", "production")},
		{"deploy", http.MethodPut, api.DeploymentPath("demo", "production")},
		{"deleteDeployment", http.MethodDelete, api.DeploymentPath("demo", "production")},
		{"deployJob", http.MethodGet, api.DeploymentPath("demo", "production") + "/jobs/" + aid},
		{"listModels", http.MethodGet, p + "/models"},
		{"getModel", http.MethodGet, p + "/models/model"},
		{"deleteModel", http.MethodDelete, p + "/models/model"},
		{"evaluationSummary", http.MethodGet, p + "/models/model/evaluation/summary-result"},
		{"evaluationResult", http.MethodGet, p + "/models/model/evaluation/result"},
		{"loadSnapshot", http.MethodPost, p + "/models/model/:load-snapshot"},
		{"loadSnapshotJob", http.MethodGet, p + "/models/model/load-snapshot/jobs/" + aid},
	}
}

func TestEveryRouteChecksKeyAndIsCounted(t *testing.T) {
	rg := newRegion(t, Options{})
	routes := everyRoute()
	names := map[string]bool{}
	for _, rt := range routes {
		names[rt.name] = true
		r := rg.doKey(rt.method, q(rt.path), "bad", `{}`)
		assert.Equal(t, http.StatusUnauthorized, r.status, rt.name)
		assert.Equal(t, "401", r.apiError(t).Code, rt.name)
		assert.Equal(t, 1, rg.Calls(rt.name), "%s counted before the key check", rt.name)
	}
	assert.Zero(t, rg.Calls(routeUnknown))
	for _, n := range rg.RouteNames() {
		assert.True(t, names[n] || n == routeUnknown, "route %s has no example", n)
	}
}

func TestEveryRouteNeedsAPIVersion(t *testing.T) {
	rg := newRegion(t, Options{})
	for _, rt := range everyRoute() {
		r := rg.do(rt.method, rt.path, `{}`)
		assert.Equal(t, http.StatusBadRequest, r.status, rt.name)
	}
}

func TestNotFound(t *testing.T) {
	rg := newRegion(t, Options{})
	require.NoError(t, rg.Seed(SeedProject{Name: "other"}))
	for _, rt := range everyRoute() {
		if rt.name == "submit" || rt.name == "analyze" || rt.name == "listProjects" || rt.name == "trainingConfigVersions" || rt.name == "patchProject" || rt.name == "import" {
			continue
		}
		body := `{}`
		switch rt.name {
		case "train":
			body = `{"modelLabel":"m","trainingConfigVersion":"latest"}`
		case "deploy":
			body = `{"trainedModelLabel":"model"}`
		case "swap":
			body = `{"firstDeploymentName":"a","secondDeploymentName":"b"}`
		}
		r := rg.do(rt.method, q(rt.path, "stringIndexType", "Utf16CodeUnit"), body)
		assert.Equal(t, http.StatusNotFound, r.status, "%s: %s", rt.name, r.body)
		want := api.CodeNotFound
		if strings.Contains(rt.path, "/projects/demo") && !strings.Contains(rt.path, "/jobs/") {
			want = api.CodeProjectNotFound
		}
		assert.Equal(t, want, r.apiError(t).Code, rt.name)
	}

	// Within an existing project: unknown deployments and models are NotFound.
	require.NoError(t, rg.Seed(demoProject()))
	for _, c := range []struct{ method, path, body string }{
		{http.MethodGet, api.DeploymentPath("demo", "nope"), ""},
		{http.MethodDelete, api.DeploymentPath("demo", "nope"), ""},
		{http.MethodPut, api.DeploymentPath("demo", "nope"), `{"trainedModelLabel":"nope"}`},
		{http.MethodPost, api.ProjectPath("demo") + "/deployments/:swap", `{"firstDeploymentName":"production","secondDeploymentName":"nope"}`},
		{http.MethodGet, api.ProjectPath("demo") + "/models/nope", ""},
		{http.MethodDelete, api.ProjectPath("demo") + "/models/nope", ""},
		{http.MethodGet, api.ProjectPath("demo") + "/models/nope/evaluation/summary-result", ""},
	} {
		r := rg.do(c.method, q(c.path), c.body)
		assert.Equal(t, http.StatusNotFound, r.status, c.path)
		assert.Equal(t, api.CodeNotFound, r.apiError(t).Code, c.path)
	}

	// A job id is found only under the URL it was given.
	loc := rg.accepted(rg.do(http.MethodPost, q(api.ProjectPath("demo")+"/:export", "stringIndexType", "Utf16CodeUnit"), nil))
	assert.Equal(t, http.StatusOK, rg.do(http.MethodGet, loc, nil).status)
	for _, wrong := range []string{
		strings.Replace(loc, "/export/jobs/", "/import/jobs/", 1),
		strings.Replace(loc, "/projects/demo/", "/projects/other/", 1),
	} {
		assert.Equal(t, http.StatusNotFound, rg.do(http.MethodGet, wrong, nil).status, wrong)
	}
}

func TestMalformedBodies(t *testing.T) {
	rg := newRegion(t, Options{})
	require.NoError(t, rg.Seed(demoProject()))
	p := api.ProjectPath("demo")
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, api.JobsPath},
		{http.MethodPost, api.SyncAnalyzePath},
		{http.MethodPatch, p},
		{http.MethodPost, p + "/:import"},
		{http.MethodPost, p + "/:train"},
		{http.MethodPut, api.DeploymentPath("demo", "production")},
		{http.MethodPost, p + "/deployments/:swap"},
	} {
		for _, body := range []string{`{"a":`, `[1,2]`, ``} {
			r := rg.do(c.method, q(c.path), body)
			require.Equal(t, http.StatusBadRequest, r.status, "%s %s %q: %s", c.method, c.path, body, r.body)
			e := r.apiError(t)
			assert.Equal(t, api.CodeInvalidRequest, e.Code, c.path)
			require.NotNil(t, e.InnerError, c.path)
			assert.Equal(t, api.InnerInvalidRequestBodyFormat, e.InnerError.Code, c.path)
		}
	}
}

func TestMissingFields(t *testing.T) {
	rg := newRegion(t, Options{})
	require.NoError(t, rg.Seed(demoProject()))
	p := api.ProjectPath("demo")
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPost, p + "/:train", `{"trainingConfigVersion":"latest"}`},
		{http.MethodPost, p + "/:train", `{"modelLabel":"m"}`},
		{http.MethodPost, p + "/:train", `{"modelLabel":"m","trainingConfigVersion":"1999-01-01"}`},
		{http.MethodPost, p + "/:train", `{"modelLabel":"bad name","trainingConfigVersion":"latest"}`},
		{http.MethodPost, p + "/:train", `{"modelLabel":"m","trainingConfigVersion":"latest","evaluationOptions":{"kind":"percentage","trainingSplitPercentage":80,"testingSplitPercentage":30}}`},
		{http.MethodPost, p + "/:train", `{"modelLabel":"m","trainingConfigVersion":"latest","evaluationOptions":{"kind":"random"}}`},
		{http.MethodPut, api.DeploymentPath("demo", "x"), `{}`},
		{http.MethodPost, p + "/deployments/:swap", `{"firstDeploymentName":"production"}`},
		{http.MethodPost, p + "/deployments/:swap", `{"secondDeploymentName":"production"}`},
		{http.MethodPost, p + "/:export", ``},
		{http.MethodPatch, api.ProjectPath("new"), `{"language":"en","storageInputContainerName":"c"}`},
		{http.MethodPatch, api.ProjectPath("new"), `{"projectKind":"CustomEntityRecognition","language":"en"}`},
		{http.MethodPatch, api.ProjectPath("new"), `{"projectKind":"CustomEntityRecognition","storageInputContainerName":"c"}`},
		{http.MethodPatch, api.ProjectPath("new"), `{"projectKind":"CustomSingleLabelClassification","storageInputContainerName":"c","language":"en"}`},
		{http.MethodPatch, api.ProjectPath("new"), `{"projectName":"other","projectKind":"CustomEntityRecognition","storageInputContainerName":"c","language":"en"}`},
		{http.MethodGet, api.AuthoringProjectsPath + "/global/training-config-versions", ``},
	} {
		r := rg.do(c.method, q(c.path), c.body)
		require.Equal(t, http.StatusBadRequest, r.status, "%s %s: %s", c.path, c.body, r.body)
		assert.Equal(t, api.CodeInvalidArgument, r.apiError(t).Code, "%s %s", c.path, c.body)
	}
	r := rg.do(http.MethodPost, q(p+"/:export", "stringIndexType", "UnicodeCodePoint"), nil)
	assert.Equal(t, http.StatusBadRequest, r.status)
}

func TestImportValidation(t *testing.T) {
	rg := newRegion(t, Options{})
	p := api.ProjectPath("people")
	edit := func(f func(m map[string]any)) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(importBody), &m)
		f(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	meta := func(m map[string]any) map[string]any { return m["metadata"].(map[string]any) }
	for name, body := range map[string]string{
		"no projectFileVersion": edit(func(m map[string]any) { delete(m, "projectFileVersion") }),
		"no stringIndexType":    edit(func(m map[string]any) { delete(m, "stringIndexType") }),
		"code points":           edit(func(m map[string]any) { m["stringIndexType"] = "UnicodeCodePoint" }),
		"no container":          edit(func(m map[string]any) { delete(meta(m), "storageInputContainerName") }),
		"no language":           edit(func(m map[string]any) { delete(meta(m), "language") }),
		"bad language":          edit(func(m map[string]any) { meta(m)["language"] = "english please" }),
		"no kind":               edit(func(m map[string]any) { delete(meta(m), "projectKind") }),
		"no name":               edit(func(m map[string]any) { delete(meta(m), "projectName") }),
		"other name":            edit(func(m map[string]any) { meta(m)["projectName"] = "other" }),
	} {
		r := rg.do(http.MethodPost, q(p+"/:import"), body)
		assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", name, r.body)
		assert.Equal(t, api.CodeInvalidArgument, r.apiError(t).Code, name)
	}
	// A documented import failure: multilingual as a string.
	r := rg.do(http.MethodPost, q(p+"/:import"), edit(func(m map[string]any) { meta(m)["multilingual"] = "false" }))
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, http.StatusBadRequest, rg.do(http.MethodPost, q(api.ProjectPath("bad name!")+"/:import"), importBody).status)
}

func TestExportKeepsUnknownFields(t *testing.T) {
	rg := newRegion(t, Options{})
	rg.succeed(http.MethodPost, api.ProjectPath("people")+"/:import", importBody)
	out := rg.export("people")
	var got, want map[string]any
	require.NoError(t, json.Unmarshal(out, &got))
	require.NoError(t, json.Unmarshal([]byte(importBody), &want))
	want["projectFileVersion"] = v2 // the export's api-version
	assert.Equal(t, want, got)

	// The project body carries what it knows plus unknown metadata.
	r := rg.do(http.MethodGet, q(api.ProjectPath("people")), nil)
	assert.Contains(t, string(r.body), `"futureMeta":"m"`)
}

func TestPatchProject(t *testing.T) {
	rg := newRegion(t, Options{})
	p := api.ProjectPath("fresh")
	r := rg.do(http.MethodPatch, q(p), `{"projectKind":"CustomEntityRecognition","storageInputContainerName":"c","language":"en","description":"one"}`)
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	var proj api.Project
	r.decode(t, &proj)
	assert.Equal(t, "fresh", proj.ProjectName)
	assert.Equal(t, t0, proj.CreatedDateTime)
	assert.Equal(t, t0, proj.LastModifiedDateTime)

	rg.clock.Advance(time.Minute)
	r = rg.do(http.MethodPatch, q(p), `{"description":null,"language":"de"}`)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	proj = rg.getProject("fresh")
	assert.Equal(t, "de", proj.Language)
	assert.Empty(t, proj.Description)
	assert.Equal(t, t0, proj.CreatedDateTime)
	assert.Equal(t, t0.Add(time.Minute), proj.LastModifiedDateTime, "PATCH bumps lastModifiedDateTime")

	// An export of a patched project (no assets yet) imports elsewhere.
	var file api.ExportedProject
	require.NoError(t, json.Unmarshal(rg.export("fresh"), &file))
	assert.Equal(t, "c", file.Metadata.StorageInputContainerName)
}

func TestImportReplacesAndBumpsLastModified(t *testing.T) {
	rg := newRegion(t, Options{})
	require.NoError(t, rg.Seed(demoProject()))
	before := rg.getProject("demo")
	file := rg.export("demo")
	rg.clock.Advance(time.Hour)
	body := strings.Replace(string(file), `"storageInputContainerName":"docs"`, `"storageInputContainerName":"docs2"`, 1)
	require.NotEqual(t, string(file), body)
	rg.succeed(http.MethodPost, api.ProjectPath("demo")+"/:import", body)
	after := rg.getProject("demo")
	assert.Equal(t, "docs2", after.StorageInputContainerName)
	assert.Equal(t, before.CreatedDateTime, after.CreatedDateTime)
	assert.Equal(t, t0.Add(time.Hour), after.LastModifiedDateTime)
	// Models and deployments survive an import.
	assert.Equal(t, http.StatusOK, rg.do(http.MethodGet, q(api.DeploymentPath("demo", "production")), nil).status)

	// Training now fails: the new container lacks the documents.
	j := rg.finish(rg.accepted(rg.do(http.MethodPost, q(api.ProjectPath("demo")+"/:train"), api.TrainRequest{ModelLabel: "m2", TrainingConfigVersion: "2022-05-01"})))
	assert.Equal(t, api.StatusFailed, j.Status)
	require.Len(t, j.Errors, 1)
	assert.Equal(t, api.CodeInvalidRequest, j.Errors[0].Code)
	assert.Contains(t, j.Errors[0].Message, "a.txt")
	assert.Equal(t, http.StatusNotFound, rg.do(http.MethodGet, q(api.ProjectPath("demo")+"/models/m2"), nil).status)
	assert.Equal(t, after.LastTrainedDateTime, rg.getProject("demo").LastTrainedDateTime, "a failed training does not move lastTrainedDateTime")
}

func TestTrainingFailsOnBadLabel(t *testing.T) {
	rg := newRegion(t, Options{AuthoringJobDuration: time.Second})
	rg.PutDocument("c1", "1.txt", "Ann")
	rg.succeed(http.MethodPost, api.ProjectPath("people")+"/:import", importBody)
	j := rg.finish(rg.accepted(rg.do(http.MethodPost, q(api.ProjectPath("people")+"/:train"), api.TrainRequest{ModelLabel: "m", TrainingConfigVersion: "latest"})))
	assert.Equal(t, api.StatusFailed, j.Status)
	require.Len(t, j.Errors, 1)
	assert.Equal(t, api.StatusFailed, j.Result.TrainingStatus.Status)
}

func TestCancelTraining(t *testing.T) {
	rg := newRegion(t, Options{AuthoringJobDuration: 3 * time.Second})
	require.NoError(t, rg.Seed(demoProject()))
	p := api.ProjectPath("demo")
	loc := rg.accepted(rg.do(http.MethodPost, q(p+"/:train"), api.TrainRequest{ModelLabel: "m2", TrainingConfigVersion: "latest"}))
	j := rg.authJob(loc)
	rg.clock.Advance(time.Second)
	r := rg.do(http.MethodPost, q(p+"/train/jobs/"+j.JobID+"/:cancel"), nil)
	assert.Equal(t, loc, rg.accepted(r))
	assert.Equal(t, api.StatusCancelling, rg.authJob(loc).Status)
	rg.clock.Advance(time.Second)
	assert.Equal(t, api.StatusCancelled, rg.authJob(loc).Status)
	rg.clock.Advance(time.Hour)
	assert.Equal(t, api.StatusCancelled, rg.authJob(loc).Status)
	assert.Equal(t, http.StatusNotFound, rg.do(http.MethodGet, q(p+"/models/m2"), nil).status, "a cancelled training adds no model")

	// Listing training jobs.
	rg.succeed(http.MethodPost, p+"/:train", api.TrainRequest{ModelLabel: "m3", TrainingConfigVersion: "latest"})
	r = rg.do(http.MethodGet, q(p+"/train/jobs"), nil)
	require.Equal(t, http.StatusOK, r.status)
	var list struct {
		Value    []api.AuthoringJob `json:"value"`
		NextLink *string            `json:"nextLink"`
	}
	r.decode(t, &list)
	require.Len(t, list.Value, 2)
	assert.Equal(t, j.JobID, list.Value[0].JobID)
	assert.Equal(t, api.StatusCancelled, list.Value[0].Status)
	assert.Equal(t, api.StatusSucceeded, list.Value[1].Status)
	assert.Nil(t, list.NextLink)
	assert.Contains(t, string(r.body), `"nextLink":null`)

	// Jobs expire after 7 days.
	rg.clock.Advance(7 * 24 * time.Hour)
	assert.Equal(t, http.StatusNotFound, rg.do(http.MethodGet, loc, nil).status)
}

func TestModelsDeploymentsSwapDelete(t *testing.T) {
	rg := newRegion(t, Options{AuthoringJobDuration: time.Second})
	require.NoError(t, rg.Seed(demoProject()))
	p := api.ProjectPath("demo")
	rg.succeed(http.MethodPost, p+"/:train", api.TrainRequest{ModelLabel: "m2", TrainingConfigVersion: "latest"})
	rg.succeed(http.MethodPut, api.DeploymentPath("demo", "staging"), api.DeployRequest{TrainedModelLabel: "m2"})

	var models struct{ Value []api.TrainedModel }
	rg.do(http.MethodGet, q(p+"/models"), nil).decode(t, &models)
	require.Len(t, models.Value, 2)
	assert.Equal(t, "m2", models.Value[0].Label)
	assert.Equal(t, "model", models.Value[1].Label)

	var deps struct{ Value []api.Deployment }
	rg.do(http.MethodGet, q(p+"/deployments"), nil).decode(t, &deps)
	require.Len(t, deps.Value, 2)
	assert.Equal(t, "production", deps.Value[0].DeploymentName)
	assert.Equal(t, models.Value[1].ModelID, deps.Value[0].ModelID)
	assert.Equal(t, models.Value[0].ModelID, deps.Value[1].ModelID)

	loc := rg.accepted(rg.do(http.MethodPost, q(p+"/deployments/:swap"), map[string]string{"firstDeploymentName": "production", "secondDeploymentName": "staging"}))
	assert.Contains(t, loc, p+"/deployments/swap/jobs/")
	require.Equal(t, api.StatusSucceeded, rg.finish(loc).Status)
	var d api.Deployment
	rg.do(http.MethodGet, q(api.DeploymentPath("demo", "production")), nil).decode(t, &d)
	assert.Equal(t, models.Value[0].ModelID, d.ModelID)

	r := rg.do(http.MethodGet, q(p+"/models/m2/evaluation/summary-result"), nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, string(r.body), `"customEntityRecognitionEvaluation"`)
	r = rg.do(http.MethodGet, q(p+"/models/m2/evaluation/result"), nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"value":[],"nextLink":null}`, string(r.body))

	loc = rg.accepted(rg.do(http.MethodPost, q(p+"/models/m2/:load-snapshot"), nil))
	assert.Contains(t, loc, p+"/models/m2/load-snapshot/jobs/")
	require.Equal(t, api.StatusSucceeded, rg.finish(loc).Status)
	var m api.TrainedModel
	rg.do(http.MethodGet, q(p+"/models/m2"), nil).decode(t, &m)
	require.NotNil(t, m.HasSnapshot)
	assert.True(t, *m.HasSnapshot)

	loc = rg.accepted(rg.do(http.MethodDelete, q(api.DeploymentPath("demo", "staging")), nil))
	assert.Contains(t, loc, api.DeploymentPath("demo", "staging")+"/jobs/")
	require.Equal(t, api.StatusSucceeded, rg.finish(loc).Status)
	assert.Equal(t, http.StatusNotFound, rg.do(http.MethodGet, q(api.DeploymentPath("demo", "staging")), nil).status)

	r = rg.do(http.MethodDelete, q(p+"/models/m2"), nil)
	assert.Equal(t, http.StatusNoContent, r.status)
	assert.Empty(t, r.body)
	assert.Equal(t, http.StatusNotFound, rg.do(http.MethodGet, q(p+"/models/m2"), nil).status)

	// Deploying a model that does not exist is a 404, not a failed job.
	r = rg.do(http.MethodPut, q(api.DeploymentPath("demo", "x")), api.DeployRequest{TrainedModelLabel: "m2"})
	assert.Equal(t, http.StatusNotFound, r.status)
}

func TestDeleteProject(t *testing.T) {
	rg := newRegion(t, Options{AuthoringJobDuration: time.Second})
	require.NoError(t, rg.Seed(demoProject()))
	loc := rg.accepted(rg.do(http.MethodDelete, q(api.ProjectPath("demo")), nil))
	assert.Contains(t, loc, api.AuthoringProjectsPath+"/global/deletion-jobs/")
	require.Equal(t, api.StatusSucceeded, rg.finish(loc).Status)
	r := rg.do(http.MethodGet, q(api.ProjectPath("demo")), nil)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, api.CodeProjectNotFound, r.apiError(t).Code)
	// Jobs of a deleted deployment fail.
	st := rg.job(rg.submit(submitBody("demo", "production", "", "Anna")))
	assert.Equal(t, api.StatusFailed, st.Status)
}

func TestListPaging(t *testing.T) {
	rg := newRegion(t, Options{})
	for _, n := range []string{"p1", "p2", "p3", "p4", "p5"} {
		require.NoError(t, rg.Seed(SeedProject{Name: n}))
	}
	follow := func(first string) (names []string, pages int) {
		next := first
		for next != "" {
			r := rg.do(http.MethodGet, next, nil)
			require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
			var page struct {
				Value    []api.Project `json:"value"`
				NextLink *string       `json:"nextLink"`
			}
			r.decode(t, &page)
			for _, p := range page.Value {
				names = append(names, p.ProjectName)
			}
			next = ""
			if page.NextLink != nil {
				next = *page.NextLink
				assert.True(t, strings.HasPrefix(next, rg.URL+api.AuthoringProjectsPath+"?"), next)
				assert.Contains(t, next, "api-version="+v2)
			}
			pages++
			require.Less(t, pages, 10)
		}
		return names, pages
	}
	all := []string{"p1", "p2", "p3", "p4", "p5"}
	names, pages := follow(q(api.AuthoringProjectsPath))
	assert.Equal(t, all, names)
	assert.Equal(t, 1, pages)
	names, pages = follow(q(api.AuthoringProjectsPath, "maxpagesize", "2"))
	assert.Equal(t, all, names)
	assert.Equal(t, 3, pages)
	names, _ = follow(q(api.AuthoringProjectsPath, "top", "3", "skip", "1", "maxpagesize", "2"))
	assert.Equal(t, []string{"p2", "p3", "p4"}, names)
	names, _ = follow(q(api.AuthoringProjectsPath, "top", "1"))
	assert.Equal(t, []string{"p1"}, names)
	names, _ = follow(q(api.AuthoringProjectsPath, "$top", "2", "$skip", "4"))
	assert.Equal(t, []string{"p5"}, names)
	assert.Equal(t, http.StatusBadRequest, rg.do(http.MethodGet, q(api.AuthoringProjectsPath, "maxpagesize", "0"), nil).status)

	var tcv struct {
		Value []struct {
			TrainingConfigVersion string `json:"trainingConfigVersion"`
			ModelExpirationDate   string `json:"modelExpirationDate"`
		} `json:"value"`
	}
	r := rg.do(http.MethodGet, q(api.AuthoringProjectsPath+"/global/training-config-versions", "projectKind", api.ProjectKindCustomNER), nil)
	require.Equal(t, http.StatusOK, r.status)
	r.decode(t, &tcv)
	require.NotEmpty(t, tcv.Value)
	assert.Equal(t, "2022-05-01", tcv.Value[0].TrainingConfigVersion)
}

func TestAuthoringRateLimit(t *testing.T) {
	rg := newRegion(t, Options{AuthoringPostsPerMinute: 2})
	require.NoError(t, rg.Seed(demoProject()))
	exp := q(api.ProjectPath("demo")+"/:export", "stringIndexType", "Utf16CodeUnit")
	assert.Equal(t, http.StatusAccepted, rg.do(http.MethodPost, exp, nil).status)
	rg.clock.Advance(10 * time.Second)
	assert.Equal(t, http.StatusAccepted, rg.do(http.MethodPost, exp, nil).status)
	r := rg.do(http.MethodPost, exp, nil)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	assert.Equal(t, "50", r.header.Get("Retry-After"))
	assert.Equal(t, "429", r.apiError(t).Code)
	// GETs and runtime calls are not limited.
	assert.Equal(t, http.StatusOK, rg.do(http.MethodGet, q(api.ProjectPath("demo")), nil).status)
	assert.Equal(t, http.StatusAccepted, rg.do(http.MethodPost, q(api.JobsPath), submitBody("demo", "production", "", "x")).status)
	rg.clock.Advance(50 * time.Second)
	assert.Equal(t, http.StatusAccepted, rg.do(http.MethodPost, exp, nil).status)
}
