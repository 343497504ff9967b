package api_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"nergateway/api"
	"nergateway/emulator"
	"nergateway/internal/secret"
)

func startRegion(t *testing.T, name, key string) *emulator.Server {
	t.Helper()
	s, err := emulator.NewServer(emulator.Options{Name: name, Key: key, AuthoringJobDuration: 30 * time.Millisecond, JobDuration: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func regionClient(t *testing.T, s *emulator.Server, key string) *api.Client {
	t.Helper()
	c, err := api.NewClient(s.URL, secret.Secret(key), api.ClientOptions{PollInterval: 5 * time.Millisecond, MaxPollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wait waits for op and fails the test unless it succeeds, checking that
// onPoll saw the job the operation named.
func wait(t *testing.T, c *api.Client, op *api.Operation) *api.AuthoringJob {
	t.Helper()
	var seen []string
	j, err := c.Wait(t.Context(), op, func(j *api.AuthoringJob) { seen = append(seen, j.Status) })
	if err != nil {
		t.Fatalf("wait for %s: %v", op.JobID, err)
	}
	if j.JobID != op.JobID || len(seen) == 0 || seen[len(seen)-1] != api.StatusSucceeded {
		t.Fatalf("job %+v, statuses %v", j, seen)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitJob(t.Context(), op)
	if err != nil {
		t.Fatalf("wait job: %v", err)
	}
	if st.Status != api.StatusSucceeded || len(st.Tasks.Items) != 1 {
		t.Fatalf("job state %+v", st)
	}
	var res api.CustomEntitiesResult
	if err := json.Unmarshal(st.Tasks.Items[0].Results, &res); err != nil {
		t.Fatal(err)
	}
	if res.ProjectName != project || res.DeploymentName != deployment || len(res.Documents) != 1 {
		t.Fatalf("results %+v", res)
	}
	again, err := c.GetJobURL(t.Context(), op.URL)
	if err != nil || again.JobID != st.JobID {
		t.Fatalf("GetJobURL = %+v, %v", again, err)
	}
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
	if err := primary.Seed(emulator.SeedProject{Name: "demo", Language: "en", Container: "primary-docs", Entities: []string{"City", "Day"},
		Documents: docs, ModelLabel: "model", DeploymentName: "production"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range docs { // the runbook's implied step: the secondary's storage holds the same files
		secondary.PutDocument("secondary-docs", d.Name, d.Text)
	}
	pc, sc := regionClient(t, primary, "k-primary"), regionClient(t, secondary, "k-secondary")
	ctx := t.Context()

	if ds, err := pc.ListDeployments(ctx, "demo"); err != nil || len(ds) != 1 || ds[0].DeploymentName != "production" {
		t.Fatalf("primary deployments = %+v, %v", ds, err)
	}
	if _, err := sc.GetProject(ctx, "demo"); !api.IsNotFound(err) {
		t.Fatalf("secondary project before import: err = %v, want 404", err)
	}

	// Export from the primary.
	op, err := pc.Export(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	job := wait(t, pc, op)
	if job.ResultURL == "" {
		t.Fatalf("export job without resultUrl: %+v", job)
	}
	exported, err := pc.ExportResult(ctx, job.ResultURL)
	if err != nil {
		t.Fatal(err)
	}
	if exported.StringIndexType != api.StringIndexUTF16 || exported.Assets == nil || len(exported.Assets.Documents) != 2 {
		t.Fatalf("exported %+v", exported)
	}

	// Import, train and deploy in the secondary.
	exported.Metadata.StorageInputContainerName = "secondary-docs"
	if op, err = sc.Import(ctx, "demo", *exported); err != nil {
		t.Fatal(err)
	}
	wait(t, sc, op)
	if p, err := sc.GetProject(ctx, "demo"); err != nil || p.StorageInputContainerName != "secondary-docs" || p.ProjectKind != api.ProjectKindCustomNER {
		t.Fatalf("imported project = %+v, %v", p, err)
	}
	if op, err = sc.Train(ctx, "demo", api.TrainRequest{ModelLabel: "model", TrainingConfigVersion: "latest"}); err != nil {
		t.Fatal(err)
	}
	if j := wait(t, sc, op); j.Result == nil || j.Result.ModelLabel != "model" {
		t.Fatalf("train job = %+v", j)
	}
	if ms, err := sc.ListModels(ctx, "demo"); err != nil || len(ms) != 1 || ms[0].Label != "model" {
		t.Fatalf("models = %+v, %v", ms, err)
	}
	if m, err := sc.GetModel(ctx, "demo", "model"); err != nil || m.ModelID == "" {
		t.Fatalf("model = %+v, %v", m, err)
	}
	if op, err = sc.Deploy(ctx, "demo", "production", api.DeployRequest{TrainedModelLabel: "model"}); err != nil {
		t.Fatal(err)
	}
	wait(t, sc, op)
	ds, err := sc.ListDeployments(ctx, "demo")
	if err != nil || !slices.ContainsFunc(ds, func(d api.Deployment) bool { return d.DeploymentName == "production" }) {
		t.Fatalf("secondary deployments = %+v, %v", ds, err)
	}
	if d, err := sc.GetDeployment(ctx, "demo", "production"); err != nil || d.ModelID == "" {
		t.Fatalf("deployment = %+v, %v", d, err)
	}

	// Both regions now answer alike, offsets in UTF-16 code units.
	text := "Bob drove from Portland to Seattle."
	fromPrimary := findEntities(t, pc, "demo", "production", text)
	fromSecondary := findEntities(t, sc, "demo", "production", text)
	var found []string
	for _, e := range fromPrimary {
		found = append(found, e.Category+":"+e.Text)
		if got := text[e.Offset : e.Offset+e.Length]; got != e.Text { // ASCII text: UTF-16 offsets are byte offsets
			t.Errorf("entity %+v does not point at its text (%q)", e, got)
		}
	}
	slices.Sort(found)
	if !slices.Equal(found, []string{"City:Portland", "City:Seattle"}) {
		t.Errorf("primary found %v", found)
	}
	pj, _ := json.Marshal(fromPrimary)
	sj, _ := json.Marshal(fromSecondary)
	if string(pj) != string(sj) {
		t.Errorf("regions disagree:\n primary   %s\n secondary %s", pj, sj)
	}
}

func TestClientAgainstEmulatorErrors(t *testing.T) {
	region := startRegion(t, "r", "right-key")
	wrong, err := api.NewClient(region.URL, "wrong-key", api.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.ListProjects(t.Context())
	var ae *api.Error
	if !errors.As(err, &ae) || ae.StatusCode != 401 || ae.Code != api.CodeFrontDoorUnauthorized {
		t.Fatalf("wrong key: err = %v", err)
	}
	c := regionClient(t, region, "right-key")
	if _, err := c.GetDeployment(t.Context(), "nope", "d"); !api.IsNotFound(err) {
		t.Errorf("unknown project: err = %v, want 404", err)
	}
	if _, err := c.GetJob(t.Context(), "00000000-0000-4000-8000-000000000000", api.JobQuery{}); !api.IsNotFound(err) {
		t.Errorf("unknown job: err = %v, want 404", err)
	}
	if ps, err := c.ListProjects(t.Context()); err != nil || len(ps) != 0 {
		t.Errorf("empty region lists %+v, %v", ps, err)
	}
}
