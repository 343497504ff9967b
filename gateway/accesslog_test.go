package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/emulator"
)

// accessLines returns the access log lines a gateway wrote, decoded.
func accessLines(t *testing.T, gw *testGateway) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(gw.Logs.String()) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "access" {
			out = append(out, m)
		}
	}
	return out
}

func TestAccessLogOneLinePerRequest(t *testing.T) {
	// Traces exported, so every request is in a trace and its line
	// carries the trace id (with no tracing, requests get no ids).
	_, otlp := newOTLPReceiver(t)
	gw := startGateway(t, withEnv("GATEWAY_API_KEYS", "billing-app:"+testGatewayKey, "HEALTH_PROBE_INTERVAL", "1h",
		"OTEL_EXPORTER_OTLP_ENDPOINT", otlp, "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"))
	gw.Primary.SetFault(emulator.Fault{Down: emulator.DownReset, Routes: []string{"submit"}})
	const text = "Contoso signs the secret-looking lease in Köln."
	loc := gw.submit(t, text)
	jobID := jobIDOf(loc)
	resp, _ := gw.do(t, http.MethodGet, loc, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = gw.do(t, http.MethodPost, submitPath, submitBody(text), "wrong-key-4411")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	gw.do(t, http.MethodGet, "/healthz", nil) // probes are not access-logged

	lines := accessLines(t, gw)
	require.Len(t, lines, 3, "one line per /language/ request:\n%s", gw.Logs.String())
	submit, poll, refused := lines[0], lines[1], lines[2]

	assert.Equal(t, "POST", submit["method"])
	assert.Equal(t, "/language/analyze-text/jobs", submit["route"])
	assert.EqualValues(t, 202, submit["status"])
	assert.Equal(t, "westus2=connection_error,eastus=ok", submit["regions"], "regions tried with outcomes")
	assert.Equal(t, "eastus", submit["region"])
	assert.Equal(t, jobID, submit["job_id"], "the job id the client got")
	assert.Equal(t, "billing-app", submit["key"], "the key's name")
	assert.NotEmpty(t, submit["trace_id"])
	assert.Contains(t, submit, "duration_ms")

	assert.Equal(t, "GET", poll["method"])
	assert.Equal(t, "/language/analyze-text/jobs/{jobId}", poll["route"])
	assert.Equal(t, jobID, poll["job_id"])
	assert.Equal(t, "eastus=ok", poll["regions"])
	assert.NotEqual(t, submit["trace_id"], poll["trace_id"])

	assert.EqualValues(t, 401, refused["status"])
	assert.Equal(t, "", refused["key"])
	assert.Equal(t, "", refused["regions"])

	for _, l := range lines {
		raw, _ := json.Marshal(l)
		for _, secret := range []string{testGatewayKey, "wrong-key-4411", "Köln", "secret-looking",
			strings.TrimPrefix(gw.Primary.URL, "http://"), strings.TrimPrefix(gw.Secondary.URL, "http://")} {
			assert.NotContains(t, string(raw), secret)
		}
	}
}

func TestAccessLogSampling(t *testing.T) {
	gw := startGateway(t, withEnv("GATEWAY_ACCESS_LOG_SAMPLE", "0", "HEALTH_PROBE_INTERVAL", "1h"))
	for range 3 {
		gw.submit(t, probeText)
	}
	gw.do(t, http.MethodPost, submitPath, submitBody(probeText), "wrong-key-4411")
	gw.Primary.SetFault(emulator.Fault{Status: 503, Routes: []string{"submit"}})
	gw.submit(t, probeText)
	lines := accessLines(t, gw)
	require.Len(t, lines, 2, "successes sampled out; the refused key and the failover kept:\n%s", gw.Logs.String())
	assert.EqualValues(t, 401, lines[0]["status"])
	assert.Equal(t, "westus2=status_5xx,eastus=ok", lines[1]["regions"])

	off := startGateway(t, withEnv("GATEWAY_ACCESS_LOG", "false"))
	off.do(t, http.MethodPost, submitPath, submitBody(probeText), "wrong-key-4411")
	assert.Empty(t, accessLines(t, off))
}
