package replication

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/internal/secret"
	"nergateway/internal/testkit/recorded"
)

// recording loads a conversation Microsoft's SDK tests recorded against
// live Azure (package recorded says where each comes from).
func recording(t *testing.T, name string) recorded.Conversation {
	t.Helper()
	c, err := recorded.Load(name)
	require.NoError(t, err)
	require.NotEmpty(t, c.Source.Repository, "a recording says where it comes from")
	return c
}

// recordedHost is the host the recordings' sanitizer wrote.
const recordedHost = "https://Sanitized.cognitiveservices.azure.com"

// azureFake is a loopback authoring region answering from a table of
// handlers and keeping every request it received.
type azureFake struct {
	*httptest.Server
	mu     sync.Mutex
	routes map[string]http.HandlerFunc // "METHOD /path"
	got    []fakeRequest
}

type fakeRequest struct {
	method, path string
	body         []byte
}

func newAzureFake(t *testing.T) *azureFake {
	f := &azureFake{routes: map[string]http.HandlerFunc{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.got = append(f.got, fakeRequest{r.Method, r.URL.Path, body})
		h := f.routes[r.Method+" "+r.URL.Path]
		f.mu.Unlock()
		if h == nil {
			writeJSON(w, http.StatusNotFound, `{"error":{"code":"NotFound","message":"Resource not found."}}`)
			return
		}
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *azureFake) handle(method, path string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[method+" "+path] = h
}

// requests are the requests received with method, in order.
func (f *azureFake) requests(method string) []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeRequest
	for _, r := range f.got {
		if r.method == method {
			out = append(out, r)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// replay answers like a recorded entry, the recorded host replaced by the
// fake's in every header and the body.
func (f *azureFake) replay(status int, headers map[string]string, body json.RawMessage) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range headers {
			if k != "Content-Length" {
				w.Header().Set(k, strings.ReplaceAll(v, recordedHost, f.URL))
			}
		}
		w.WriteHeader(status)
		if len(body) > 0 && string(body) != "null" {
			_, _ = io.WriteString(w, strings.ReplaceAll(string(body), recordedHost, f.URL))
		}
	}
}

func pathOf(t *testing.T, rawURL string) string {
	t.Helper()
	i := strings.Index(rawURL, "/language/")
	require.GreaterOrEqual(t, i, 0, rawURL)
	p, _, _ := strings.Cut(rawURL[i:], "?")
	return p
}

func fakeClient(t *testing.T, f *azureFake) *api.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := api.NewClient(f.URL, secret.Secret("fake-key-0123456789"), api.ClientOptions{
		HTTPClient: &http.Client{Transport: tr}, AuthoringAPIVersion: "2025-05-15-preview",
		PollInterval: time.Millisecond, MaxPollInterval: 5 * time.Millisecond,
	})
	require.NoError(t, err)
	return c
}

// servePrimaryExport makes f a primary holding project, of kind, whose
// export answers as recorded (the 202 and the succeeded job of
// authoring-export-2025-05-15-preview) and whose result is file.
func servePrimaryExport(t *testing.T, f *azureFake, project, kind string, file []byte) {
	t.Helper()
	f.handle(http.MethodGet, api.ProjectPath(project), func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, `{"projectName":"`+project+`","projectKind":"`+kind+`","storageInputContainerName":"single-class-example",`+
			`"language":"en","multilingual":false,"createdDateTime":"2026-02-02T23:10:00Z","lastModifiedDateTime":"2026-02-02T23:12:00Z"}`)
	})
	f.handle(http.MethodGet, api.ProjectPath(project)+"/deployments", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, `{"value":[]}`)
	})
	rec := recording(t, "authoring-export-2025-05-15-preview")
	start, done := rec.Entries[0], rec.Entries[len(rec.Entries)-1]
	// The recording exported "single-class-project"; its URLs name it.
	rename := func(s string) string {
		return strings.ReplaceAll(s, "/projects/single-class-project/", "/projects/"+project+"/")
	}
	headers := map[string]string{}
	for k, v := range start.ResponseHeaders {
		headers[k] = rename(v)
	}
	f.handle(http.MethodPost, rename(pathOf(t, start.RequestURI)), f.replay(start.StatusCode, headers, nil))
	f.handle(http.MethodGet, rename(pathOf(t, done.RequestURI)), f.replay(done.StatusCode, done.ResponseHeaders,
		json.RawMessage(rename(string(done.ResponseBody)))))
	var job api.AuthoringJob
	require.NoError(t, json.Unmarshal(done.ResponseBody, &job))
	f.handle(http.MethodGet, rename(pathOf(t, job.ResultURL)), func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(file)
	})
}

// serveSecondaryImport makes f a secondary that lacks project until it
// imports it, answering the import as recorded
// (authoring-import-classification-2025-05-15-preview).
func serveSecondaryImport(t *testing.T, f *azureFake, project string) {
	t.Helper()
	rec := recording(t, "authoring-import-classification-2025-05-15-preview")
	start, done := rec.Entries[0], rec.Entries[len(rec.Entries)-1]
	var imported bool
	f.handle(http.MethodGet, api.ProjectPath(project), func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		ok := imported
		f.mu.Unlock()
		if !ok {
			writeJSON(w, 404, `{"error":{"code":"ProjectNotFound","message":"The project could not be found."}}`)
			return
		}
		writeJSON(w, 200, `{"projectName":"`+project+`","projectKind":"CustomSingleLabelClassification",`+
			`"storageInputContainerName":"dr-classes","language":"en","multilingual":false,`+
			`"createdDateTime":"2026-02-02T23:16:05Z","lastModifiedDateTime":"2026-02-02T23:16:05Z"}`)
	})
	f.handle(http.MethodGet, api.ProjectPath(project)+"/deployments", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, `{"value":[]}`)
	})
	replayStart := f.replay(start.StatusCode, start.ResponseHeaders, nil)
	f.handle(http.MethodPost, api.ProjectPath(project)+"/:import", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		imported = true
		f.mu.Unlock()
		replayStart(w, r)
	})
	f.handle(http.MethodGet, pathOf(t, done.RequestURI), f.replay(done.StatusCode, done.ResponseHeaders, done.ResponseBody))
}

// customNERFile is a custom NER export in the layout of Microsoft's
// documented export ("Back up and recover your custom NER models"), with
// members no Go type of the gateway declares at every level. No recording
// of a custom NER export body was found (the SDKs' authoring recordings
// are classification projects).
const customNERFile = `{
  "projectFileVersion": "2022-05-01",
  "stringIndexType": "Utf16CodeUnit",
  "metadata": {
    "projectKind": "CustomEntityRecognition",
    "storageInputContainerName": "single-class-example",
    "projectName": "single-class-project",
    "multilingual": false,
    "description": "Loan agreements",
    "language": "en-us",
    "settings": {},
    "futureMetadata": {"kept": [1, 2.50, "x"]}
  },
  "assets": {
    "projectKind": "CustomEntityRecognition",
    "entities": [{"category": "Date", "compositionSetting": "combineComponents"}],
    "documents": [
      {
        "location": "01.txt",
        "language": "en-us",
        "dataset": "Train",
        "entities": [
          {"regionOffset": 0, "regionLength": 500,
           "labels": [{"category": "Date", "offset": 10, "length": 10, "futureLabel": null}]}
        ]
      },
      {"location": "02.txt", "language": "en-us"}
    ]
  },
  "futureTopLevel": true
}`

func TestImportIsTheExportByteForByte(t *testing.T) {
	classification := recording(t, "authoring-import-classification-2025-05-15-preview")
	for name, file := range map[string][]byte{
		// The project file Azure accepted in the recorded import: the
		// schema the export returns (ExportedProject), written as the
		// recorder stored it.
		"recorded classification": classification.Entries[0].RequestBody,
		"documented custom NER":   []byte(customNERFile),
	} {
		t.Run(name, func(t *testing.T) {
			primary, secondary := newAzureFake(t), newAzureFake(t)
			var kind struct {
				Metadata struct{ ProjectKind string } `json:"metadata"`
			}
			require.NoError(t, json.Unmarshal(file, &kind))
			servePrimaryExport(t, primary, "single-class-project", kind.Metadata.ProjectKind, file)
			serveSecondaryImport(t, secondary, "single-class-dr")
			w := mustNew(t, Config{
				Primary: fakeClient(t, primary), Secondary: fakeClient(t, secondary),
				Projects:                []string{"single-class-project"},
				ProjectNames:            map[string]string{"single-class-project": "single-class-dr"},
				SecondaryContainer:      "dr-classes",
				AuthoringPostsPerMinute: 600000,
			})
			require.NoError(t, w.SyncOnce(context.Background()))

			imports := secondary.requests(http.MethodPost)
			require.Len(t, imports, 1)
			// What must change, changed by plain text replacement of the
			// two recorded values; every other byte as exported.
			var names struct {
				Metadata struct{ ProjectName, StorageInputContainerName string } `json:"metadata"`
			}
			require.NoError(t, json.Unmarshal(file, &names))
			want := strings.Replace(string(file), `"projectName": "`+names.Metadata.ProjectName+`"`, `"projectName": "single-class-dr"`, 1)
			want = strings.Replace(want, `"storageInputContainerName": "single-class-example"`, `"storageInputContainerName": "dr-classes"`, 1)
			require.NotEqual(t, string(file), want, "the test must rename something")
			assert.Equal(t, want, string(imports[0].body))
			assert.NotContains(t, string(imports[0].body), "null,", "no member the export lacks")

			st := statusOf(t, w, "single-class-project")
			assert.Equal(t, StateInSync, st.State)
			assert.Equal(t, DriftMissing, st.Drift)
			assert.Len(t, st.AssetsHash, 64)
		})
	}
}

func TestUnsupportedKindIsRefusedBeforeAnyWrite(t *testing.T) {
	primary, secondary := newAzureFake(t), newAzureFake(t)
	servePrimaryExport(t, primary, "summaries", "CustomAbstractiveSummarization", []byte(`{}`))
	serveSecondaryImport(t, secondary, "summaries")
	w := mustNew(t, Config{
		Primary: fakeClient(t, primary), Secondary: fakeClient(t, secondary),
		Projects: []string{"summaries"}, AuthoringPostsPerMinute: 600000,
	})
	err := w.SyncOnce(context.Background())
	var refused *UnsupportedKindError
	require.ErrorAs(t, err, &refused)
	assert.Contains(t, err.Error(), `project "summaries" has projectKind CustomAbstractiveSummarization`)
	assert.Contains(t, err.Error(), "remove it from PROJECT_NAMES")

	st := statusOf(t, w, "summaries")
	assert.Equal(t, StateRefused, st.State)
	require.NotNil(t, st.LastError)
	assert.Equal(t, CodeUnsupportedKind, st.LastError.Code)
	assert.Contains(t, st.LastError.Message, "CustomAbstractiveSummarization")
	assert.Empty(t, primary.requests(http.MethodPost), "nothing exported")
	assert.Empty(t, secondary.requests(http.MethodPost), "nothing imported")
	assert.Empty(t, secondary.requests(http.MethodGet), "the secondary is not even read")

	// A serving worker refuses it on its first pass, at start.
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	w2 := mustNew(t, Config{
		Primary: fakeClient(t, primary), Secondary: fakeClient(t, secondary),
		Projects: []string{"summaries"}, AuthoringPostsPerMinute: 600000, RetryMin: time.Millisecond,
	})
	go func() { runDone <- w2.Run(ctx) }()
	waitStatus(t, w2, "summaries", func(s ProjectStatus) bool { return s.State == StateRefused })
	cancel()
	require.NoError(t, <-runDone)
	assert.Empty(t, primary.requests(http.MethodPost))
}

// A project whose kind changed after the check read it (deleted and
// recreated as another kind) is refused where the export shows it, as at
// the check: state refused, nothing imported.
func TestUnsupportedKindIsRefusedAgainOnTheExport(t *testing.T) {
	primary, secondary := newAzureFake(t), newAzureFake(t)
	file := []byte(`{"projectFileVersion":"2025-05-15-preview","stringIndexType":"Utf16CodeUnit",` +
		`"metadata":{"projectKind":"CustomAbstractiveSummarization","projectName":"summaries","language":"en"},"assets":{}}`)
	servePrimaryExport(t, primary, "summaries", "CustomEntityRecognition", file)
	serveSecondaryImport(t, secondary, "summaries")
	w := mustNew(t, Config{
		Primary: fakeClient(t, primary), Secondary: fakeClient(t, secondary),
		Projects: []string{"summaries"}, AuthoringPostsPerMinute: 600000,
	})
	err := w.SyncOnce(context.Background())
	var refused *UnsupportedKindError
	require.ErrorAs(t, err, &refused)
	assert.Contains(t, err.Error(), "CustomAbstractiveSummarization")

	st := statusOf(t, w, "summaries")
	assert.Equal(t, StateRefused, st.State)
	require.NotNil(t, st.LastError)
	assert.Equal(t, CodeUnsupportedKind, st.LastError.Code)
	assert.Empty(t, secondary.requests(http.MethodPost), "nothing imported")
}
