package emulator

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
)

// TestRoundTripAnswersLikeThePrimary is the runbook of "Back up and recover
// your custom NER models" over HTTP: a project seeded in region A is
// exported, its documents are copied to B's storage, and it is imported,
// trained and deployed in B, after which B answers a custom NER job exactly
// as A does.
func TestRoundTripAnswersLikeThePrimary(t *testing.T) {
	a := newRegion(t, Options{Name: "primary", JobDuration: 3 * time.Second, AuthoringJobDuration: 6 * time.Second})
	b := newRegion(t, Options{Name: "secondary", Key: "k2", JobDuration: 3 * time.Second, AuthoringJobDuration: 6 * time.Second})
	seed := demoProject()
	seed.Documents = append(seed.Documents, SeedDocument{Name: "c.txt", Text: "Dr. Émile Zoë Dubois 👩‍💻 lives in São Paulo.", Labels: []api.Label{
		{Category: "Person", Offset: 4, Length: 16}, // "Émile Zoë Dubois"
		{Category: "City", Offset: 36, Length: 9},   // "São Paulo"
	}})
	require.NoError(t, a.Seed(seed))

	// Export from A.
	exported := a.export("demo")
	var file api.ExportedProject
	require.NoError(t, json.Unmarshal(exported, &file))
	assert.Equal(t, api.StringIndexUTF16, file.StringIndexType)
	require.NotNil(t, file.Assets)
	require.Len(t, file.Assets.Documents, 3)

	// Copy the documents to B's own container and point the project at it.
	for _, d := range file.Assets.Documents {
		text, ok := a.Document(file.Metadata.StorageInputContainerName, d.Location)
		require.True(t, ok, d.Location)
		b.PutDocument("secondary-docs", d.Location, text)
	}
	file.Metadata.StorageInputContainerName = "secondary-docs"

	// Import, train and deploy in B, with B's key.
	bk := &region{Server: b.Server, clock: b.clock, t: t}
	keyB := func(method, path string, body any) resp { return bk.doKey(method, q(path), "k2", body) }
	finishB := func(r resp) api.AuthoringJob {
		t.Helper()
		loc := b.accepted(r)
		for range 20 {
			rr := bk.doKey(http.MethodGet, loc, "k2", nil)
			require.Equal(t, http.StatusOK, rr.status)
			var j api.AuthoringJob
			rr.decode(t, &j)
			if api.Terminal(j.Status) {
				require.Equal(t, api.StatusSucceeded, j.Status, "%+v", j.Errors)
				return j
			}
			b.clock.Advance(time.Second)
		}
		require.FailNow(t, "job never ended")
		return api.AuthoringJob{}
	}
	finishB(keyB(http.MethodPost, api.ProjectPath("demo")+"/:import", file))
	finishB(keyB(http.MethodPost, api.ProjectPath("demo")+"/:train", api.TrainRequest{ModelLabel: "replica", TrainingConfigVersion: "latest"}))
	finishB(keyB(http.MethodPut, api.DeploymentPath("demo", "production"), api.DeployRequest{TrainedModelLabel: "replica"}))

	// The same job in both regions gives the same entities.
	texts := []string{
		"Müller and Zoë flew from Köln to Paris.",
		"😀😀 Anna met Émile Zoë Dubois in São Paulo 🇧🇷, then Anna left.",
		"Nobody here.",
		"e\u0301 Zoë 👩‍💻 Köln",
	}
	run := func(rg *region, key string) []api.DocumentEntities {
		t.Helper()
		var docs []api.DocumentEntities
		for _, it := range []string{api.StringIndexUTF16, api.StringIndexCodePoint, api.StringIndexTextElements} {
			r := rg.doKey(http.MethodPost, q(api.JobsPath), key, submitBody("demo", "production", it, texts...))
			loc := rg.accepted2(r)
			rg.clock.Advance(3 * time.Second)
			rr := rg.doKey(http.MethodGet, loc, key, nil)
			require.Equal(t, http.StatusOK, rr.status)
			var st api.JobState
			rr.decode(t, &st)
			require.Equal(t, api.StatusSucceeded, st.Status)
			docs = append(docs, customResults(t, st).Documents...)
		}
		return docs
	}
	got, want := run(b, "k2"), run(a, testKey)
	assert.Equal(t, want, got)
	// And the answers are not trivially empty.
	require.Len(t, want, 12)
	assert.Equal(t, []api.Entity{
		{Text: "Anna", Category: "Person", Offset: 5, Length: 4, ConfidenceScore: 1},
		{Text: "Émile Zoë Dubois", Category: "Person", Offset: 14, Length: 16, ConfidenceScore: 1},
		{Text: "São Paulo", Category: "City", Offset: 34, Length: 9, ConfidenceScore: 1},
		{Text: "Anna", Category: "Person", Offset: 55, Length: 4, ConfidenceScore: 1},
	}, want[1].Entities)

	// Replication touched only B's authoring calls, never A's.
	assert.Zero(t, a.Calls("import")+a.Calls("train")+a.Calls("deploy"))
	assert.Equal(t, 1, b.Calls("import"))
	assert.Equal(t, 1, b.Calls("train"))
	assert.Equal(t, 1, b.Calls("deploy"))
}

// accepted2 is accepted for runtime 202s.
func (rg *region) accepted2(r resp) string {
	rg.t.Helper()
	require.Equal(rg.t, http.StatusAccepted, r.status, "body: %s", r.body)
	return r.header.Get(api.OperationLocationHeader)
}
