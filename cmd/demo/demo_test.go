package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/internal/testkit/loopback"
	"nergateway/internal/testkit/nertest"
	"nergateway/internal/testkit/syncbuf"
)

// TestDemoDoesWhatItPrints runs `demo` in process and follows the
// instructions it prints: submit and poll with demo-key, watch the
// secondary catch up, take the primary down and bring it back.
func TestDemoDoesWhatItPrints(t *testing.T) {
	addrs := loopback.FreeAddrs(t, 2)
	addr := addrs[0]
	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	env := map[string]string{"GATEWAY_ADDR": addr, "GATEWAY_OPS_ADDR": addrs[1]}
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, stdout, stderr) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(20 * time.Second):
			assert.Fail(t, "demo did not stop")
		}
	}()
	eventually(t, "the demo to print its instructions", func() bool { return strings.Contains(stdout.String(), "Stop: Ctrl-C") })
	help := stdout.String()
	gw := "http://" + addr
	assert.Contains(t, help, "Ocp-Apim-Subscription-Key: demo-key")
	assert.Contains(t, stderr.String(), "level=INFO", "the demo logs text")

	body := regexp.MustCompile(`-d '(\{.*\})'`).FindStringSubmatch(help)
	require.Len(t, body, 2, "a submit body in:\n%s", help)
	status := regexp.MustCompile(`Region state: curl -s (http://\S+/status)`).FindStringSubmatch(help)
	require.Len(t, status, 2, "a /status curl in:\n%s", help)
	faults := regexp.MustCompile(`curl -s -X POST '(http://[^']+/_emulator/faults)' -d '(\{[^']+\})'`).FindStringSubmatch(help)
	require.Len(t, faults, 3, "a curl that takes the primary down in:\n%s", help)

	call := func(method, url, payload, key string) (*http.Response, []byte) {
		req, err := http.NewRequest(method, url, strings.NewReader(payload))
		require.NoError(t, err)
		if key != "" {
			req.Header.Set("Ocp-Apim-Subscription-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp, data
	}
	submitAndPoll := func() api.JobState {
		resp, data := call(http.MethodPost, gw+"/language/analyze-text/jobs?api-version=2023-04-01", body[1], "demo-key")
		require.Equal(t, http.StatusAccepted, resp.StatusCode, string(data))
		loc := resp.Header.Get("Operation-Location")
		var st api.JobState
		eventually(t, "the demo job to finish", func() bool {
			_, data := call(http.MethodGet, loc, "", "demo-key")
			return json.Unmarshal(data, &st) == nil && api.Terminal(st.Status)
		})
		return st
	}
	st := submitAndPoll()
	require.Equal(t, api.StatusSucceeded, st.Status)
	assert.Contains(t, stderr.String(), "msg=access method=POST", "the demo's access log")
	assert.Contains(t, stderr.String(), "key=demo-app", "names the key, never the key itself")
	assert.NotEmpty(t, nertest.Entities(t, st)["1"], "the demo model finds entities")

	eventually(t, "the worker to fill the secondary", func() bool {
		_, data := call(http.MethodGet, status[1], "", "")
		return strings.Contains(string(data), `"state": "in-sync"`)
	})
	// /status shows the training documents copied and the canary's
	// agreement for the demo project.
	_, data := call(http.MethodGet, status[1], "", "")
	var replicated struct {
		Replication struct {
			Projects []struct {
				Project   string `json:"project"`
				Documents struct{ Checked, Copied, Missing int }
				Canary    []struct {
					Deployment string  `json:"deployment"`
					Agreement  float64 `json:"agreement"`
				} `json:"canary"`
			} `json:"projects"`
		} `json:"replication"`
	}
	require.NoError(t, json.Unmarshal(data, &replicated), string(data))
	require.Len(t, replicated.Replication.Projects, 1, string(data))
	demo := replicated.Replication.Projects[0]
	assert.Equal(t, "demo", demo.Project)
	assert.Equal(t, 4, demo.Documents.Checked, string(data))
	assert.Equal(t, 4, demo.Documents.Copied, string(data))
	require.Len(t, demo.Canary, 1, string(data))
	assert.Equal(t, 1.0, demo.Canary[0].Agreement, string(data))

	authoring := regexp.MustCompile(`curl -s '(http://[^']+/language/authoring/[^']+)' -H 'Ocp-Apim-Subscription-Key: ([^']+)'`).FindStringSubmatch(help)
	require.Len(t, authoring, 3, "an authoring curl in:\n%s", help)
	resp, data := call(http.MethodGet, authoring[1], "", authoring[2])
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the authoring key lists projects: %s", data)
	resp, _ = call(http.MethodGet, authoring[1], "", "demo-key")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the runtime key may not")

	resp, _ = call(http.MethodPost, faults[1], faults[2], "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	failedOver := submitAndPoll()
	assert.Equal(t, nertest.Entities(t, st), nertest.Entities(t, failedOver), "the secondary answers as the primary did")

	resp, _ = call(http.MethodDelete, faults[1], "", "")
	require.Less(t, resp.StatusCode, 300)
	eventually(t, "failback to the primary", func() bool {
		_, data := call(http.MethodGet, status[1], "", "")
		var s struct {
			Regions []struct{ Name, Breaker string }
		}
		return json.Unmarshal(data, &s) == nil && len(s.Regions) == 2 && s.Regions[0].Breaker == "closed"
	})

	// Step 6: a job the primary accepted, the primary dies at once, the
	// job is rescued to the secondary under the same id.
	require.Contains(t, help, "6. Job rescue")
	resp, data = call(http.MethodPost, gw+"/language/analyze-text/jobs?api-version=2023-04-01", body[1], "demo-key")
	require.Equal(t, http.StatusAccepted, resp.StatusCode, string(data))
	loc := resp.Header.Get("Operation-Location")
	resp, _ = call(http.MethodPost, faults[1], faults[2], "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var rescued api.JobState
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, data := call(http.MethodGet, loc, "", "demo-key")
		if resp.StatusCode == http.StatusOK && json.Unmarshal(data, &rescued) == nil && api.Terminal(rescued.Status) {
			break
		}
		require.True(t, time.Now().Before(deadline), "the demo job was not rescued: %d %s", resp.StatusCode, data)
	}
	assert.Equal(t, api.StatusSucceeded, rescued.Status)
	assert.Equal(t, loc[strings.LastIndex(loc, "/")+1:strings.Index(loc, "?")], rescued.JobID)
	assert.Equal(t, nertest.Entities(t, st), nertest.Entities(t, rescued))
	_, data = call(http.MethodGet, status[1], "", "")
	assert.Contains(t, string(data), `"jobRescue"`)
	assert.Contains(t, stderr.String(), "job rescued")
}
