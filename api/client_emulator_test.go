package api_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"nergateway/api"
	"nergateway/emulator"
	"nergateway/internal/secret"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func startRegion(t *testing.T, name, key string) *emulator.Server {
	t.Helper()
	s, err := emulator.NewServer(emulator.Options{Name: name, Key: key, AuthoringJobDuration: 30 * time.Millisecond, JobDuration: 30 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func regionClient(t *testing.T, s *emulator.Server, key string) *api.Client {
	t.Helper()
	c, err := api.NewClient(s.URL, secret.Secret(key), api.ClientOptions{PollInterval: 5 * time.Millisecond, MaxPollInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	return c
}

// wait waits for op and fails the test unless it succeeds, checking that
// onPoll saw the job the operation named.
func wait(t *testing.T, c *api.Client, op *api.Operation) *api.AuthoringJob {
	t.Helper()
	var seen []string
	j, err := c.Wait(t.Context(), op, func(j *api.AuthoringJob) { seen = append(seen, j.Status) })
	require.NoError(t, err, "wait for %s: %v", op.JobID, err)
	require.Equal(t, op.JobID, j.JobID, "job %+v, statuses %v", j, seen)
	require.NotEmpty(t, seen, "job %+v, statuses %v", j, seen)
	require.Equal(t, api.StatusSucceeded, seen[len(seen)-1], "job %+v, statuses %v", j, seen)
	return j
}

// findEntities submits text to a region's deployment and returns what it
// recognised.
func findEntities(t *testing.T, c *api.Client, project, deployment, text string) []api.Entity {
	t.Helper()
	op, err := c.SubmitJob(t.Context(), api.SubmitRequest{
		DisplayName:   "client test",
		AnalysisInput: api.AnalysisInput{Documents: []api.Document{{ID: "1", Language: "en", Text: text}}},
		Tasks: []api.Task{{Kind: api.KindCustomEntityRecognition, TaskName: "ner", Parameters: api.TaskParameters{
			ProjectName: project, DeploymentName: deployment, StringIndexType: api.StringIndexUTF16,
		}}},
	})
	require.NoError(t, err)
	st, err := c.WaitJob(t.Context(), op)
	require.NoError(t, err, "wait job")
	require.Equal(t, api.StatusSucceeded, st.Status, "job state %+v", st)
	require.Len(t, st.Tasks.Items, 1, "job state %+v", st)
	var res api.CustomEntitiesResult
	require.NoError(t, json.Unmarshal(st.Tasks.Items[0].Results, &res))
	require.Equal(t, project, res.ProjectName, "results %+v", res)
	require.Equal(t, deployment, res.DeploymentName, "results %+v", res)
	require.Len(t, res.Documents, 1, "results %+v", res)
	again, err := c.GetJobURL(t.Context(), op.URL)
	require.NoError(t, err, "GetJobURL = %+v, %v", again, err)
	require.Equal(t, st.JobID, again.JobID, "GetJobURL = %+v, %v", again, err)
	return res.Documents[0].Entities
}

// TestClientAgainstEmulator runs the runbook with the client: export from
// a seeded primary, import, train and deploy in an empty secondary, and
// check both regions then find the same entities.
func TestClientAgainstEmulator(t *testing.T) {
	primary := startRegion(t, "primary", "k-primary")
	secondary := startRegion(t, "secondary", "k-secondary")
	docs := []emulator.SeedDocument{
		{Name: "01.txt", Text: "Alice flew to Seattle on Monday.", Labels: []api.Label{{Category: "City", Offset: 14, Length: 7}, {Category: "Day", Offset: 25, Length: 6}}},
		{Name: "02.txt", Text: "Café owners in Portland open late.", Labels: []api.Label{{Category: "City", Offset: 15, Length: 8}}},
	}
	require.NoError(t, primary.Seed(emulator.SeedProject{Name: "demo", Language: "en", Container: "primary-docs", Entities: []string{"City", "Day"},
		Documents: docs, ModelLabel: "model", DeploymentName: "production"}))
	for _, d := range docs { // the runbook's implied step: the secondary's storage holds the same files
		secondary.PutDocument("secondary-docs", d.Name, d.Text)
	}
	pc, sc := regionClient(t, primary, "k-primary"), regionClient(t, secondary, "k-secondary")
	ctx := t.Context()

	ds, err := pc.ListDeployments(ctx, "demo")
	require.NoError(t, err, "primary deployments")
	require.Len(t, ds, 1, "primary deployments")
	require.Equal(t, "production", ds[0].DeploymentName, "primary deployments")
	_, err = sc.GetProject(ctx, "demo")
	require.True(t, api.IsNotFound(err), "secondary project before import: err = %v, want 404", err)

	// Export from the primary.
	op, err := pc.Export(ctx, "demo")
	require.NoError(t, err)
	job := wait(t, pc, op)
	require.NotEqual(t, "", job.ResultURL, "export job without resultUrl: %+v", job)
	exported, err := pc.ExportResult(ctx, job.ResultURL)
	require.NoError(t, err)
	require.Equal(t, api.StringIndexUTF16, exported.StringIndexType, "exported %+v", exported)
	require.NotNil(t, exported.Assets, "exported %+v", exported)
	require.Len(t, exported.Assets.Documents, 2, "exported %+v", exported)

	// Import, train and deploy in the secondary.
	exported.Metadata.StorageInputContainerName = "secondary-docs"
	op, err = sc.Import(ctx, "demo", *exported)
	require.NoError(t, err)
	wait(t, sc, op)
	p, err := sc.GetProject(ctx, "demo")
	require.NoError(t, err, "imported project = %+v, %v", p, err)
	require.Equal(t, "secondary-docs", p.StorageInputContainerName, "imported project = %+v, %v", p, err)
	require.Equal(t, api.ProjectKindCustomNER, p.ProjectKind, "imported project = %+v, %v", p, err)
	op, err = sc.Train(ctx, "demo", api.TrainRequest{ModelLabel: "model", TrainingConfigVersion: "latest"})
	require.NoError(t, err)
	j := wait(t, sc, op)
	require.NotNil(t, j.Result, "train job = %+v", j)
	require.Equal(t, "model", j.Result.ModelLabel, "train job = %+v", j)
	ms, err := sc.ListModels(ctx, "demo")
	require.NoError(t, err, "models")
	require.Len(t, ms, 1, "models")
	require.Equal(t, "model", ms[0].Label, "models")
	m, err := sc.GetModel(ctx, "demo", "model")
	require.NoError(t, err, "model = %+v, %v", m, err)
	require.NotEqual(t, "", m.ModelID, "model = %+v, %v", m, err)
	op, err = sc.Deploy(ctx, "demo", "production", api.DeployRequest{TrainedModelLabel: "model"})
	require.NoError(t, err)
	wait(t, sc, op)
	ds, err = sc.ListDeployments(ctx, "demo")
	require.NoError(t, err, "secondary deployments = %+v, %v", ds, err)
	require.True(t, slices.ContainsFunc(ds, func(d api.Deployment) bool { return d.DeploymentName == "production" }), "secondary deployments = %+v, %v", ds, err)
	d, err := sc.GetDeployment(ctx, "demo", "production")
	require.NoError(t, err, "deployment = %+v, %v", d, err)
	require.NotEqual(t, "", d.ModelID, "deployment = %+v, %v", d, err)

	// Both regions now answer alike, offsets in UTF-16 code units.
	text := "Bob drove from Portland to Seattle."
	fromPrimary := findEntities(t, pc, "demo", "production", text)
	fromSecondary := findEntities(t, sc, "demo", "production", text)
	var found []string
	for _, e := range fromPrimary {
		found = append(found, e.Category+":"+e.Text)
		got := text[e.Offset : e.Offset+e.Length]
		assert.Equal(t, e.Text, got, "entity %+v does not point at its text (%q)", e, got)
	}
	slices.Sort(found)
	assert.True(t, slices.Equal(found, []string{"City:Portland", "City:Seattle"}), "primary found %v", found)
	pj, _ := json.Marshal(fromPrimary)
	sj, _ := json.Marshal(fromSecondary)
	assert.Equal(t, string(sj), string(pj), "regions disagree:\n primary   %s\n secondary %s", pj, sj)
}

func TestClientAgainstEmulatorErrors(t *testing.T) {
	region := startRegion(t, "r", "right-key")
	wrong, err := api.NewClient(region.URL, "wrong-key", api.ClientOptions{})
	require.NoError(t, err)
	_, err = wrong.ListProjects(t.Context())
	var ae *api.Error
	require.ErrorAs(t, err, &ae, "wrong key: err")
	require.Equal(t, 401, ae.StatusCode, "wrong key: err")
	require.Equal(t, api.CodeFrontDoorUnauthorized, ae.Code, "wrong key: err")
	c := regionClient(t, region, "right-key")
	_, err = c.GetDeployment(t.Context(), "nope", "d")
	assert.True(t, api.IsNotFound(err), "unknown project: err = %v, want 404", err)
	_, err = c.GetJob(t.Context(), "00000000-0000-4000-8000-000000000000", api.JobQuery{})
	assert.True(t, api.IsNotFound(err), "unknown job: err = %v, want 404", err)
	ps, err := c.ListProjects(t.Context())
	if assert.NoError(t, err, "empty region lists %+v, %v", ps, err) {
		assert.Empty(t, ps, "empty region lists %+v, %v", ps, err)
	}
}
