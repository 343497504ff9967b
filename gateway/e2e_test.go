package gateway

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/emulator"
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
	got := entitiesOf(t, st)
	require.Len(t, got["1"], 2, "entities: %+v", got)
	for i, want := range wantEntities["1"] {
		assert.Equal(t, want.Text, got["1"][i].Text)
		assert.Equal(t, want.Category, got["1"][i].Category)
		assert.Equal(t, want.Offset, got["1"][i].Offset)
		assert.Equal(t, want.Length, got["1"][i].Length)
	}
}

const probeText = "Contoso bought a house in Köln."

func TestE2EHappyPathUsesPrimary(t *testing.T) {
	gw := startGateway(t)
	loc := gw.submit(t, probeText)
	id := jobIDOf(loc)
	assert.Regexp(t, uuidShape, id, "gateway job ids look like UUIDs")
	assert.Contains(t, loc, "api-version=2023-04-01")
	st := gw.wait(t, loc)
	assert.Equal(t, id, st.JobID, "the body's jobId is the gateway's token")
	assertEntities(t, st)
	assert.Equal(t, 1, gw.Primary.Calls("submit"))
	assert.Equal(t, 0, gw.Secondary.Calls("submit"))
}

func TestE2EPrimaryRefusingFailsOverInSameRequest(t *testing.T) {
	gw := startGateway(t)
	gw.Primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})
	loc := gw.submit(t, probeText)
	assert.Equal(t, 1, gw.Secondary.Calls("submit"), "the secondary took the job")
	assertEntities(t, gw.wait(t, loc))
}

func TestE2EPrimary503sOpenBreakerThenNoClientTraffic(t *testing.T) {
	// Probes would also count against the primary; slow them down so the
	// count below is the client's.
	gw := startGateway(t, withEnv("HEALTH_PROBE_INTERVAL", "1h", "BREAKER_OPEN_TIMEOUT", "1h"))
	// The start probe succeeds; landing between two failed submits it would
	// reset the count of failures in a row.
	gw.waitFirstProbes(t)
	gw.Primary.SetFault(emulator.Fault{Status: http.StatusServiceUnavailable, Routes: []string{"submit"}})
	for range 3 {
		gw.submit(t, probeText)
	}
	assert.Equal(t, 3, gw.Primary.Calls("submit"))
	assert.Equal(t, "open", gw.regionStatus(t, "westus2")["breaker"])
	for range 3 {
		gw.submit(t, probeText)
	}
	assert.Equal(t, 3, gw.Primary.Calls("submit"), "an open breaker keeps client traffic off the primary")
	assert.Equal(t, 6, gw.Secondary.Calls("submit"))
}

func TestE2E429ParksPrimaryUntilRetryAfter(t *testing.T) {
	gw := startGateway(t, withEnv("HEALTH_PROBE_INTERVAL", "1h"))
	gw.Primary.SetFault(emulator.Fault{Status: http.StatusTooManyRequests, RetryAfter: 60, Routes: []string{"submit"}})
	gw.submit(t, probeText)
	gw.submit(t, probeText)
	assert.Equal(t, 1, gw.Primary.Calls("submit"), "a parked region gets no calls until Retry-After")
	assert.Equal(t, 2, gw.Secondary.Calls("submit"))
	assert.Equal(t, "closed", gw.regionStatus(t, "westus2")["breaker"], "429 does not trip the breaker")
}

func TestE2EClientErrorPassedThroughWithoutFailover(t *testing.T) {
	gw := startGateway(t)
	resp, body := gw.do(t, http.MethodPost, submitPath, `{"analysisInput":`)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	var e api.ErrorResponse
	require.NoError(t, json.Unmarshal(body, &e), string(body))
	assert.Equal(t, api.CodeInvalidRequest, e.Error.Code)
	assert.Equal(t, 1, gw.Primary.Calls("submit"))
	assert.Equal(t, 0, gw.Secondary.Calls("submit"), "a client error never fails over")
}

func TestE2EStickyPollsAcrossFailover(t *testing.T) {
	primary := testRegion(t, "westus2", testPrimaryKey, 300*time.Millisecond)
	secondary := testRegion(t, "eastus", testSecondaryKey, 300*time.Millisecond)
	seedTestProject(t, primary, testProject, testDeployment)
	seedTestProject(t, secondary, testProject, testDeployment)
	gw := startGatewayWith(t, primary, secondary, withEnv("HEALTH_PROBE_INTERVAL", "1h", "BREAKER_OPEN_TIMEOUT", "1h"))

	locA := gw.submit(t, probeText) // on the primary
	primary.SetFault(emulator.Fault{Down: emulator.DownReset, Routes: []string{"submit"}})
	locB := gw.submit(t, probeText) // fails over to the secondary
	primary.ClearFaults()
	assert.NotEqual(t, jobIDOf(locA), jobIDOf(locB))

	assertEntities(t, gw.wait(t, locA))
	assertEntities(t, gw.wait(t, locB))
	assert.Positive(t, primary.Calls("job"), "job A was polled in the primary")
	assert.Positive(t, secondary.Calls("job"), "job B was polled in the secondary")
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

func TestE2ENextLinkPaging(t *testing.T) {
	gw := startGateway(t)
	texts := []string{probeText, "Fabrikam in São Paulo.", "Contoso again.", "Nothing here.", "Köln."}
	loc := gw.submit(t, texts...)
	gw.wait(t, loc)
	next := loc + "&top=2"
	var docs []string
	for pages := 0; next != ""; pages++ {
		require.Less(t, pages, 5, "too many pages")
		resp, body := gw.do(t, http.MethodGet, next, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		var st api.JobState
		require.NoError(t, json.Unmarshal(body, &st))
		for _, item := range st.Tasks.Items {
			var res api.CustomEntitiesResult
			require.NoError(t, json.Unmarshal(item.Results, &res))
			for _, d := range res.Documents {
				docs = append(docs, d.ID)
			}
		}
		next = st.NextLink
		if next != "" {
			require.True(t, strings.HasPrefix(next, gw.URL+"/language/analyze-text/jobs/"+jobIDOf(loc)), "nextLink %q is not the gateway's", next)
		}
	}
	assert.Equal(t, []string{"1", "2", "3", "4", "5"}, docs)
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

func TestE2ECancel(t *testing.T) {
	// Long enough that the cancel finds the job running; cancelling takes
	// a third of it in the emulator.
	primary := testRegion(t, "westus2", testPrimaryKey, 1500*time.Millisecond)
	secondary := testRegion(t, "eastus", testSecondaryKey, 1500*time.Millisecond)
	seedTestProject(t, primary, testProject, testDeployment)
	gw := startGatewayWith(t, primary, secondary)
	loc := gw.submit(t, probeText)
	id := jobIDOf(loc)
	resp, body := gw.do(t, http.MethodPost, "/language/analyze-text/jobs/"+id+":cancel?api-version=2023-04-01", nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, string(body))
	assert.True(t, strings.HasPrefix(resp.Header.Get("Operation-Location"), gw.URL+"/language/analyze-text/jobs/"+id))
	st := gw.wait(t, loc)
	assert.Equal(t, api.StatusCancelled, st.Status)
	assert.Equal(t, 1, primary.Calls("cancel"))
	assert.Equal(t, 0, secondary.Calls("cancel"))
}

func TestE2ESynchronousAnalyzeFailsOver(t *testing.T) {
	gw := startGateway(t)
	gw.Primary.SetFault(emulator.Fault{Status: http.StatusInternalServerError, Routes: []string{"analyze"}})
	body := `{"kind":"EntityRecognition","analysisInput":{"documents":[{"id":"1","language":"en","text":"Contoso in Köln."}]},"parameters":{}}`
	resp, data := gw.do(t, http.MethodPost, "/language/:analyze-text?api-version=2023-04-01", body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
	assert.Contains(t, string(data), "EntityRecognitionResults")
	assert.Equal(t, 1, gw.Secondary.Calls("analyze"))
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
