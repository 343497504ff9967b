package gateway

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/emulator"
)

// A primary in a brownout answers submits after 3 s, past the gateway's
// 2 s UPSTREAM_TIMEOUT: every submit fails over to the secondary, and the
// primary still creates the job the gateway gave up on. These tests start
// the gateway in front of such a primary.

// orphanSubmits is how many clients submit at once: concurrent, so every
// one of them tries the primary before its breaker can open.
const orphanSubmits = 5

// slowPrimaryGateway is a gateway whose primary answers submits after 3 s
// (with the fault's status, or the real answer when status is 0) and keeps
// its jobs running for an hour, and whose secondary finishes jobs at once.
func slowPrimaryGateway(t *testing.T, status int) *testGateway {
	t.Helper()
	primary := testRegion(t, "westus2", testPrimaryKey, time.Hour)
	secondary := testRegion(t, "eastus", testSecondaryKey, 0)
	seedTestProject(t, primary, testProject, testDeployment)
	seedTestProject(t, secondary, testProject, testDeployment)
	primary.SetFault(emulator.Fault{LatencyMS: 3000, Status: status, Routes: []string{"submit"}})
	return startGatewayWith(t, primary, secondary, withEnv("SUBMIT_ORPHAN_WAIT", "20s"))
}

// submitAll sends orphanSubmits submits at once and returns their
// operation-locations.
func submitAll(t *testing.T, gw *testGateway) []string {
	t.Helper()
	locs := make([]string, orphanSubmits)
	var wg sync.WaitGroup
	for i := range locs {
		wg.Go(func() { locs[i] = gw.submit(t, "Contoso signs the lease in Köln.") })
	}
	wg.Wait()
	return locs
}

// orphanCount reads gateway_orphan_jobs_total for the primary and outcome.
func orphanCount(t *testing.T, gw *testGateway, outcome string) float64 {
	t.Helper()
	_, body := gw.ops(t, http.MethodGet, "/metrics", nil)
	v, ok := sample(t, string(body), `gateway_orphan_jobs_total{outcome="`+outcome+`",region="westus2"}`)
	require.True(t, ok, "gateway_orphan_jobs_total{outcome=%q} is exported (at 0 before any orphan)", outcome)
	return v
}

func TestTimedOutSubmitsLeaveNoJobRunning(t *testing.T) {
	gw := slowPrimaryGateway(t, 0)
	gw.waitFirstProbes(t)
	assert.Zero(t, orphanCount(t, gw, "cancelled"))

	start := time.Now()
	locs := submitAll(t, gw)
	answered := time.Since(start)
	require.Equal(t, orphanSubmits, gw.Primary.Calls("submit"), "every submit tried the primary first")

	// Each job the primary created after its submit timed out is cancelled
	// there, once, with the primary's key (the emulator counts only a
	// cancel that passed its key check).
	eventually(t, "every orphan cancelled", func() bool { return orphanCount(t, gw, "cancelled") == orphanSubmits })
	t.Logf("%d submits answered (by the secondary) %v after they were sent; every orphan cancelled %v after (the primary answers submits after 3s)",
		orphanSubmits, answered.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	orphans := gw.Primary.JobCancels()
	assert.Len(t, orphans, orphanSubmits, "the primary created one job per timed-out submit")
	for id, n := range orphans {
		assert.Equal(t, 1, n, "orphan %s cancelled exactly once", id)
	}
	for _, outcome := range []string{"cancel_failed", "not_created", "unanswered", "dropped"} {
		assert.Zero(t, orphanCount(t, gw, outcome), outcome)
	}

	// The clients' jobs, in the secondary, are untouched and succeed.
	for _, loc := range locs {
		st := gw.wait(t, loc)
		assert.Equal(t, api.StatusSucceeded, st.Status)
	}
	clients := gw.Secondary.JobCancels()
	assert.Len(t, clients, orphanSubmits)
	for id, n := range clients {
		assert.Zero(t, n, "client job %s was cancelled", id)
	}
	for _, loc := range locs {
		resp, body := gw.do(t, http.MethodGet, loc, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	}
	assert.Contains(t, gw.Logs.String(), "orphaned job cancelled")
}

func TestTimedOutSubmitsTheRegionRefusedAreNotCreated(t *testing.T) {
	gw := slowPrimaryGateway(t, http.StatusServiceUnavailable)
	gw.waitFirstProbes(t)

	locs := submitAll(t, gw)
	require.Equal(t, orphanSubmits, gw.Primary.Calls("submit"))
	eventually(t, "every orphan settled", func() bool { return orphanCount(t, gw, "not_created") == orphanSubmits })
	assert.Zero(t, orphanCount(t, gw, "cancelled"))
	assert.Zero(t, gw.Primary.Calls("cancel"), "nothing to cancel: the primary created no job")
	assert.Empty(t, gw.Primary.JobCancels())
	for _, loc := range locs {
		assert.Equal(t, api.StatusSucceeded, gw.wait(t, loc).Status)
	}
}
