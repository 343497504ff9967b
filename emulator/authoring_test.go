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

var authoringJobIDShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}_[0-9]{18}$`)

const importBody = `{
  "projectFileVersion": "2022-05-01",
  "stringIndexType": "Utf16CodeUnit",
  "futureTopLevel": {"x": 1},
  "metadata": {"projectKind": "CustomEntityRecognition", "projectName": "people",
    "storageInputContainerName": "c1", "language": "en", "multilingual": false,
    "description": "d", "settings": {"confidenceThreshold": 0.5}, "futureMeta": "m"},
  "assets": {"projectKind": "CustomEntityRecognition", "entities": [{"category": "Person", "futureEntity": true}],
    "documents": [{"location": "1.txt", "language": "en-us", "dataset": "Train",
      "entities": [{"regionOffset": 0, "regionLength": 14,
        "labels": [{"category": "Person", "offset": 0, "length": 4, "futureLabel": 7}]}]}]}
}`

func TestImportTrainDeployLifecycle(t *testing.T) {
	rg := newRegion(t, Options{AuthoringJobDuration: 3 * time.Second})
	rg.PutDocument("c1", "1.txt", "Anna is here.")
	p := api.ProjectPath("people")

	// Import: a job through notStarted, running, succeeded.
	loc := rg.accepted(rg.do(http.MethodPost, q(p+"/:import"), importBody))
	u, err := url.Parse(loc)
	require.NoError(t, err)
	id := strings.TrimPrefix(u.Path, p+"/import/jobs/")
	assert.True(t, authoringJobIDShape.MatchString(id), id)
	j := rg.authJob(loc)
	assert.Equal(t, api.StatusNotStarted, j.Status)
	assert.Equal(t, t0, j.CreatedDateTime)
	assert.Equal(t, t0.Add(7*24*time.Hour), j.ExpirationDateTime)
	assert.Equal(t, http.StatusNotFound, rg.do(http.MethodGet, q(p), nil).status, "the project appears when the import succeeds")
	rg.clock.Advance(time.Second)
	assert.Equal(t, api.StatusRunning, rg.authJob(loc).Status)
	rg.clock.Advance(2 * time.Second)
	j = rg.authJob(loc)
	assert.Equal(t, api.StatusSucceeded, j.Status)
	assert.Equal(t, t0.Add(3*time.Second), j.LastUpdatedDateTime)
	proj := rg.getProject("people")
	assert.Equal(t, api.Project{ProjectName: "people", ProjectKind: api.ProjectKindCustomNER, StorageInputContainerName: "c1",
		Language: "en", Description: "d", Settings: proj.Settings, CreatedDateTime: t0.Add(3 * time.Second),
		LastModifiedDateTime: t0.Add(3 * time.Second), Extra: proj.Extra}, proj)
	assert.Zero(t, proj.LastTrainedDateTime)

	// Train.
	loc = rg.accepted(rg.do(http.MethodPost, q(p+"/:train"), api.TrainRequest{ModelLabel: "m1", TrainingConfigVersion: "latest"}))
	assert.Contains(t, loc, p+"/train/jobs/")
	j = rg.authJob(loc)
	require.NotNil(t, j.Result)
	assert.Equal(t, "m1", j.Result.ModelLabel)
	assert.Equal(t, "2022-05-01", j.Result.TrainingConfigVersion)
	assert.Equal(t, api.StatusNotStarted, j.Result.TrainingStatus.Status)
	// Training takes the first half of the running phase, evaluation the
	// second (authoring-train-2025-05-15-preview).
	rg.clock.Advance(1500 * time.Millisecond)
	j = rg.authJob(loc)
	assert.Equal(t, api.StatusRunning, j.Status)
	assert.Equal(t, 50, j.Result.TrainingStatus.PercentComplete)
	assert.Equal(t, api.StatusNotStarted, j.Result.EvaluationStatus.Status)
	assert.False(t, j.Result.EstimatedEndDateTime.IsZero(), "estimatedEndDateTime while running")
	rg.clock.Advance(time.Second)
	j = rg.authJob(loc)
	assert.Equal(t, api.StatusSucceeded, j.Result.TrainingStatus.Status)
	assert.Equal(t, api.StatusRunning, j.Result.EvaluationStatus.Status)
	assert.Equal(t, 50, j.Result.EvaluationStatus.PercentComplete)
	assert.Equal(t, http.StatusNotFound, rg.do(http.MethodGet, q(p+"/models/m1"), nil).status, "no model before training ends")
	j = rg.finish(loc)
	require.Equal(t, api.StatusSucceeded, j.Status)
	assert.Equal(t, 100, j.Result.TrainingStatus.PercentComplete)
	assert.Equal(t, api.StatusSucceeded, j.Result.EvaluationStatus.Status)
	trainedAt := j.LastUpdatedDateTime
	assert.Equal(t, trainedAt, rg.getProject("people").LastTrainedDateTime)

	r := rg.do(http.MethodGet, q(p+"/models/m1"), nil)
	require.Equal(t, http.StatusOK, r.status)
	var m api.TrainedModel
	r.decode(t, &m)
	assert.Equal(t, "m1", m.Label)
	assert.Regexp(t, `^m1-\d{8}T\d{6}-[0-9a-f]{32}$`, m.ModelID)
	assert.Equal(t, trainedAt, m.LastTrainedDateTime)
	assert.Equal(t, 3, m.LastTrainingDurationInSeconds)
	assert.Equal(t, "2022-05-01", m.ModelTrainingConfigVersion)

	// Deploy.
	rg.clock.Advance(time.Minute)
	loc = rg.accepted(rg.do(http.MethodPut, q(api.DeploymentPath("people", "prod")), api.DeployRequest{TrainedModelLabel: "m1"}))
	assert.Contains(t, loc, api.DeploymentPath("people", "prod")+"/jobs/")
	assert.Equal(t, http.StatusNotFound, rg.do(http.MethodGet, q(api.DeploymentPath("people", "prod")), nil).status)
	j = rg.finish(loc)
	require.Equal(t, api.StatusSucceeded, j.Status)
	r = rg.do(http.MethodGet, q(api.DeploymentPath("people", "prod")), nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.NotContains(t, string(r.body), "trainedModelLabel")
	var d api.Deployment
	r.decode(t, &d)
	assert.Equal(t, api.Deployment{DeploymentName: "prod", ModelID: m.ModelID, LastTrainedDateTime: trainedAt,
		LastDeployedDateTime: j.LastUpdatedDateTime, DeploymentExpirationDate: m.ModelExpirationDate,
		ModelTrainingConfigVersion: "2022-05-01"}, d)
	assert.Equal(t, j.LastUpdatedDateTime, rg.getProject("people").LastDeployedDateTime)

	// The deployment answers runtime jobs.
	st := rg.job(rg.submit(submitBody("people", "prod", api.StringIndexUTF16, "Hi Anna!")))
	require.Equal(t, api.StatusSucceeded, st.Status)
	assert.Equal(t, []api.Entity{{Text: "Anna", Category: "Person", Offset: 3, Length: 4, ConfidenceScore: 1}},
		customResults(t, st).Documents[0].Entities)
}
