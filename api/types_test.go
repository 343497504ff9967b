package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestErrorFormatting(t *testing.T) {
	// Target, details and inner messages can quote request data (document
	// text, a URL); only the code, the message and the status are printed.
	leaky := "SECRET-IN-DETAIL"
	for _, tc := range []struct {
		err  Error
		want string
	}{
		{Error{Code: "InvalidRequest", Message: "bad"}, "azure language: InvalidRequest: bad"},
		{Error{Code: "401", Message: "Access denied", StatusCode: 401}, "azure language: 401 401: Access denied"},
		{Error{
			Code: "InvalidArgument", Message: "bad doc", StatusCode: 400, Target: leaky,
			Details:    []Error{{Code: "X", Message: leaky, Target: leaky}},
			InnerError: &InnerError{Code: "InvalidDocumentBatch", Message: leaky, Target: leaky, Details: map[string]string{leaky: leaky}, InnerError: &InnerError{Code: leaky, Message: leaky}},
		}, "azure language: 400 InvalidArgument: bad doc (InvalidDocumentBatch)"},
	} {
		got := tc.err.Error()
		assert.Equal(t, tc.want, got, "Error()")
		got = fmt.Sprintf("%v", &tc.err)
		assert.NotContains(t, got, leaky)
		var err error = fmt.Errorf("ctx: %w", &tc.err)
		got = err.Error()
		assert.NotContains(t, got, leaky, "wrapped")
		assert.True(t, strings.HasSuffix(got, tc.want), "wrapped")
	}
}

func TestErrorJSON(t *testing.T) {
	body := `{"error":{"code":"InvalidRequest","message":"Invalid Request.","target":"t",
	  "details":[{"code":"InvalidArgument","message":"d"}],
	  "innererror":{"code":"InvalidDocumentBatch","message":"m","details":{"k":"v"},"target":"x","innererror":{"code":"EmptyRequest","message":"e"}}}}`
	var env ErrorResponse
	require.NoError(t, json.Unmarshal([]byte(body), &env))
	e := env.Error
	require.Equal(t, CodeInvalidRequest, e.Code, "decoded %+v", e)
	require.Equal(t, CodeInvalidArgument, e.Details[0].Code, "decoded %+v", e)
	require.Equal(t, "v", e.InnerError.Details["k"], "decoded %+v", e)
	require.Equal(t, InnerEmptyRequest, e.InnerError.InnerError.Code, "decoded %+v", e)
	require.Equal(t, 0, e.StatusCode, "decoded %+v", e)
	e.StatusCode = 400
	b, err := json.Marshal(e)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "400", "StatusCode leaked into the wire body: %s", b)
	assert.NotContains(t, string(b), "StatusCode", "StatusCode leaked into the wire body: %s", b)
}

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, http.StatusNotFound, Error{Code: CodeOperationNotFound, Message: "no such job"})
	require.Equal(t, 404, rec.Code, "status %d, headers %v", rec.Code, rec.Header())
	require.Equal(t, CodeOperationNotFound, rec.Header().Get("x-ms-error-code"), "status %d, headers %v", rec.Code, rec.Header())
	require.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json"), "status %d, headers %v", rec.Code, rec.Header())
	sameJSON(t, rec.Body.Bytes(), []byte(`{"error":{"code":"OperationNotFound","message":"no such job"}}`))
}

func TestJobFailedError(t *testing.T) {
	e := &JobFailedError{JobID: "j", Status: StatusFailed, Errors: []Error{{Code: "A", Message: "a", Target: "hidden"}, {Code: "B", Message: "b"}}}
	got := e.Error()
	assert.Equal(t, "job j ended failed: A: a; B: b", got, "Error()")
	var ae *Error
	if assert.ErrorAs(t, fmt.Errorf("replicate: %w", e), &ae, "errors.As(*Error) = %v", ae) {
		assert.Equal(t, "A", ae.Code, "errors.As(*Error) = %v", ae)
	}
	empty := &JobFailedError{JobID: "j", Status: StatusCancelled}
	if assert.NoError(t, empty.Unwrap(), "no errors: %q, %v", empty.Error(), empty.Unwrap()) {
		assert.Equal(t, "job j ended cancelled", empty.Error(), "no errors: %q, %v", empty.Error(), empty.Unwrap())
	}
}

func TestTerminal(t *testing.T) {
	for s, want := range map[string]bool{
		StatusNotStarted: false, StatusRunning: false, StatusCancelling: false, "": false, "unknownFuture": false,
		StatusSucceeded: true, StatusPartiallyCompleted: true, StatusFailed: true, StatusCancelled: true,
		StatusPartiallySucceeded: true,
	} {
		assert.Equal(t, want, Terminal(s), "Terminal(%q) = %v", s, !want)
	}
}

func TestPaths(t *testing.T) {
	for got, want := range map[string]string{
		JobPath("c0f2a446-1"):           "/language/analyze-text/jobs/c0f2a446-1",
		JobPath("a/b?c"):                "/language/analyze-text/jobs/a%2Fb%3Fc",
		ProjectPath("my.project_1"):     "/language/authoring/analyze-text/projects/my.project_1",
		DeploymentPath("p", "prod"):     "/language/authoring/analyze-text/projects/p/deployments/prod",
		DeploymentPath("p/../x", "a b"): "/language/authoring/analyze-text/projects/p%2F..%2Fx/deployments/a%20b",
	} {
		assert.Equal(t, want, got, "path")
	}
}

// The reference's sample bodies decode into the fields their names promise.
func TestReferenceSamples(t *testing.T) {
	var dep Page[Deployment]
	require.NoError(t, json.Unmarshal([]byte(`{"value":[{"deploymentName":"prod","modelId":"model1-20220418T034749-299f",
	  "lastTrainedDateTime":"2022-04-18T03:47:49Z","lastDeployedDateTime":"2022-04-18T04:00:00Z",
	  "deploymentExpirationDate":"2023-10-28","modelTrainingConfigVersion":"2022-05-01"}],"nextLink":null}`), &dep))
	d := dep.Value[0]
	assert.Equal(t, "prod", d.DeploymentName, "deployment page = %+v", dep)
	assert.NotEqual(t, "", d.ModelID, "deployment page = %+v", dep)
	assert.False(t, d.LastDeployedDateTime.IsZero(), "deployment page = %+v", dep)
	assert.Equal(t, "", dep.NextLink, "deployment page = %+v", dep)
	var m TrainedModel
	require.NoError(t, json.Unmarshal([]byte(`{"label":"model1","modelId":"model1-2022","lastTrainedDateTime":"2022-04-18T03:47:49Z",
	  "lastTrainingDurationInSeconds":186,"modelExpirationDate":"2022-10-28","modelTrainingConfigVersion":"2022-05-01","hasSnapshot":false}`), &m))
	assert.Equal(t, "model1", m.Label, "model = %+v", m)
	assert.Equal(t, 186, m.LastTrainingDurationInSeconds, "model = %+v", m)
	if assert.NotNil(t, m.HasSnapshot, "model = %+v", m) {
		assert.False(t, *m.HasSnapshot, "model = %+v", m)
	}
	var j AuthoringJob
	require.NoError(t, json.Unmarshal([]byte(`{"jobId":"x_637858368000000000","createdDateTime":"2022-04-18T15:44:44Z",
	  "lastUpdatedDateTime":"2022-04-18T15:45:48Z","expirationDateTime":"2022-04-25T15:44:44Z","status":"running",
	  "result":{"modelLabel":"model1","trainingConfigVersion":"2022-05-01","estimatedEndDateTime":"2022-04-18T15:47:58Z",
	    "trainingStatus":{"percentComplete":3,"startDateTime":"2022-04-18T15:45:06Z","status":"running"},
	    "evaluationStatus":{"percentComplete":0,"status":"notStarted"}}}`), &j))
	if assert.NotNil(t, j.Result, "train job = %+v", j) {
		assert.Equal(t, 3, j.Result.TrainingStatus.PercentComplete, "train job = %+v", j)
		assert.Equal(t, StatusNotStarted, j.Result.EvaluationStatus.Status, "train job = %+v", j)
	}

	b, err := json.Marshal(TrainRequest{ModelLabel: "m", TrainingConfigVersion: "latest"})
	if assert.NoError(t, err, "train body = %s, %v", b, err) {
		assert.Equal(t, `{"modelLabel":"m","trainingConfigVersion":"latest"}`, string(b), "train body = %s, %v", b, err)
	}
	b, err = json.Marshal(TrainRequest{ModelLabel: "m", TrainingConfigVersion: "latest",
		EvaluationOptions: &EvaluationOptions{Kind: "percentage", TrainingSplitPercentage: 80, TestingSplitPercentage: 20}})
	if assert.NoError(t, err, "train body = %s, %v", b, err) {
		assert.Contains(t, string(b), `"evaluationOptions":{"kind":"percentage","trainingSplitPercentage":80,"testingSplitPercentage":20}`, "train body = %s, %v", b, err)
	}
	// Zero times are left out rather than sent as year 1.
	b, err = json.Marshal(Project{ProjectName: "p"})
	if assert.NoError(t, err, "project = %s, %v", b, err) {
		assert.NotContains(t, string(b), "DateTime", "project = %s, %v", b, err)
	}
}
