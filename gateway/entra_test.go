package gateway

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/emulator"
)

// startEntraGateway serves with PRIMARY_AUTH=SECONDARY_AUTH=entra (env and
// regions from entraRegions) and no region keys.
func startEntraGateway(t *testing.T, env map[string]string, regions []*emulator.Server, extra ...string) *testGateway {
	t.Helper()
	opts := []string{"PRIMARY_RESOURCE_KEY", "", "SECONDARY_RESOURCE_KEY", ""}
	for k, v := range env {
		if strings.HasPrefix(k, "PRIMARY_") || strings.HasPrefix(k, "SECONDARY_") || strings.HasPrefix(k, "UPSTREAM_") || strings.HasPrefix(k, "AZURE_") {
			opts = append(opts, k, v)
		}
	}
	return startGatewayWith(t, regions[0], regions[1], withEnv(append(opts, extra...)...))
}

// ready reports whether /readyz answers 200.
func (g *testGateway) ready() bool {
	resp, err := g.Client.Get(g.URL + "/readyz")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

// metricLines are /metrics' lines of one series name.
func (g *testGateway) metricLines(t *testing.T, name string) []string {
	t.Helper()
	resp, body := g.ops(t, http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out []string
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), name+"{") {
			out = append(out, sc.Text())
		}
	}
	return out
}

// assertNoRegionCharged checks that nothing was held against either
// region: breakers closed and never opened, no failure counted.
func assertNoRegionCharged(t *testing.T, gw *testGateway) {
	t.Helper()
	for _, name := range []string{"westus2", "eastus"} {
		r := gw.regionStatus(t, name)
		assert.Equal(t, "closed", r["breaker"], name)
		assert.EqualValues(t, 0, r["consecutiveFailures"], name)
		assert.Empty(t, r["recentFailures"], name)
		assert.Zero(t, breakerTransitions(t, gw, name).trips, "%s: a breaker opened", name)
	}
}

// credentialUp reads gateway_credential_up of each region.
func (g *testGateway) credentialUp(t *testing.T) map[string]string {
	t.Helper()
	up := map[string]string{}
	for _, line := range g.metricLines(t, "gateway_credential_up") {
		for _, name := range []string{"westus2", "eastus"} {
			if strings.Contains(line, `region="`+name+`"`) {
				up[name] = line[strings.LastIndexByte(line, ' ')+1:]
			}
		}
	}
	return up
}

// steadilyNotReady samples /readyz over several probe intervals: every
// answer must be 503 (the gateway holds no token, and that does not flap
// with the probes).
func steadilyNotReady(t *testing.T, gw *testGateway, interval time.Duration) {
	t.Helper()
	for i := range 10 {
		resp, body := gw.do(t, http.MethodGet, "/readyz", nil, "")
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "sample %d: %s", i, body)
		assert.Contains(t, string(body), "the gateway holds no valid credential for westus2, eastus")
		time.Sleep(interval)
	}
}

// assertCannotAuthenticate checks a client's answer while no token is
// held: 503, Retry-After, Azure's error shape, saying the gateway cannot
// authenticate to the region and naming the credential.
func assertCannotAuthenticate(t *testing.T, resp *http.Response, body []byte, reason string) {
	t.Helper()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", body)
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", resp.Header.Get("Retry-After"))
	assert.Positive(t, retry)
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal(body, &e), "%s", body)
	assert.Equal(t, "ServiceUnavailable", e.Error.Code)
	assert.Contains(t, e.Error.Message, "The gateway cannot authenticate to region eastus now")
	assert.Contains(t, e.Error.Message, "Microsoft Entra ID (PRIMARY_AUTH=entra, SECONDARY_AUTH=entra) has no valid token")
	assert.Contains(t, e.Error.Message, reason)
}

// TestEntraAuthorityOutage: tokens live 8 s, so the renewer asks for the
// next one at 4 s. The authority stops answering from then on. While the
// token is still valid, client calls keep succeeding and none waits on the
// authority: they all complete while the renewer's only token request is
// still unanswered. Past expiry the gateway answers 503 naming the
// credential, opens no breaker, and /readyz says 503 steadily; once the
// authority answers again the gateway is ready and serves.
func TestEntraAuthorityOutage(t *testing.T) {
	issuer, env, regions := entraRegions(t, "client-secret-e2e-77c1", 8*time.Second)
	const probeInterval = 100 * time.Millisecond
	gw := startEntraGateway(t, env, regions, "HEALTH_PROBE_INTERVAL", probeInterval.String())
	eventually(t, "a token (readiness)", gw.ready)
	loc := gw.submit(t, probeText)
	require.Equal(t, "succeeded", string(gw.wait(t, loc).Status))
	issued := issuer.TokenRequests()

	// The renewal point: the authority holds the renewer's request.
	issuer.Hold()
	eventually(t, "the renewer to ask the held authority", func() bool { return issuer.Waiting() == 1 })
	var wg sync.WaitGroup
	statuses := make(chan string, 20)
	for i := range 20 {
		wg.Go(func() {
			method, target, body := http.MethodPost, gw.URL+submitPath, ""
			if i%2 == 1 {
				method, target = http.MethodGet, loc
			} else {
				b, _ := json.Marshal(submitBody(probeText))
				body = string(b)
			}
			req, _ := http.NewRequest(method, target, strings.NewReader(body))
			req.Header.Set("Ocp-Apim-Subscription-Key", testGatewayKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := gw.Client.Do(req)
			if err != nil {
				statuses <- err.Error()
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses <- fmt.Sprintf("%s %d", method, resp.StatusCode)
		})
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		assert.Contains(t, []string{"POST 202", "GET 200"}, s)
	}
	assert.Equal(t, 1, issuer.Waiting(), "every call completed while the only token request was unanswered: none waited on it")
	assert.Equal(t, issued, issuer.TokenRequests())
	assert.Equal(t, map[string]string{"westus2": "1", "eastus": "1"}, gw.credentialUp(t))

	// Past expiry: the gateway's own failure.
	eventually(t, "the token to expire (readiness 503)", func() bool { return !gw.ready() })
	steadilyNotReady(t, gw, probeInterval)
	resp, body := gw.do(t, http.MethodPost, submitPath, submitBody(probeText))
	assertCannotAuthenticate(t, resp, body, "")
	resp, body = gw.do(t, http.MethodGet, loc, nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "a poll needs the token too: %s", body)
	assert.Equal(t, map[string]string{"westus2": "0", "eastus": "0"}, gw.credentialUp(t))
	cred, _ := gw.regionStatus(t, "westus2")["credential"].(map[string]any)
	assert.Equal(t, "entra", cred["kind"])
	assert.Equal(t, false, cred["up"])
	assertNoRegionCharged(t, gw)

	// The authority answers again.
	issuer.Release()
	eventually(t, "readiness with the authority back", gw.ready)
	require.Equal(t, "succeeded", string(gw.wait(t, gw.submit(t, probeText)).Status))
	assertNoRegionCharged(t, gw)

	// Each change of the credential's state was logged once, on one line.
	var states []string
	for line := range strings.Lines(gw.Logs.String()) {
		if strings.Contains(line, "gateway credential changed") {
			var rec struct{ State string }
			require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
			states = append(states, rec.State)
		}
	}
	require.NotEmpty(t, states)
	assert.Equal(t, "valid", states[0])
	assert.Contains(t, states, "none")
	assert.Equal(t, "valid", states[len(states)-1])
	for i := 1; i < len(states); i++ {
		assert.NotEqual(t, states[i-1], states[i], "a state logged twice in a row: %q", states)
	}
}

// TestEntraWrongSecret: the authority refuses the gateway's client secret.
// The regions are fine and never called: clients get 503 saying the
// gateway cannot authenticate, with the authority's reason; /readyz
// answers 503 steadily; no breaker opens; the secret appears nowhere.
func TestEntraWrongSecret(t *testing.T) {
	const secret = "wrong-secret-e2e-5b5b"
	_, env, regions := entraRegions(t, secret)
	const probeInterval = 100 * time.Millisecond
	gw := startEntraGateway(t, env, regions, "HEALTH_PROBE_INTERVAL", probeInterval.String())
	eventually(t, "the first renewal to fail", func() bool {
		cred, _ := gw.regionStatus(t, "westus2")["credential"].(map[string]any)
		return cred["error"] != nil && cred["error"] != "no token yet"
	})
	steadilyNotReady(t, gw, probeInterval)
	const reason = "the identity provider refused the gateway's credentials (invalid_client, AADSTS7000215)"
	resp, body := gw.do(t, http.MethodPost, submitPath, submitBody(probeText))
	assertCannotAuthenticate(t, resp, body, reason)
	cred, _ := gw.regionStatus(t, "eastus")["credential"].(map[string]any)
	assert.Equal(t, reason, cred["error"])
	assert.Equal(t, map[string]string{"westus2": "0", "eastus": "0"}, gw.credentialUp(t))
	assertNoRegionCharged(t, gw)
	for _, r := range regions {
		assert.Empty(t, r.AllCalls(), "%s was called without a token", r.Name())
	}
	_, status := gw.ops(t, http.MethodGet, "/status", nil)
	_, metrics := gw.ops(t, http.MethodGet, "/metrics", nil)
	for where, text := range map[string]string{"logs": gw.Logs.String(), "answer": string(body), "/status": string(status), "/metrics": string(metrics)} {
		assert.NotContains(t, text, secret, where)
	}
	assert.Equal(t, 1, strings.Count(gw.Logs.String(), "gateway credential changed"), "the lasting failure is logged once")
}
