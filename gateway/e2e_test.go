package gateway

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/emulator"
	"nergateway/internal/testkit/nertest"
)

var uuidShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func jobIDOf(loc string) string {
	id := loc[strings.LastIndex(loc, "/")+1:]
	id, _, _ = strings.Cut(id, "?")
	return id
}

var wantEntities = map[string][]api.Entity{
	"1": {
		{Text: "Contoso", Category: "Party", Offset: 0, Length: 7, ConfidenceScore: 1},
		{Text: "Köln", Category: "City", Offset: 26, Length: 4, ConfidenceScore: 1},
	},
}

func assertEntities(t *testing.T, st api.JobState) {
	t.Helper()
	require.Equal(t, api.StatusSucceeded, st.Status)
	got := nertest.Entities(t, st)
	require.Len(t, got["1"], 2, "entities: %+v", got)
	for i, want := range wantEntities["1"] {
		assert.Equal(t, want.Text, got["1"][i].Text)
		assert.Equal(t, want.Category, got["1"][i].Category)
		assert.Equal(t, want.Offset, got["1"][i].Offset)
		assert.Equal(t, want.Length, got["1"][i].Length)
	}
}

const probeText = "Contoso bought a house in Köln."

// TestE2EFailoverWiring is the one end-to-end test of the failover rules'
// wiring: the regions from the configuration, their breakers
// (BREAKER_CONSECUTIVE_FAILURES), job-id tokens and the rewriting of what
// comes back, in front of two emulated regions. Each rule is specified by
// the proxy's unit test named at its step.
func TestE2EFailoverWiring(t *testing.T) {
	// Probes would also count against the primary; slow them down so the
	// counts below are the client's.
	gw := startGateway(t, withEnv("HEALTH_PROBE_INTERVAL", "1h", "BREAKER_OPEN_TIMEOUT", "1h"))
	// The start probe succeeds; landing between two failed submits it would
	// reset the count of failures in a row.
	gw.waitFirstProbes(t)

	// Healthy: the primary takes the job, whose id is the gateway's token
	// in the Operation-Location and in the body (TestHappyPathSubmitPollPage).
	locA := gw.submit(t, probeText)
	idA := jobIDOf(locA)
	assert.Regexp(t, uuidShape, idA, "gateway job ids look like UUIDs")
	assert.Contains(t, locA, "api-version=2023-04-01")
	stA := gw.wait(t, locA)
	assert.Equal(t, idA, stA.JobID, "the body's jobId is the gateway's token")
	assertEntities(t, stA)
	assert.Equal(t, 1, gw.Primary.Calls("submit"))
	assert.Zero(t, gw.Secondary.Calls("submit"))

	// The primary answers 503: each submit fails over in the same request;
	// after 3 in a row its breaker is open and client traffic stays off it
	// (TestBreakerOpensAfterFailuresThenPrimaryGetsNoTraffic).
	gw.Primary.SetFault(emulator.Fault{Status: http.StatusServiceUnavailable, Routes: []string{"submit"}})
	var locB string
	for range 6 {
		locB = gw.submit(t, probeText)
	}
	assert.Equal(t, 1+3, gw.Primary.Calls("submit"), "an open breaker keeps client traffic off the primary")
	assert.Equal(t, 6, gw.Secondary.Calls("submit"))
	assert.Equal(t, "open", gw.regionStatus(t, "westus2")["breaker"])

	// The job the secondary took is polled there, through the gateway
	// (TestStickyPollsAcrossFailover).
	jobCalls := gw.Primary.Calls("job")
	stB := gw.wait(t, locB)
	assert.Equal(t, jobIDOf(locB), stB.JobID)
	assertEntities(t, stB)
	assert.Positive(t, gw.Secondary.Calls("job"), "job B was polled in the secondary")
	assert.Equal(t, jobCalls, gw.Primary.Calls("job"), "job B was never asked of the primary")
}

func TestE2EFailbackThroughProbes(t *testing.T) {
	gw := startGateway(t)
	gw.Primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})
	eventually(t, "probes open the primary's breaker", func() bool {
		return gw.regionStatus(t, "westus2")["breaker"] == "open"
	})
	gw.submit(t, probeText)
	before := gw.Primary.Calls("submit")
	gw.Primary.ClearFaults()
	eventually(t, "a probe closes the primary's breaker", func() bool {
		return gw.regionStatus(t, "westus2")["breaker"] == "closed"
	})
	assert.Equal(t, before, gw.Primary.Calls("submit"), "the probe, not a client request, was the trial")
	gw.submit(t, probeText)
	assert.Equal(t, before+1, gw.Primary.Calls("submit"), "new traffic is back on the primary")
}

func TestE2EReadinessWithBothRegionsDown(t *testing.T) {
	gw := startGateway(t)
	resp, _ := gw.do(t, http.MethodGet, "/readyz", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	gw.Primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})
	gw.Secondary.SetFault(emulator.Fault{Status: http.StatusServiceUnavailable})
	eventually(t, "readiness to turn 503", func() bool {
		resp, _ := gw.do(t, http.MethodGet, "/readyz", nil)
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	resp, body := gw.do(t, http.MethodPost, submitPath, submitBody(probeText))
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, string(body))
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	gw.Primary.ClearFaults()
	gw.Secondary.ClearFaults()
	eventually(t, "readiness to come back", func() bool {
		resp, _ := gw.do(t, http.MethodGet, "/readyz", nil)
		return resp.StatusCode == http.StatusOK
	})
}

func TestE2EBadGatewayKey(t *testing.T) {
	gw := startGateway(t)
	for _, key := range []string{"", "wrong", testPrimaryKey} {
		resp, body := gw.do(t, http.MethodPost, submitPath, submitBody(probeText), key)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		var e api.ErrorResponse
		require.NoError(t, json.Unmarshal(body, &e))
		assert.NotEmpty(t, e.Error.Code)
	}
	assert.Equal(t, 0, gw.Primary.Calls("submit")+gw.Secondary.Calls("submit"))
}

func TestE2EMalformedAndForeignJobIDs(t *testing.T) {
	gw := startGateway(t)
	for _, id := range []string{
		"not-a-job",
		"..%2F..%2Fadmin",
		"00000000-0000-0000-0000-000000000000",
		"ffffffff-ffff-ffff-ffff-ffffffffffff", // a token naming region 15, not configured
		"3fa85f64-5717-4562-b3fc-2c963f66afa6", // UUID-shaped, in no region
	} {
		resp, body := gw.do(t, http.MethodGet, "/language/analyze-text/jobs/"+id+"?api-version=2023-04-01", nil)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s: %s", id, body)
		var e api.ErrorResponse
		assert.NoError(t, json.Unmarshal(body, &e), "%s: %s", id, body)
	}
}

func TestE2EOversizedBody(t *testing.T) {
	gw := startGateway(t, withEnv("MAX_REQUEST_BYTES", "1KiB"))
	resp, body := gw.do(t, http.MethodPost, submitPath, submitBody(strings.Repeat("Contoso ", 200)))
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, string(body))
	var e api.ErrorResponse
	require.NoError(t, json.Unmarshal(body, &e))
	assert.Equal(t, 0, gw.Primary.Calls("submit"))
}
