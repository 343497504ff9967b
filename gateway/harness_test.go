package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/emulator"
	"nergateway/internal/config"
	"nergateway/internal/testkit/jsonbody"
	"nergateway/internal/testkit/loopback"
	"nergateway/internal/testkit/syncbuf"
	"nergateway/internal/testkit/wait"
)

// Keys used across the end-to-end tests. The secret scan looks for them in
// everything the gateway returned and logged.
const (
	testGatewayKey   = "gw-key-e2e-7f3a"
	testAdminKey     = "admin-key-e2e-91bd"
	testAuthorKey    = "authoring-key-e2e-3b8c" // GATEWAY_AUTHORING_KEYS
	testPrimaryKey   = "primary-region-key-e2e-0c1d"
	testSecondaryKey = "secondary-region-key-e2e-5e6f"
	testProject      = "contracts"
	testDeployment   = "production"
)

// trafficRecord holds every response one gateway gave and every log line
// it wrote, with the host:port of the regions behind it, for the secret
// scan in TestMain. Scanning each gateway only for its own regions keeps a
// port reused by a later listener from looking like a leak.
type trafficRecord struct {
	hosts []string

	mu        sync.Mutex
	responses []string
	logs      []*syncbuf.Buffer
}

// seenTraffic is every record of the suite.
var seenTraffic struct {
	sync.Mutex
	records []*trafficRecord
}

// newTrafficRecord starts a record for a gateway (or a replicate run) in
// front of regions.
func newTrafficRecord(regions ...*emulator.Server) *trafficRecord {
	rec := &trafficRecord{}
	for _, r := range regions {
		rec.hosts = append(rec.hosts, strings.TrimPrefix(r.URL, "http://"))
	}
	seenTraffic.Lock()
	seenTraffic.records = append(seenTraffic.records, rec)
	seenTraffic.Unlock()
	return rec
}

// newLog returns a log sink whose contents the scan will read.
func (rec *trafficRecord) newLog() *syncbuf.Buffer {
	b := &syncbuf.Buffer{}
	rec.mu.Lock()
	rec.logs = append(rec.logs, b)
	rec.mu.Unlock()
	return b
}

// recordingTransport keeps the status, headers and body of every response.
type recordingTransport struct {
	next http.RoundTripper
	rec  *trafficRecord
}

// CloseIdleConnections closes the client's idle connections, so a gateway
// stopping does not wait for connections its client dialed but never used
// (http.Server.Shutdown counts those as active for 5s).
func (rt recordingTransport) CloseIdleConnections() {
	if c, ok := rt.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// roundTripRead sends r through next and reads the whole answer: the
// returned response's body reads the same bytes again, for the client.
func roundTripRead(next http.RoundTripper, r *http.Request) (*http.Response, []byte, error) {
	resp, err := next.RoundTrip(r)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, body, nil
}

func (rt recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, body, err := roundTripRead(rt.next, r)
	if err != nil {
		return nil, err
	}
	var dump strings.Builder
	fmt.Fprintf(&dump, "%s %s -> %d\n", r.Method, r.URL.Path, resp.StatusCode)
	_ = resp.Header.Write(&dump)
	dump.Write(body)
	rt.rec.mu.Lock()
	rt.rec.responses = append(rt.rec.responses, dump.String())
	rt.rec.mu.Unlock()
	return resp, nil
}

// testRegion is an emulated region seeded with the test project.
func testRegion(t *testing.T, name, key string, jobDuration time.Duration) *emulator.Server {
	t.Helper()
	s, err := emulator.NewServer(emulator.Options{Name: name, Key: key, JobDuration: jobDuration})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// seedTestProject trains and deploys the same small project in a region.
func seedTestProject(t *testing.T, s *emulator.Server, project, deployment string) {
	t.Helper()
	p := emulator.SeedProject{Name: project, Language: "en", Container: "docs", Entities: []string{"Party", "City"},
		ModelLabel: "m1", DeploymentName: deployment}
	for i, d := range []struct{ text, party, city string }{
		{"Contoso signs the lease in Köln.", "Contoso", "Köln"},
		{"Fabrikam and Contoso meet in São Paulo.", "Fabrikam", "São Paulo"},
	} {
		p.Documents = append(p.Documents, emulator.SeedDocument{
			Name: fmt.Sprintf("%02d.txt", i+1), Text: d.text,
			Labels: []api.Label{emulator.MustLabel(d.text, d.party, "Party"), emulator.MustLabel(d.text, d.city, "City")},
		})
	}
	require.NoError(t, s.Seed(p))
}

// testGateway is a gateway started in process by run, in front of two
// emulated regions, with a client that records what it receives.
type testGateway struct {
	URL                string
	OpsURL             string // GATEWAY_OPS_ADDR: /status, /metrics, /admin/...
	Primary, Secondary *emulator.Server
	Client             *http.Client
	Logs               *syncbuf.Buffer
	Stdout             *syncbuf.Buffer
	stop               func() error
}

type gatewayOption func(env map[string]string)

func withEnv(kv ...string) gatewayOption {
	return func(env map[string]string) {
		for i := 0; i+1 < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
	}
}

// answers reports whether GET url answers status; false while nothing
// listens there.
func answers(url string, status int) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == status
}

// gatewayEnv is the environment of a gateway under test: free loopback
// addresses, the test keys, the two regions at primaryURL and
// secondaryURL, and timings short enough for a test to see a breaker open
// and a probe run.
func gatewayEnv(t *testing.T, primaryURL, secondaryURL string) map[string]string {
	t.Helper()
	addrs := loopback.FreeAddrs(t, 2)
	return map[string]string{
		"GATEWAY_ADDR":                 addrs[0],
		"GATEWAY_OPS_ADDR":             addrs[1],
		"GATEWAY_API_KEYS":             testGatewayKey,
		"GATEWAY_ADMIN_KEY":            testAdminKey,
		"GATEWAY_AUTHORING_KEYS":       testAuthorKey,
		"PRIMARY_NAME":                 "westus2",
		"SECONDARY_NAME":               "eastus",
		"PRIMARY_ENDPOINT":             primaryURL,
		"PRIMARY_RESOURCE_KEY":         testPrimaryKey,
		"SECONDARY_ENDPOINT":           secondaryURL,
		"SECONDARY_RESOURCE_KEY":       testSecondaryKey,
		"UPSTREAM_TIMEOUT":             "2s",
		"BREAKER_CONSECUTIVE_FAILURES": "3",
		"BREAKER_OPEN_TIMEOUT":         "300ms",
		"HEALTH_PROBE_INTERVAL":        "50ms",
		"GATEWAY_DRAIN_TIMEOUT":        "5s",
		"LOG_LEVEL":                    "debug",
	}
}

// startGateway runs the whole gateway in process and waits for /healthz.
// Both regions hold the test project unless a test reseeds them.
func startGateway(t *testing.T, opts ...gatewayOption) *testGateway {
	t.Helper()
	primary := testRegion(t, "westus2", testPrimaryKey, 0)
	secondary := testRegion(t, "eastus", testSecondaryKey, 0)
	seedTestProject(t, primary, testProject, testDeployment)
	seedTestProject(t, secondary, testProject, testDeployment)
	return startGatewayWith(t, primary, secondary, opts...)
}

func startGatewayWith(t *testing.T, primary, secondary *emulator.Server, opts ...gatewayOption) *testGateway {
	t.Helper()
	env := gatewayEnv(t, primary.URL, secondary.URL)
	addr, opsAddr := env["GATEWAY_ADDR"], env["GATEWAY_OPS_ADDR"]
	// Unset, run would size the soft memory limit of the whole test
	// process (every gateway, emulator and client in it) from one
	// gateway's budget; set, the process keeps its own.
	env["GOMEMLIMIT"] = "off"
	for _, o := range opts {
		o(env)
	}
	rec := newTrafficRecord(primary, secondary)
	logs, stdout := rec.newLog(), rec.newLog()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveEnv(ctx, env, logs) }()
	gw := &testGateway{
		URL: "http://" + addr, OpsURL: "http://" + opsAddr, Primary: primary, Secondary: secondary, Logs: logs, Stdout: stdout,
		Client: &http.Client{Transport: recordingTransport{next: &http.Transport{}, rec: rec}, Timeout: 30 * time.Second},
	}
	return gw.started(t, cancel, done)
}

// do sends a request with the gateway key (unless key is set to "") and
// returns the response with its body read.
func (g *testGateway) do(t *testing.T, method, path string, body any, key ...string) (*http.Response, []byte) {
	t.Helper()
	rd := jsonbody.Reader(t, body)
	target := path
	if strings.HasPrefix(path, "/") {
		target = g.URL + path
	}
	req, err := http.NewRequest(method, target, rd)
	require.NoError(t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	k := testGatewayKey
	if len(key) > 0 {
		k = key[0]
	}
	if k != "" {
		req.Header.Set("Ocp-Apim-Subscription-Key", k)
	}
	resp, err := g.Client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, data
}

// ops is do against the ops port.
func (g *testGateway) ops(t *testing.T, method, path string, body any, key ...string) (*http.Response, []byte) {
	t.Helper()
	return g.do(t, method, g.OpsURL+path, body, key...)
}

// submitBody is a custom NER job over texts, for the test project.
func submitBody(texts ...string) api.SubmitRequest {
	req := api.SubmitRequest{DisplayName: "e2e", Tasks: []api.Task{{
		Kind:       api.KindCustomEntityRecognition,
		Parameters: api.TaskParameters{ProjectName: testProject, DeploymentName: testDeployment},
	}}}
	for i, text := range texts {
		req.AnalysisInput.Documents = append(req.AnalysisInput.Documents, api.Document{ID: fmt.Sprint(i + 1), Language: "en", Text: text})
	}
	return req
}

const submitPath = "/language/analyze-text/jobs?api-version=2023-04-01"

// submit posts a job and returns the operation-location.
func (g *testGateway) submit(t *testing.T, texts ...string) string {
	t.Helper()
	resp, body := g.do(t, http.MethodPost, submitPath, submitBody(texts...))
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "submit: %s", body)
	loc := resp.Header.Get("Operation-Location")
	require.True(t, strings.HasPrefix(loc, g.URL+"/language/analyze-text/jobs/"), "operation-location %q not on the gateway", loc)
	return loc
}

// wait polls an operation-location until the job is terminal.
func (g *testGateway) wait(t *testing.T, loc string) api.JobState {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, body := g.do(t, http.MethodGet, loc, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, "poll: %s", body)
		var st api.JobState
		require.NoError(t, json.Unmarshal(body, &st))
		if api.Terminal(st.Status) {
			return st
		}
		require.True(t, time.Now().Before(deadline), "job %s still %s", st.JobID, st.Status)
		time.Sleep(20 * time.Millisecond)
	}
}

// eventually retries cond until it holds or 10 s pass; it waits for state
// that the gateway reaches asynchronously (probes), and asserts nothing
// about how long that took.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, what, 10*time.Second, 10*time.Millisecond, cond)
}

// waitFirstProbes waits until every region has been probed once, so a test
// that counts a region's failures in a row is not raced by the start probe.
func (g *testGateway) waitFirstProbes(t *testing.T) {
	t.Helper()
	for _, name := range []string{"westus2", "eastus"} {
		eventually(t, name+" probed once", func() bool { return g.regionStatus(t, name)["lastProbe"] != nil })
	}
}

// regionStatus reads one region's entry from /status.
func (g *testGateway) regionStatus(t *testing.T, name string) map[string]any {
	t.Helper()
	resp, body := g.ops(t, http.MethodGet, "/status", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var st struct {
		Regions []map[string]any `json:"regions"`
	}
	require.NoError(t, json.Unmarshal(body, &st))
	for _, r := range st.Regions {
		if r["name"] == name {
			return r
		}
	}
	require.FailNow(t, "region not in /status", "region %s not in /status: %s", name, body)
	return nil
}

// gatewaySetup is a gateway whose regions are reached through something
// other than the emulators' own listeners (toxiproxy, a TLS server), or
// that needs process options run cannot take (shorter server timeouts).
type gatewaySetup struct {
	// primary and secondary are the emulated regions behind the endpoints;
	// either may be nil when the endpoint is not an emulator.
	primary, secondary *emulator.Server
	// primaryURL and secondaryURL are the endpoints the gateway is given;
	// empty means the emulator's own URL.
	primaryURL, secondaryURL string
	// limits replaces the server's timeouts and header cap when set.
	limits *serverLimits
}

// startGatewaySetup is startGatewayWith for a gatewaySetup: it calls serve
// itself (as run does after config.Load) so options can be passed, and it
// adds every endpoint's host to the secret scan.
func startGatewaySetup(t *testing.T, s gatewaySetup, opts ...gatewayOption) *testGateway {
	t.Helper()
	endpoint := func(url string, em *emulator.Server) string {
		if url == "" && em != nil {
			return em.URL
		}
		return url
	}
	env := gatewayEnv(t, endpoint(s.primaryURL, s.primary), endpoint(s.secondaryURL, s.secondary))
	for _, o := range opts {
		o(env)
	}
	var regions []*emulator.Server
	for _, em := range []*emulator.Server{s.primary, s.secondary} {
		if em != nil {
			regions = append(regions, em)
		}
	}
	rec := newTrafficRecord(regions...)
	for _, u := range []string{env["PRIMARY_ENDPOINT"], env["SECONDARY_ENDPOINT"]} {
		if _, host, ok := strings.Cut(u, "://"); ok {
			rec.hosts = append(rec.hosts, strings.TrimSuffix(host, "/"))
		}
	}
	logs, stdout := rec.newLog(), rec.newLog()
	getenv := func(k string) string { return env[k] }
	cfg, err := config.Load(getenv)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		g, err := New(ctx, cfg, Deps{Getenv: getenv, Stderr: logs, limits: s.limits})
		if err != nil {
			done <- err
			return
		}
		done <- g.Serve(ctx)
	}()
	addr := env["GATEWAY_ADDR"]
	gw := &testGateway{
		URL: "http://" + addr, OpsURL: "http://" + env["GATEWAY_OPS_ADDR"], Primary: s.primary, Secondary: s.secondary, Logs: logs, Stdout: stdout,
		Client: &http.Client{Transport: recordingTransport{next: &http.Transport{MaxIdleConnsPerHost: 64}, rec: rec}, Timeout: 30 * time.Second},
	}
	return gw.started(t, cancel, done)
}

// started takes charge of a gateway serving until cancel, with its result
// on done: it stops the gateway when the test ends (an error stopping
// fails the test), and waits until /healthz answers 200, failing the test
// with the logs if the gateway exits first or is not healthy within 10s.
func (gw *testGateway) started(t *testing.T, cancel context.CancelFunc, done <-chan error) *testGateway {
	t.Helper()
	logs := gw.Logs
	gw.stop = stopper(cancel, done)
	t.Cleanup(func() {
		gw.Client.CloseIdleConnections()
		assert.NoError(t, gw.stop(), "gateway stop\nlogs:\n%s", logs.String())
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-done:
			require.FailNow(t, "gateway exited at start", "%v\nlogs:\n%s", err, logs.String())
		default:
		}
		resp, err := http.Get(gw.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return gw
			}
		}
		if time.Now().After(deadline) {
			require.FailNow(t, "gateway not healthy within 10s", "%v\nlogs:\n%s", err, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serveEnv serves the gateway with the configuration env holds, as
// cmd/gateway does, logging to logs, until ctx is done.
func serveEnv(ctx context.Context, env map[string]string, logs io.Writer) error {
	deps := Deps{Getenv: func(k string) string { return env[k] }, Stderr: logs, Environ: EnvironNames(os.Environ()), MemoryLimit: true}
	cfg, err := config.Load(deps.Getenv)
	if err != nil {
		return err
	}
	g, err := New(ctx, cfg, deps)
	if err != nil {
		return err
	}
	return g.Serve(ctx)
}

// replicateEnv runs `gateway replicate --once` with the configuration env
// holds, logging to logs.
func replicateEnv(ctx context.Context, env map[string]string, logs io.Writer) error {
	deps := Deps{Getenv: func(k string) string { return env[k] }, Stderr: logs, Environ: EnvironNames(os.Environ())}
	cfg, err := config.Load(deps.Getenv)
	if err != nil {
		return err
	}
	return ReplicateOnce(ctx, cfg, deps)
}

// stopper cancels a gateway started with run or serve, once, and waits for
// it to return.
func stopper(cancel context.CancelFunc, done <-chan error) func() error {
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				err = fmt.Errorf("gateway did not stop within 20s")
			}
		})
		return err
	}
}
