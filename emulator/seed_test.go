package emulator

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
)

func TestSeed(t *testing.T) {
	rg := newRegion(t, Options{AuthoringJobDuration: time.Hour})
	sp := demoProject()
	require.NoError(t, rg.Seed(sp))

	// Synchronous: no job clock to wait for.
	proj := rg.getProject("demo")
	assert.Equal(t, "docs", proj.StorageInputContainerName)
	assert.Equal(t, "en", proj.Language)
	assert.Equal(t, t0, proj.LastTrainedDateTime)
	assert.Equal(t, t0, proj.LastDeployedDateTime)
	text, ok := rg.Document("docs", "b.txt")
	require.True(t, ok)
	assert.Equal(t, sp.Documents[1].Text, text)
	var d api.Deployment
	rg.do(http.MethodGet, q(api.DeploymentPath("demo", "production")), nil).decode(t, &d)
	assert.Regexp(t, `^model-`, d.ModelID)

	var file api.ExportedProject
	rg.succeedNow(api.ProjectPath("demo"), &file)
	require.NotNil(t, file.Assets)
	assert.Equal(t, []api.EntityType{{Category: "Person"}, {Category: "City"}}, file.Assets.Entities)
	assert.Equal(t, sp.Documents[0].Labels, file.Assets.Documents[0].Entities[0].Labels)

	// Seeding again replaces the project but keeps its creation time.
	rg.clock.Advance(time.Minute)
	sp.Documents = sp.Documents[:1]
	sp.DeploymentName = ""
	require.NoError(t, rg.Seed(sp))
	proj = rg.getProject("demo")
	assert.Equal(t, t0, proj.CreatedDateTime)
	assert.Equal(t, rg.clock.Now(), proj.LastModifiedDateTime)
	assert.Zero(t, proj.LastTrainedDateTime, "no deployment: not trained")
	var models struct{ Value []api.TrainedModel }
	rg.do(http.MethodGet, q(api.ProjectPath("demo")+"/models"), nil).decode(t, &models)
	assert.Empty(t, models.Value)

	for _, bad := range []SeedProject{
		{Name: ""},
		{Name: "x", DeploymentName: "bad/name"},
		{Name: "x", DeploymentName: "d", ModelLabel: "bad label"},
		{Name: "x", DeploymentName: "d", Documents: []SeedDocument{{Name: "a", Text: "😀", Labels: []api.Label{{Category: "C", Offset: 1, Length: 1}}}}},
	} {
		assert.Error(t, rg.Seed(bad), "%+v", bad)
	}
}

// succeedNow exports with the clock moved past the job and decodes the
// result into v.
func (rg *region) succeedNow(project string, v any) {
	rg.t.Helper()
	loc := rg.accepted(rg.do(http.MethodPost, q(project+"/:export", "stringIndexType", "Utf16CodeUnit"), nil))
	rg.clock.Advance(time.Hour)
	j := rg.authJob(loc)
	require.Equal(rg.t, api.StatusSucceeded, j.Status)
	rg.do(http.MethodGet, j.ResultURL, nil).decode(rg.t, v)
}
