package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sameJSON fails unless a and b hold the same JSON value, whatever the
// member order and spacing.
func sameJSON(t *testing.T, a, b []byte) {
	t.Helper()
	var va, vb any
	for _, x := range []struct {
		raw []byte
		v   *any
	}{{a, &va}, {b, &vb}} {
		d := json.NewDecoder(bytes.NewReader(x.raw))
		d.UseNumber()
		err := d.Decode(x.v)
		require.NoError(t, err, "invalid JSON %s: %v", x.raw, err)
	}
	require.Equal(t, vb, va, "JSON differs:\n got  %s\n want %s", a, b)
}

// roundTrip decodes in into a new T, encodes it again and checks that
// nothing was lost or added.
func roundTrip[T any](t *testing.T, in string) *T {
	t.Helper()
	v := new(T)
	require.NoError(t, json.Unmarshal([]byte(in), v), "decode")
	out, err := json.Marshal(v)
	require.NoError(t, err, "encode")
	sameJSON(t, out, []byte(in))
	return v
}

const submitWithUnknowns = `{
  "displayName": "batch 7",
  "futureTopLevel": {"nested": [1, 2, {"deep": true}]},
  "analysisInput": {
    "documents": [
      {"id": "1", "language": "en", "text": "Seattle is rainy", "docHint": "x", "priority": 3},
      {"id": "2", "text": "Portland"}
    ],
    "inputExtra": null
  },
  "tasks": [
    {"kind": "CustomEntityRecognition", "taskName": "ner", "taskFuture": 1,
     "parameters": {"projectName": "P", "deploymentName": "D", "stringIndexType": "Utf16CodeUnit",
                    "loggingOptOut": false, "newKnob": "on", "modelVersion": "latest"}},
    {"kind": "PiiEntityRecognition", "parameters": {"domain": "phi", "piiCategories": ["Person"]}}
  ]
}`

func TestSubmitRequestKeepsUnknownMembers(t *testing.T) {
	v := roundTrip[SubmitRequest](t, submitWithUnknowns)
	require.Equal(t, "batch 7", v.DisplayName, "known fields: %+v", v)
	require.Len(t, v.Tasks, 2, "known fields: %+v", v)
	require.Equal(t, "P", v.Tasks[0].Parameters.ProjectName, "known fields: %+v", v)
	require.NotNil(t, v.Tasks[0].Parameters.LoggingOptOut, "known fields: %+v", v)
	require.False(t, *v.Tasks[0].Parameters.LoggingOptOut, "known fields: %+v", v)
	for name, extra := range map[string]Extra{
		"top":        v.Extra,
		"input":      v.AnalysisInput.Extra,
		"document":   v.AnalysisInput.Documents[0].Extra,
		"task":       v.Tasks[0].Extra,
		"parameters": v.Tasks[0].Parameters.Extra,
		"prebuilt":   v.Tasks[1].Parameters.Extra,
	} {
		assert.NotEmpty(t, extra, "%s: unknown members not kept", name)
	}
	got := string(v.Tasks[1].Parameters.Extra["piiCategories"])
	assert.Equal(t, `["Person"]`, got, "prebuilt parameter")
	assert.Nil(t, v.AnalysisInput.Documents[1].Extra, "a document without unknowns has Extra")

	// A rewrite of one known name keeps the rest, as the proxy needs.
	v.Tasks[0].Parameters.ProjectName = "P2"
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var again SubmitRequest
	require.NoError(t, json.Unmarshal(b, &again))
	assert.Equal(t, "P2", again.Tasks[0].Parameters.ProjectName, "after rewrite: %s", b)
	assert.Equal(t, `"on"`, string(again.Tasks[0].Parameters.Extra["newKnob"]), "after rewrite: %s", b)
}

func TestJobStateKeepsNewFields(t *testing.T) {
	in := `{"jobId":"c0f2a446-0000-4000-8000-000000000001","displayName":"d",
	  "createdDateTime":"2020-10-01T15:00:45Z","lastUpdatedDateTime":"2020-10-01T15:01:03Z",
	  "lastUpdateDateTime":"2020-10-01T15:01:04Z","expirationDateTime":"2020-10-02T15:00:45Z",
	  "status":"succeeded","errors":[],"nextLink":"https://host/language/analyze-text/jobs/x?top=1",
	  "jobFuture":{"a":1},
	  "statistics":{"documentsCount":2,"validDocumentsCount":2,"erroneousDocumentsCount":0,"transactionsCount":2,"statFuture":9},
	  "tasks":{"completed":1,"failed":0,"inProgress":0,"total":1,"summaryFuture":"s","items":[
	    {"kind":"CustomEntityRecognitionLROResults","taskName":"t","lastUpdateDateTime":"2020-10-01T15:01:03Z",
	     "status":"succeeded","itemFuture":[1],
	     "results":{"projectName":"P","deploymentName":"D","errors":[{"id":"3","error":{"code":"InvalidArgument","message":"m"}}],
	       "documents":[{"id":"1","warnings":[],"entities":[
	         {"text":"Pacific Northwest","category":"USRegion","offset":45,"length":17,"confidenceScore":0.85,"entityFuture":true}]}]}}]}}`
	v := roundTrip[JobState](t, in)
	assert.False(t, v.LastUpdatedDateTime.IsZero(), "both lastUpdated names must be read separately: %v %v", v.LastUpdatedDateTime, v.LastUpdateDateTime)
	assert.False(t, v.LastUpdateDateTime.IsZero(), "both lastUpdated names must be read separately: %v %v", v.LastUpdatedDateTime, v.LastUpdateDateTime)
	assert.False(t, v.LastUpdatedDateTime.Equal(v.LastUpdateDateTime), "both lastUpdated names must be read separately: %v %v", v.LastUpdatedDateTime, v.LastUpdateDateTime)
	if assert.NotNil(t, v.Extra["jobFuture"], "new fields lost: %+v", v) {
		if assert.NotNil(t, v.Statistics.Extra["statFuture"], "new fields lost: %+v", v) {
			if assert.NotNil(t, v.Tasks.Extra["summaryFuture"], "new fields lost: %+v", v) {
				assert.NotNil(t, v.Tasks.Items[0].Extra["itemFuture"], "new fields lost: %+v", v)
			}
		}
	}
	r := roundTrip[CustomEntitiesResult](t, string(v.Tasks.Items[0].Results))
	if assert.NotNil(t, r.Documents[0].Entities[0].Extra["entityFuture"], "results: %+v", r) {
		assert.Equal(t, CodeInvalidArgument, r.Errors[0].Error.Code, "results: %+v", r)
	}

	// Each spelling alone survives too, and only the one given is written.
	for _, name := range []string{"lastUpdatedDateTime", "lastUpdateDateTime"} {
		one := roundTrip[JobState](t, `{"jobId":"j","createdDateTime":"2020-10-01T15:00:45Z","`+name+
			`":"2020-10-01T15:01:03Z","status":"running","errors":[],"tasks":{"completed":0,"failed":0,"inProgress":1,"total":1}}`)
		assert.NotEqual(t, one.LastUpdateDateTime.IsZero(), one.LastUpdatedDateTime.IsZero(), "%s: %+v", name, one)
	}
}

func TestExportedProjectKeepsUnknownMembers(t *testing.T) {
	in := `{"projectFileVersion":"2022-05-01","stringIndexType":"Utf16CodeUnit","fileFuture":"f",
	 "metadata":{"projectKind":"CustomEntityRecognition","projectName":"P","storageInputContainerName":"container",
	   "language":"en","multilingual":false,"description":"d","settings":{"confidenceThreshold":0.5,"settingFuture":1},"metaFuture":[1,2]},
	 "assets":{"projectKind":"CustomEntityRecognition","assetsFuture":{"x":null},"entities":[{"category":"Date","entityFuture":"e"}],
	   "documents":[{"location":"01.txt","language":"en-us","dataset":"Train","docFuture":1,
	     "entities":[{"regionOffset":0,"regionLength":1793,"regionFuture":2,
	                  "labels":[{"category":"Date","offset":5,"length":9,"labelFuture":3}]}]}]}}`
	v := roundTrip[ExportedProject](t, in)
	checks := map[string]Extra{
		"file":     v.Extra,
		"metadata": v.Metadata.Extra,
		"settings": v.Metadata.Settings.Extra,
		"assets":   v.Assets.Extra,
		"entity":   v.Assets.Entities[0].Extra,
		"document": v.Assets.Documents[0].Extra,
		"region":   v.Assets.Documents[0].Entities[0].Extra,
		"label":    v.Assets.Documents[0].Entities[0].Labels[0].Extra,
	}
	for name, extra := range checks {
		assert.Len(t, extra, 1, "%s: Extra = %v, want one kept member", name, extra)
	}

	// The replication worker's rewrite: two names change, the rest stays.
	v.Metadata.ProjectName, v.Metadata.StorageInputContainerName = "P-secondary", "container2"
	out, err := json.Marshal(v)
	require.NoError(t, err)
	want := bytes.Replace(bytes.Replace([]byte(in), []byte(`"projectName":"P"`), []byte(`"projectName":"P-secondary"`), 1),
		[]byte(`"storageInputContainerName":"container"`), []byte(`"storageInputContainerName":"container2"`), 1)
	sameJSON(t, out, want)
}

func TestOtherTypesKeepUnknownMembers(t *testing.T) {
	roundTrip[Project](t, `{"projectName":"p","projectKind":"CustomEntityRecognition","storageInputContainerName":"c",
	  "language":"en","multilingual":true,"createdDateTime":"2022-04-18T13:53:03Z","lastModifiedDateTime":"2022-04-18T13:53:03Z",
	  "settings":{"confidenceThreshold":0.7},"projectFuture":{"a":"b"}}`)
	j := roundTrip[AuthoringJob](t, `{"jobId":"4d37982f_637858368000000000","createdDateTime":"2022-04-18T15:23:07Z",
	  "lastUpdatedDateTime":"2022-04-18T15:23:08Z","expirationDateTime":"2022-04-25T15:23:07Z","status":"succeeded",
	  "resultUrl":"https://h/language/authoring/analyze-text/projects/p/export/jobs/x/result?api-version=2022-05-01",
	  "jobFuture":1}`)
	assert.NotEqual(t, "", j.ResultURL, "authoring job: %+v", j)
	assert.NotNil(t, j.Extra["jobFuture"], "authoring job: %+v", j)
}

func TestKnownFieldsMatchCaseInsensitively(t *testing.T) {
	// encoding/json matches member names with Unicode simple folding; a
	// member it decodes into a field must not also land in Extra, or the
	// re-encoded body would carry the value twice.
	in := `{"JOBID":"j","Status":"running","ſtatus":"running","\u212Aind":"x","createddatetime":"2020-10-01T15:00:45Z","errors":[],"tasks":{"TOTAL":1}}`
	var v JobState
	require.NoError(t, json.Unmarshal([]byte(in), &v))
	assert.Equal(t, "j", v.JobID, "known fields not matched: %+v", v)
	assert.Equal(t, "running", v.Status, "known fields not matched: %+v", v)
	assert.Equal(t, 1, v.Tasks.Total, "known fields not matched: %+v", v)
	assert.False(t, v.CreatedDateTime.IsZero(), "known fields not matched: %+v", v)
	if assert.Len(t, v.Extra, 1, "Extra, want only the unknown Kelvin-sign member") {
		assert.NotNil(t, v.Extra["\u212Aind"], "Extra, want only the unknown Kelvin-sign member")
	}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &m))
	_, ok := m["status"]
	if assert.True(t, ok, "encoded %s", b) {
		assert.Len(t, m, 6, "encoded %s", b)
	}

	// "kind" is a declared field of Task, so the Kelvin-sign spelling is
	// known there.
	var task Task
	require.NoError(t, json.Unmarshal([]byte(`{"\u212Aind":"CustomEntityRecognition","parameters":{}}`), &task))
	assert.Equal(t, KindCustomEntityRecognition, task.Kind, "task = %+v", task)
	assert.Nil(t, task.Extra, "task = %+v", task)
}

func TestExtraNeverShadowsAField(t *testing.T) {
	v := JobState{JobID: "j", Status: StatusRunning, Extra: Extra{
		"status": json.RawMessage(`"failed"`), "Status": json.RawMessage(`"failed"`), "new": json.RawMessage(`1`),
	}}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var back JobState
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, StatusRunning, back.Status, "encoded %s", b)
	assert.False(t, bytes.Contains(b, []byte(`:"failed"`)), "encoded %s", b)
	assert.Equal(t, "1", string(back.Extra["new"]), "encoded %s", b)
}

func TestNullAndEmpty(t *testing.T) {
	var v SubmitRequest
	require.NoError(t, json.Unmarshal([]byte(`{"analysisInput":null,"tasks":[null]}`), &v))
	if assert.Len(t, v.Tasks, 1, "%+v", v) {
		assert.Nil(t, v.AnalysisInput.Documents, "%+v", v)
	}
	b, err := json.Marshal(SubmitRequest{})
	require.NoError(t, err)
	sameJSON(t, b, []byte(`{"analysisInput":{"documents":null},"tasks":null}`))
	for _, bad := range []string{`[]`, `{"tasks":{}}`, `{"analysisInput":{"documents":[{"id":1}]}}`, `{`} {
		assert.Error(t, json.Unmarshal([]byte(bad), new(SubmitRequest)), "%s decoded without error", bad)
	}
}

func TestFoldName(t *testing.T) {
	for _, tc := range [][2]string{{"status", "STATUS"}, {"status", "ſtatus"}, {"kind", "\u212Aind"}, {"jobId", "JOBid"}} {
		assert.Equal(t, foldName(tc[1]), foldName(tc[0]), "foldName(%q) != foldName(%q)", tc[0], tc[1])
		assert.True(t, bytes.EqualFold([]byte(tc[0]), []byte(tc[1])), "test case %q/%q is not an EqualFold pair", tc[0], tc[1])
	}
	assert.NotEqual(t, foldName("statuses"), foldName("status"), "different names fold together")
}

// stripExtra drops every Extra of r, leaving the declared fields.
func stripExtra(r SubmitRequest) SubmitRequest {
	r.Extra = nil
	r.AnalysisInput.Extra = nil
	r.AnalysisInput.Documents = append([]Document(nil), r.AnalysisInput.Documents...)
	for i := range r.AnalysisInput.Documents {
		r.AnalysisInput.Documents[i].Extra = nil
	}
	r.Tasks = append([]Task(nil), r.Tasks...)
	for i := range r.Tasks {
		r.Tasks[i].Extra = nil
		r.Tasks[i].Parameters.Extra = nil
	}
	return r
}

// FuzzSubmitRoundTrip checks that whatever JSON a client submits, decoding
// it, encoding it and decoding it again changes nothing: the proxy rewrites
// submit bodies and must not alter or drop what it does not touch.
func FuzzSubmitRoundTrip(f *testing.F) {
	for _, seed := range []string{
		submitWithUnknowns,
		`{}`, `null`, `{"tasks":[null]}`, `{"analysisInput":null}`,
		`{"Tasks":[{"KIND":"x","Parameters":{"PROJECTNAME":"p"}}],"tasks":[]}`,
		`{"ſtatus":1,"\u212Aind":2,"displayname":"d","displayName":"e"}`,
		`{"x":"<html>&","y":1e400,"z":"\u2028","\u00ff":[{}],"":""}`,
		`{"analysisInput":{"documents":[{"id":"1","text":"caf\u00e9 \ud83d\ude00","language":"fr","x":{"y":[]}}]}}`,
		`{"tasks":[{"parameters":{"loggingOptOut":null,"stringIndexType":"TextElements_v8","extra":{"a":[1,2]}}}]}`,
		"{\"k\xff\":\"v\xfe\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var v1 SubmitRequest
		if err := json.Unmarshal(in, &v1); err != nil {
			return
		}
		b1, err := json.Marshal(v1)
		require.NoError(t, err, "encode a decoded request")
		var v2 SubmitRequest
		err = json.Unmarshal(b1, &v2)
		require.NoError(t, err, "decode own encoding %s: %v", b1, err)
		b2, err := json.Marshal(v2)
		require.NoError(t, err)
		require.Equal(t, b2, b1, "second round trip changed the body:\n\n")
		require.Equal(t, stripExtra(v2), stripExtra(v1), "declared fields changed:\n %+v\n %+v", v1, v2)
		require.Len(t, v1.Extra, len(v2.Extra), "unknown members %v became %v", v1.Extra, v2.Extra)
	})
}
