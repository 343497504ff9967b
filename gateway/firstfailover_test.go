package gateway

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/emulator"
)

// sample reads one series' value from a /metrics exposition: the line of
// series' metric whose labels include every label series names (the
// exporter adds otel_scope_* labels); ok=false when there is none.
func sample(t *testing.T, exposition, series string) (float64, bool) {
	t.Helper()
	name, labels, _ := strings.Cut(strings.TrimSuffix(series, "}"), "{")
	line := regexp.MustCompile(`^(\w+)\{(.*)\} (\S+)$`)
	for l := range strings.Lines(exposition) {
		m := line.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil || m[1] != name {
			continue
		}
		have := strings.Split(m[2], ",")
		all := true
		for _, want := range strings.Split(labels, ",") {
			all = all && slices.Contains(have, want)
		}
		if all {
			v, err := strconv.ParseFloat(m[3], 64)
			require.NoError(t, err)
			return v, true
		}
	}
	return 0, false
}

// TestFirstFailoverShowsAsAnIncrease scrapes before anything happened and
// after the first failover: the failover's series must exist at 0 in the
// first scrape, or rate() and increase() would never count it.
func TestFirstFailoverShowsAsAnIncrease(t *testing.T) {
	gw := startGateway(t, withEnv("HEALTH_PROBE_INTERVAL", "1h", "PROJECT_NAMES", testProject, "REPLICATION_INTERVAL", "1h"))
	failovers := `gateway_failovers_total{from="westus2",reason="connection_error",to="eastus"}`
	opened := `gateway_breaker_transitions_total{from="closed",region="westus2",to="open"}`
	served := `gateway_requests_total{outcome="ok",region="eastus",route="submit"}`
	replFailed := `replication_runs_total{outcome="failed",project="` + testProject + `"}`

	_, before := gw.ops(t, http.MethodGet, "/metrics", nil)
	for _, s := range []string{failovers, opened, replFailed} {
		v, ok := sample(t, string(before), s)
		assert.True(t, ok, "%s exists before anything happened:\n%s", s, before)
		assert.Zero(t, v, s)
	}

	gw.Primary.SetFault(emulator.Fault{Down: emulator.DownReset, Routes: []string{"submit"}})
	for range 3 { // BREAKER_CONSECUTIVE_FAILURES
		gw.submit(t, probeText)
	}
	_, after := gw.ops(t, http.MethodGet, "/metrics", nil)
	for s, want := range map[string]float64{failovers: 3, opened: 1, served: 3} {
		v, ok := sample(t, string(after), s)
		require.True(t, ok, s)
		assert.Equal(t, want, v, s)
	}
}
