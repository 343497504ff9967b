package gateway

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/emulator"
	"nergateway/internal/testkit/redistest"
)

// Calm polls end to end: a job the primary keeps running, polled through
// the gateway while the primary cannot answer for it.

// calmPoll is one poll as a hand-written client sees it.
type calmPoll struct {
	status     int
	retryAfter string
	job        api.JobState
	real       bool // the region's own answer (it carries the region's apim-request-id)
}

func pollOnce(t *testing.T, g *testGateway, loc string) calmPoll {
	t.Helper()
	resp, body := g.do(t, http.MethodGet, loc, nil)
	p := calmPoll{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.Unmarshal(body, &p.job), "%s", body)
		p.real = resp.Header.Get(api.RequestIDHeader) != "" // a calm answer has no region request id
	}
	return p
}

// runningRegion is the primary on a clock the test moves: its jobs take an
// hour of it (notStarted for the first third, then running).
func runningRegion(t *testing.T) (*emulator.Server, *emulator.ManualClock) {
	t.Helper()
	clock := emulator.NewManualClock(time.Now())
	s, err := emulator.NewServer(emulator.Options{Name: "westus2", Key: testPrimaryKey, Clock: clock, JobDuration: time.Hour})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s, clock
}

// TestCalmPollsThroughAnOutage: every poll of a running primary job, while
// the primary refuses for 6 s or throttles polls for 4 s, answers 200
// running with the client's job id and a Retry-After; then the primary's
// own answer follows. With rescue on (due after the default minute), the
// same.
func TestCalmPollsThroughAnOutage(t *testing.T) {
	faults := []struct {
		name  string
		fault emulator.Fault
		long  time.Duration
	}{
		{"refused for 6s", emulator.Fault{Down: emulator.DownRefuse}, 6 * time.Second},
		{"polls throttled for 4s", emulator.Fault{Status: http.StatusTooManyRequests, RetryAfter: 1, Routes: []string{"job"}}, 4 * time.Second},
	}
	for _, rescue := range []bool{false, true} {
		for _, f := range faults {
			name := f.name + ", rescue off"
			var env []string
			if rescue {
				name = f.name + ", rescue on"
				env = append(rescueTestEnv("memory"), "JOB_RESCUE_AFTER", "60s")
			}
			t.Run(name, func(t *testing.T) {
				primary, clock := runningRegion(t)
				secondary := testRegion(t, "eastus", testSecondaryKey, 0)
				seedTestProject(t, primary, testProject, testDeployment)
				seedTestProject(t, secondary, testProject, testDeployment)
				gw := startGatewayWith(t, primary, secondary, withEnv(env...))
				loc := gw.submit(t, probeText)
				id := jobIDOf(loc)
				clock.Advance(30 * time.Minute) // past notStarted
				before := pollOnce(t, gw, loc)
				require.Equal(t, http.StatusOK, before.status)
				require.Equal(t, api.StatusRunning, before.job.Status)

				primary.SetFault(f.fault)
				polls := 0
				for end := time.Now().Add(f.long); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
					p := pollOnce(t, gw, loc)
					polls++
					require.Equal(t, http.StatusOK, p.status, "poll %d during the fault", polls)
					assert.Equal(t, api.StatusRunning, p.job.Status)
					assert.Equal(t, id, p.job.JobID, "the client's job id")
					ra, err := strconv.Atoi(p.retryAfter)
					if assert.NoError(t, err, "Retry-After %q", p.retryAfter) {
						assert.GreaterOrEqual(t, ra, 1)
						assert.LessOrEqual(t, ra, 60)
					}
					assert.True(t, p.job.CreatedDateTime.Equal(before.job.CreatedDateTime), "the job's own creation date")
				}
				primary.ClearFaults()
				eventually(t, "the primary's own answer", func() bool {
					p := pollOnce(t, gw, loc)
					require.Equal(t, http.StatusOK, p.status)
					return p.real
				})
				assert.Zero(t, secondary.Calls("submit"), "nothing rescued")
				_, metrics := gw.ops(t, http.MethodGet, "/metrics", nil)
				assert.Regexp(t, `gateway_polls_answered_calm_total\{[^}]*region="westus2"[^}]*\} [1-9]`, string(metrics))
				assert.Contains(t, gw.Logs.String(), `"calm":"`, "the access log records calm answers")
				t.Logf("%s: %d polls during the fault, all 200 running", name, polls)
			})
		}
	}
}

// TestCalmPollCountedByReason: the metric names the region and the reason.
func TestCalmPollCountedByReason(t *testing.T) {
	primary := testRegion(t, "westus2", testPrimaryKey, time.Hour)
	secondary := testRegion(t, "eastus", testSecondaryKey, 0)
	seedTestProject(t, primary, testProject, testDeployment)
	seedTestProject(t, secondary, testProject, testDeployment)
	gw := startGatewayWith(t, primary, secondary, withEnv("HEALTH_PROBE_INTERVAL", "1h"))
	loc := gw.submit(t, probeText)
	primary.SetFault(emulator.Fault{Status: http.StatusServiceUnavailable, Routes: []string{"job"}})
	p := pollOnce(t, gw, loc)
	require.Equal(t, http.StatusOK, p.status)
	_, metrics := gw.ops(t, http.MethodGet, "/metrics", nil)
	var line string
	sc := bufio.NewScanner(strings.NewReader(string(metrics)))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "gateway_polls_answered_calm_total{") && strings.Contains(sc.Text(), `reason="status_5xx"`) &&
			strings.Contains(sc.Text(), `region="westus2"`) {
			line = sc.Text()
		}
	}
	assert.True(t, strings.HasSuffix(line, " 1"), "calm polls by reason: %q", line)
}

// TestNoRescueOnAStaleView: two replicas share Redis. Replica A probes
// slowly, so its breaker for the primary stays open after an outage;
// replica B sees the primary back and submits a job to it. A's polls of
// that job must not resubmit it: the job proves the primary came back, so
// A tries the primary for it (and answers calm while its breaker keeps it
// away), and the job's rescue clock never starts before it was accepted.
func TestNoRescueOnAStaleView(t *testing.T) {
	primary := testRegion(t, "westus2", testPrimaryKey, time.Hour)
	secondary := testRegion(t, "eastus", testSecondaryKey, 0)
	seedTestProject(t, primary, testProject, testDeployment)
	seedTestProject(t, secondary, testProject, testDeployment)
	env := rescueTestEnv(redistest.Start(t).URL())
	a := startGatewayWith(t, primary, secondary, withEnv(env...), withEnv("HEALTH_PROBE_INTERVAL", "1h", "BREAKER_OPEN_TIMEOUT", "1h"))
	b := startGatewayWith(t, primary, secondary, withEnv(env...))
	a.waitFirstProbes(t)

	// The outage: A's submits fail over, and their failures open A's breaker.
	primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})
	for a.regionStatus(t, "westus2")["breaker"] != "open" {
		a.submit(t, probeText)
	}
	// The primary comes back; B's probes see it, A's do not.
	primary.ClearFaults()
	eventually(t, "B's breaker to close", func() bool { return b.regionStatus(t, "westus2")["breaker"] == "closed" })
	time.Sleep(2 * rescueAfter) // A's view: the primary down for longer than JOB_RESCUE_AFTER
	require.Equal(t, "open", a.regionStatus(t, "westus2")["breaker"])

	loc := b.submit(t, probeText) // accepted by the primary after A saw it go down
	require.Equal(t, 1, primary.Calls("submit"))
	aLoc := a.URL + strings.TrimPrefix(loc, b.URL)
	resubmits := secondary.Calls("submit")
	first := pollOnce(t, a, aLoc)
	require.Equal(t, http.StatusOK, first.status)
	assert.True(t, first.real, "A tried the primary for the job (its own answer), whatever A's breaker said")
	for end := time.Now().Add(3 * rescueAfter); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		p := pollOnce(t, a, aLoc)
		require.Equal(t, http.StatusOK, p.status)
		require.Equal(t, jobIDOf(loc), p.job.JobID)
		require.False(t, api.Terminal(p.job.Status), "the primary's job runs for an hour")
	}
	assert.Equal(t, resubmits, secondary.Calls("submit"), "A resubmitted a job the primary accepted after the outage")
	assert.Equal(t, "open", a.regionStatus(t, "westus2")["breaker"], "A's view stayed stale all along")
	assert.NotContains(t, a.Logs.String(), "job rescued")
}
