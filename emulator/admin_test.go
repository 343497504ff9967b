package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
)

func adminDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

func TestAdminStorageSeedAndClock(t *testing.T) {
	rg := newRegion(t, Options{JobDuration: 10 * time.Second})

	status, _ := adminDo(t, http.MethodPut, rg.URL+"/_emulator/storage/c9/x.txt", "Köln 😀")
	assert.Equal(t, http.StatusNoContent, status)
	text, ok := rg.Document("c9", "x.txt")
	require.True(t, ok)
	assert.Equal(t, "Köln 😀", text)
	status, body := adminDo(t, http.MethodGet, rg.URL+"/_emulator/storage/c9/x.txt", "")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "Köln 😀", body)
	status, _ = adminDo(t, http.MethodGet, rg.URL+"/_emulator/storage/c9/none.txt", "")
	assert.Equal(t, http.StatusNotFound, status)

	seed, err := json.Marshal(demoProject())
	require.NoError(t, err)
	status, body = adminDo(t, http.MethodPost, rg.URL+"/_emulator/seed", string(seed))
	require.Equal(t, http.StatusNoContent, status, body)
	status, _ = adminDo(t, http.MethodPost, rg.URL+"/_emulator/seed", `{"name":"bad name"}`)
	assert.Equal(t, http.StatusBadRequest, status)
	status, _ = adminDo(t, http.MethodPost, rg.URL+"/_emulator/seed", `{"name":"x","documents":[{"name":"a","text":"ab","labels":[{"category":"C","offset":1,"length":5}]}],"deploymentName":"d"}`)
	assert.Equal(t, http.StatusBadRequest, status, "labels outside the text fail the seed")

	loc := rg.submit(submitBody("demo", "production", "", "Anna"))
	assert.Equal(t, api.StatusNotStarted, rg.job(loc).Status)
	status, body = adminDo(t, http.MethodPost, rg.URL+"/_emulator/clock/advance?d=10s", "")
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, t0.Add(10*time.Second).Format(time.RFC3339))
	assert.Equal(t, api.StatusSucceeded, rg.job(loc).Status)
	status, _ = adminDo(t, http.MethodPost, rg.URL+"/_emulator/clock/advance?d=soon", "")
	assert.Equal(t, http.StatusBadRequest, status)

	status, body = adminDo(t, http.MethodGet, rg.URL+"/_emulator/calls", "")
	require.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"submit":1,"job":2}`, body)
	status, _ = adminDo(t, http.MethodDelete, rg.URL+"/_emulator/calls", "")
	assert.Equal(t, http.StatusNoContent, status)
	assert.Zero(t, rg.Calls("job"))

	status, _ = adminDo(t, http.MethodGet, rg.URL+"/_emulator/nothing", "")
	assert.Equal(t, http.StatusNotFound, status)
}

func TestAdminClockNeedsManualClock(t *testing.T) {
	s, err := NewServer(Options{Key: testKey})
	require.NoError(t, err)
	defer s.Close()
	status, _ := adminDo(t, http.MethodPost, s.URL+"/_emulator/clock/advance?d=1s", "")
	assert.Equal(t, http.StatusConflict, status)
}

func TestNewValidatesOptions(t *testing.T) {
	for _, o := range []Options{{}, {Key: "k", JobDuration: -1}, {Key: "k", PageSize: -1}, {Key: "k", AuthoringPostsPerMinute: -1}} {
		_, err := New(o)
		assert.Error(t, err, "%+v", o)
	}
	e, err := New(Options{Key: "k"})
	require.NoError(t, err)
	assert.Equal(t, "emulator", e.Name())
}

func TestBodyTooLarge(t *testing.T) {
	rg := newRegion(t, Options{})
	big := `{"displayName":"` + strings.Repeat("x", maxBodyBytes) + `"}`
	r := rg.do(http.MethodPost, q(api.JobsPath), big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.status)
	assert.Equal(t, api.CodeRequestTooLarge, r.apiError(t).Code)
}

func TestExportOfAnEmptyProjectHasAssets(t *testing.T) {
	rg := newRegion(t, Options{})
	r := rg.do(http.MethodPatch, q(api.ProjectPath("empty")), `{"projectKind":"CustomEntityRecognition","storageInputContainerName":"c","language":"en"}`)
	require.Equal(t, http.StatusCreated, r.status)
	var file map[string]any
	require.NoError(t, json.Unmarshal(rg.export("empty"), &file))
	assert.Equal(t, map[string]any{"projectKind": api.ProjectKindCustomNER, "entities": []any{}, "documents": []any{}}, file["assets"])
}
