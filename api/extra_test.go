package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
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
		if err := d.Decode(x.v); err != nil {
			t.Fatalf("invalid JSON %s: %v", x.raw, err)
		}
	}
	if !reflect.DeepEqual(va, vb) {
		t.Fatalf("JSON differs:\n got  %s\n want %s", a, b)
	}
}

// roundTrip decodes in into a new T, encodes it again and checks that
// nothing was lost or added.
func roundTrip[T any](t *testing.T, in string) *T {
	t.Helper()
	v := new(T)
	if err := json.Unmarshal([]byte(in), v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
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
	if v.DisplayName != "batch 7" || len(v.Tasks) != 2 || v.Tasks[0].Parameters.ProjectName != "P" ||
		v.Tasks[0].Parameters.LoggingOptOut == nil || *v.Tasks[0].Parameters.LoggingOptOut {
		t.Fatalf("known fields: %+v", v)
	}
	for name, extra := range map[string]Extra{
		"top":        v.Extra,
		"input":      v.AnalysisInput.Extra,
		"document":   v.AnalysisInput.Documents[0].Extra,
		"task":       v.Tasks[0].Extra,
		"parameters": v.Tasks[0].Parameters.Extra,
		"prebuilt":   v.Tasks[1].Parameters.Extra,
	} {
		if len(extra) == 0 {
			t.Errorf("%s: unknown members not kept", name)
		}
	}
	if got := string(v.Tasks[1].Parameters.Extra["piiCategories"]); got != `["Person"]` {
		t.Errorf("prebuilt parameter = %s", got)
	}
	if v.AnalysisInput.Documents[1].Extra != nil {
		t.Errorf("a document without unknowns has Extra %v", v.AnalysisInput.Documents[1].Extra)
	}

	// A rewrite of one known name keeps the rest, as the proxy needs.
	v.Tasks[0].Parameters.ProjectName = "P2"
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var again SubmitRequest
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatal(err)
	}
	if again.Tasks[0].Parameters.ProjectName != "P2" || string(again.Tasks[0].Parameters.Extra["newKnob"]) != `"on"` {
		t.Errorf("after rewrite: %s", b)
	}
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
	if v.LastUpdatedDateTime.IsZero() || v.LastUpdateDateTime.IsZero() || v.LastUpdatedDateTime.Equal(v.LastUpdateDateTime) {
		t.Errorf("both lastUpdated names must be read separately: %v %v", v.LastUpdatedDateTime, v.LastUpdateDateTime)
	}
	if v.Extra["jobFuture"] == nil || v.Statistics.Extra["statFuture"] == nil || v.Tasks.Extra["summaryFuture"] == nil ||
		v.Tasks.Items[0].Extra["itemFuture"] == nil {
		t.Errorf("new fields lost: %+v", v)
	}
	r := roundTrip[CustomEntitiesResult](t, string(v.Tasks.Items[0].Results))
	if r.Documents[0].Entities[0].Extra["entityFuture"] == nil || r.Errors[0].Error.Code != CodeInvalidArgument {
		t.Errorf("results: %+v", r)
	}

	// Each spelling alone survives too, and only the one given is written.
	for _, name := range []string{"lastUpdatedDateTime", "lastUpdateDateTime"} {
		one := roundTrip[JobState](t, `{"jobId":"j","createdDateTime":"2020-10-01T15:00:45Z","`+name+
			`":"2020-10-01T15:01:03Z","status":"running","errors":[],"tasks":{"completed":0,"failed":0,"inProgress":1,"total":1}}`)
		if one.LastUpdatedDateTime.IsZero() == one.LastUpdateDateTime.IsZero() {
			t.Errorf("%s: %+v", name, one)
		}
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
		if len(extra) != 1 {
			t.Errorf("%s: Extra = %v, want one kept member", name, extra)
		}
	}

	// The replication worker's rewrite: two names change, the rest stays.
	v.Metadata.ProjectName, v.Metadata.StorageInputContainerName = "P-secondary", "container2"
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
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
	if j.ResultURL == "" || j.Extra["jobFuture"] == nil {
		t.Errorf("authoring job: %+v", j)
	}
}

func TestKnownFieldsMatchCaseInsensitively(t *testing.T) {
	// encoding/json matches member names with Unicode simple folding; a
	// member it decodes into a field must not also land in Extra, or the
	// re-encoded body would carry the value twice.
	in := `{"JOBID":"j","Status":"running","ſtatus":"running","\u212Aind":"x","createddatetime":"2020-10-01T15:00:45Z","errors":[],"tasks":{"TOTAL":1}}`
	var v JobState
	if err := json.Unmarshal([]byte(in), &v); err != nil {
		t.Fatal(err)
	}
	if v.JobID != "j" || v.Status != "running" || v.Tasks.Total != 1 || v.CreatedDateTime.IsZero() {
		t.Errorf("known fields not matched: %+v", v)
	}
	if len(v.Extra) != 1 || v.Extra["\u212Aind"] == nil {
		t.Errorf("Extra = %v, want only the unknown Kelvin-sign member", v.Extra)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["status"]; !ok || len(m) != 6 {
		t.Errorf("encoded %s", b)
	}

	// "kind" is a declared field of Task, so the Kelvin-sign spelling is
	// known there.
	var task Task
	if err := json.Unmarshal([]byte(`{"\u212Aind":"CustomEntityRecognition","parameters":{}}`), &task); err != nil {
		t.Fatal(err)
	}
	if task.Kind != KindCustomEntityRecognition || task.Extra != nil {
		t.Errorf("task = %+v", task)
	}
}

func TestExtraNeverShadowsAField(t *testing.T) {
	v := JobState{JobID: "j", Status: StatusRunning, Extra: Extra{
		"status": json.RawMessage(`"failed"`), "Status": json.RawMessage(`"failed"`), "new": json.RawMessage(`1`),
	}}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back JobState
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Status != StatusRunning || bytes.Contains(b, []byte(`:"failed"`)) || string(back.Extra["new"]) != "1" {
		t.Errorf("encoded %s", b)
	}
}

func TestNullAndEmpty(t *testing.T) {
	var v SubmitRequest
	if err := json.Unmarshal([]byte(`{"analysisInput":null,"tasks":[null]}`), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Tasks) != 1 || v.AnalysisInput.Documents != nil {
		t.Errorf("%+v", v)
	}
	b, err := json.Marshal(SubmitRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, b, []byte(`{"analysisInput":{"documents":null},"tasks":null}`))
	for _, bad := range []string{`[]`, `{"tasks":{}}`, `{"analysisInput":{"documents":[{"id":1}]}}`, `{`} {
		if err := json.Unmarshal([]byte(bad), new(SubmitRequest)); err == nil {
			t.Errorf("%s decoded without error", bad)
		}
	}
}

func TestFoldName(t *testing.T) {
	for _, tc := range [][2]string{{"status", "STATUS"}, {"status", "ſtatus"}, {"kind", "\u212Aind"}, {"jobId", "JOBid"}} {
		if foldName(tc[0]) != foldName(tc[1]) {
			t.Errorf("foldName(%q) != foldName(%q)", tc[0], tc[1])
		}
		if !bytes.EqualFold([]byte(tc[0]), []byte(tc[1])) {
			t.Errorf("test case %q/%q is not an EqualFold pair", tc[0], tc[1])
		}
	}
	if foldName("status") == foldName("statuses") {
		t.Error("different names fold together")
	}
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
		if err != nil {
			t.Fatalf("encode a decoded request: %v", err)
		}
		var v2 SubmitRequest
		if err := json.Unmarshal(b1, &v2); err != nil {
			t.Fatalf("decode own encoding %s: %v", b1, err)
		}
		b2, err := json.Marshal(v2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("second round trip changed the body:\n %s\n %s", b1, b2)
		}
		if !reflect.DeepEqual(stripExtra(v1), stripExtra(v2)) {
			t.Fatalf("declared fields changed:\n %+v\n %+v", v1, v2)
		}
		if len(v1.Extra) != len(v2.Extra) {
			t.Fatalf("unknown members %v became %v", v1.Extra, v2.Extra)
		}
	})
}
