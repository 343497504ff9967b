package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nergateway/emulator"
	"nergateway/internal/testkit/promtest"
	"nergateway/internal/testkit/wait"
)

// waitFor retries cond for up to a minute (Prometheus scrapes on its own
// schedule); it asserts nothing about how long that took.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, what, time.Minute, 100*time.Millisecond, cond)
}

// TestFirstFailoverIsAnIncreaseInPrometheus has a real Prometheus scrape
// the ops port: it sees the failover series at 0 before anything happens,
// and increase() over it is positive after the first failover, the query
// a dashboard panel or an alert runs.
func TestFirstFailoverIsAnIncreaseInPrometheus(t *testing.T) {
	gw := startGateway(t, withEnv("HEALTH_PROBE_INTERVAL", "1h"))
	prom := promtest.Start(t, time.Second, strings.TrimPrefix(gw.OpsURL, "http://"))
	const series = `gateway_failovers_total{from="westus2",to="eastus",reason="connection_error"}`

	waitFor(t, "a scrape holding the failover series at 0", func() bool {
		v, err := prom.Query(t.Context(), series)
		require.NoError(t, err)
		return len(v) == 1 && v[0].Value == "0"
	})
	gw.Primary.SetFault(emulator.Fault{Down: emulator.DownReset, Routes: []string{"submit"}})
	gw.submit(t, probeText)
	waitFor(t, "increase() to show the first failover", func() bool {
		v, err := prom.Query(t.Context(), "increase("+series+"[1m]) > 0")
		require.NoError(t, err)
		return len(v) == 1
	})
}
