package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
		if got := fmt.Sprintf("%v", &tc.err); strings.Contains(got, leaky) {
			t.Errorf("%%v printed %q", got)
		}
		var err error = fmt.Errorf("ctx: %w", &tc.err)
		if got := err.Error(); strings.Contains(got, leaky) || !strings.HasSuffix(got, tc.want) {
			t.Errorf("wrapped = %q", got)
		}
	}
}

func TestErrorJSON(t *testing.T) {
	body := `{"error":{"code":"InvalidRequest","message":"Invalid Request.","target":"t",
	  "details":[{"code":"InvalidArgument","message":"d"}],
	  "innererror":{"code":"InvalidDocumentBatch","message":"m","details":{"k":"v"},"target":"x","innererror":{"code":"EmptyRequest","message":"e"}}}}`
	var env ErrorResponse
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatal(err)
	}
	e := env.Error
	if e.Code != CodeInvalidRequest || e.Details[0].Code != CodeInvalidArgument || e.InnerError.Details["k"] != "v" ||
		e.InnerError.InnerError.Code != InnerEmptyRequest || e.StatusCode != 0 {
		t.Fatalf("decoded %+v", e)
	}
	e.StatusCode = 400
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "400") || strings.Contains(string(b), "StatusCode") {
		t.Errorf("StatusCode leaked into the wire body: %s", b)
	}
}

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, http.StatusNotFound, Error{Code: CodeOperationNotFound, Message: "no such job"})
	if rec.Code != 404 || rec.Header().Get("x-ms-error-code") != CodeOperationNotFound ||
		!strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, headers %v", rec.Code, rec.Header())
	}
	sameJSON(t, rec.Body.Bytes(), []byte(`{"error":{"code":"OperationNotFound","message":"no such job"}}`))
}

func TestJobFailedError(t *testing.T) {
	e := &JobFailedError{JobID: "j", Status: StatusFailed, Errors: []Error{{Code: "A", Message: "a", Target: "hidden"}, {Code: "B", Message: "b"}}}
	if got := e.Error(); got != "job j ended failed: A: a; B: b" {
		t.Errorf("Error() = %q", got)
	}
	var ae *Error
	if !errors.As(fmt.Errorf("replicate: %w", e), &ae) || ae.Code != "A" {
		t.Errorf("errors.As(*Error) = %v", ae)
	}
	empty := &JobFailedError{JobID: "j", Status: StatusCancelled}
	if empty.Unwrap() != nil || empty.Error() != "job j ended cancelled" {
		t.Errorf("no errors: %q, %v", empty.Error(), empty.Unwrap())
	}
}

func TestTerminal(t *testing.T) {
	for s, want := range map[string]bool{
		StatusNotStarted: false, StatusRunning: false, StatusCancelling: false, "": false, "unknownFuture": false,
		StatusSucceeded: true, StatusPartiallyCompleted: true, StatusFailed: true, StatusCancelled: true,
		StatusPartiallySucceeded: true,
	} {
		if Terminal(s) != want {
			t.Errorf("Terminal(%q) = %v", s, !want)
		}
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
		if got != want {
			t.Errorf("path = %q, want %q", got, want)
		}
	}
}

// The reference's sample bodies decode into the fields their names promise.
func TestReferenceSamples(t *testing.T) {
	var dep Page[Deployment]
	if err := json.Unmarshal([]byte(`{"value":[{"deploymentName":"prod","modelId":"model1-20220418T034749-299f",
	  "lastTrainedDateTime":"2022-04-18T03:47:49Z","lastDeployedDateTime":"2022-04-18T04:00:00Z",
	  "deploymentExpirationDate":"2023-10-28","modelTrainingConfigVersion":"2022-05-01"}],"nextLink":null}`), &dep); err != nil {
		t.Fatal(err)
	}
	if d := dep.Value[0]; d.DeploymentName != "prod" || d.ModelID == "" || d.LastDeployedDateTime.IsZero() || dep.NextLink != "" {
		t.Errorf("deployment page = %+v", dep)
	}
	var m TrainedModel
	if err := json.Unmarshal([]byte(`{"label":"model1","modelId":"model1-2022","lastTrainedDateTime":"2022-04-18T03:47:49Z",
	  "lastTrainingDurationInSeconds":186,"modelExpirationDate":"2022-10-28","modelTrainingConfigVersion":"2022-05-01","hasSnapshot":false}`), &m); err != nil {
		t.Fatal(err)
	}
	if m.Label != "model1" || m.LastTrainingDurationInSeconds != 186 || m.HasSnapshot == nil || *m.HasSnapshot {
		t.Errorf("model = %+v", m)
	}
	var j AuthoringJob
	if err := json.Unmarshal([]byte(`{"jobId":"x_637858368000000000","createdDateTime":"2022-04-18T15:44:44Z",
	  "lastUpdatedDateTime":"2022-04-18T15:45:48Z","expirationDateTime":"2022-04-25T15:44:44Z","status":"running",
	  "result":{"modelLabel":"model1","trainingConfigVersion":"2022-05-01","estimatedEndDateTime":"2022-04-18T15:47:58Z",
	    "trainingStatus":{"percentComplete":3,"startDateTime":"2022-04-18T15:45:06Z","status":"running"},
	    "evaluationStatus":{"percentComplete":0,"status":"notStarted"}}}`), &j); err != nil {
		t.Fatal(err)
	}
	if j.Result == nil || j.Result.TrainingStatus.PercentComplete != 3 || j.Result.EvaluationStatus.Status != StatusNotStarted {
		t.Errorf("train job = %+v", j)
	}

	b, err := json.Marshal(TrainRequest{ModelLabel: "m", TrainingConfigVersion: "latest"})
	if err != nil || string(b) != `{"modelLabel":"m","trainingConfigVersion":"latest"}` {
		t.Errorf("train body = %s, %v", b, err)
	}
	b, err = json.Marshal(TrainRequest{ModelLabel: "m", TrainingConfigVersion: "latest",
		EvaluationOptions: &EvaluationOptions{Kind: "percentage", TrainingSplitPercentage: 80, TestingSplitPercentage: 20}})
	if err != nil || !strings.Contains(string(b), `"evaluationOptions":{"kind":"percentage","trainingSplitPercentage":80,"testingSplitPercentage":20}`) {
		t.Errorf("train body = %s, %v", b, err)
	}
	// Zero times are left out rather than sent as year 1.
	b, err = json.Marshal(Project{ProjectName: "p"})
	if err != nil || strings.Contains(string(b), "DateTime") {
		t.Errorf("project = %s, %v", b, err)
	}
}
