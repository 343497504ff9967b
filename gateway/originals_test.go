package gateway

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/emulator"
)

// originalsCount sums gateway_rescued_originals_total for the primary and
// outcome over both replicas.
func (rp *rescuePair) originalsCount(t *testing.T, outcome string) float64 {
	t.Helper()
	var n float64
	for _, g := range []*testGateway{rp.a, rp.b} {
		_, body := g.ops(t, http.MethodGet, "/metrics", nil)
		v, ok := sample(t, string(body), `gateway_rescued_originals_total{outcome="`+outcome+`",region="westus2"}`)
		require.True(t, ok, "gateway_rescued_originals_total{outcome=%q} is exported (at 0 before any rescue)", outcome)
		n += v
	}
	return n
}

// After a rescue, the first copy of the job still runs in the primary. Once
// the primary answers again, exactly one of the two replicas (sharing a
// real redis-server) cancels it there, with the primary's key, and the
// client keeps reading the rescued copy.
func TestRescuedOriginalCancelledOnceAcrossReplicas(t *testing.T) {
	rp := startRescuePair(t, 300*time.Millisecond)

	loc := rp.a.submit(t, rescueText)
	id := jobIDOf(loc)
	originals := rp.primary.JobCancels()
	require.Len(t, originals, 1, "the primary holds the first copy")

	rp.primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})
	// Poll through both replicas until the rescued copy has finished.
	var final api.JobState
	for n := 0; ; n++ {
		g := []*testGateway{rp.a, rp.b}[n%2]
		code, st, err := poll(g, rp.on(g, loc))
		require.NoError(t, err)
		require.Contains(t, []int{http.StatusOK, http.StatusServiceUnavailable}, code)
		if code == http.StatusOK && api.Terminal(st.Status) {
			final = st
			break
		}
		require.Less(t, n, 600, "the job was never rescued")
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, api.StatusSucceeded, final.Status)
	require.Equal(t, 1, rp.secondary.Calls("submit"), "rescued once")
	assert.Zero(t, rp.primary.Calls("cancel"), "nothing reaches a region that is down")

	// The primary answers again: its first copy is cancelled, once.
	rp.primary.ClearFaults()
	back := time.Now()
	eventually(t, "the first copy cancelled", func() bool { return rp.primary.Calls("cancel") > 0 })
	t.Logf("the first copy cancelled %v after the primary came back (probes every 50ms, BREAKER_OPEN_TIMEOUT 300ms, originals checked every %v)",
		time.Since(back).Round(time.Millisecond), time.Second)
	eventually(t, "the cancel counted", func() bool { return rp.originalsCount(t, "cancelled") == 1 })
	for _, g := range []*testGateway{rp.a, rp.b} {
		eventually(t, "primary breaker closed", func() bool { return g.regionStatus(t, "westus2")["breaker"] == "closed" })
		code, st, err := poll(g, rp.on(g, loc))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, api.StatusSucceeded, st.Status, "the client still reads the rescued copy")
		assert.Equal(t, id, st.JobID)
	}
	for origID := range originals {
		assert.Equal(t, map[string]int{origID: 1}, rp.primary.JobCancels(), "one cancel, with the primary's key, of the first copy only")
	}
	assert.Equal(t, 1, rp.primary.Calls("cancel"))
	assert.Equal(t, float64(1), rp.originalsCount(t, "cancelled"))
	assert.Zero(t, rp.originalsCount(t, "cancel_failed"))
	for _, n := range rp.secondary.JobCancels() {
		assert.Zero(t, n, "the rescued copy was cancelled")
	}
	assert.Contains(t, rp.a.Logs.String()+rp.b.Logs.String(), "first copy of a rescued job cancelled")
}
