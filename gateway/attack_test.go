package gateway

// The attacks of issue 10, each a regular test: what a client with one
// valid key (or a misbehaving region) could do to knock the gateway over,
// and what the gateway must do instead. attack_figures_test.go measures the
// same attacks against a gateway process for docs/reliability.md.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
)

// zeros is an endless reader of a JSON-safe byte, so a client sends
// megabytes without holding them.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// bigSubmit is a submit body of about n bytes, streamed.
func bigSubmit(n int) io.Reader {
	head := `{"tasks":[{"kind":"CustomEntityRecognition","parameters":{"projectName":"` + testProject +
		`","deploymentName":"` + testDeployment + `"}}],"analysisInput":{"documents":[{"id":"1","language":"en","text":"`
	tail := `"}]}}`
	return io.MultiReader(strings.NewReader(head), io.LimitReader(zeros{}, int64(n-len(head)-len(tail))), strings.NewReader(tail))
}

// holdBodies opens n connections that send a submit's headers announcing
// contentLength bytes, then body bytes only as trickle says (nothing when
// nil), and keeps them open until the test ends.
func holdBodies(t *testing.T, addr string, n int, contentLength int, trickle func(net.Conn)) {
	t.Helper()
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		conns = append(conns, c)
		_, err = fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: gw\r\nOcp-Apim-Subscription-Key: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{",
			submitPath, testGatewayKey, contentLength)
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	if trickle != nil {
		for _, c := range conns {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
						trickle(c)
					}
				}
			})
		}
	}
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
}

// Slow bodies starve no one: the in-flight slot is taken only once a body
// is in, so 100 bodies trickling from one key leave every slot to others.
func TestAttackTricklingBodiesStarveNoOne(t *testing.T) {
	const other = "second-gateway-key-41d7"
	gw := startGateway(t, withEnv("GATEWAY_API_KEYS", testGatewayKey+","+other,
		"GATEWAY_MAX_INFLIGHT", "10", "GATEWAY_BODY_TIMEOUT", "1m"))
	holdBodies(t, strings.TrimPrefix(gw.URL, "http://"), 100, 1000, func(c net.Conn) { _, _ = io.WriteString(c, " ") })
	// Let every trickling request reach the proxy before the other key
	// submits (the old gateway took a slot right there).
	time.Sleep(200 * time.Millisecond)
	for i := range 20 {
		resp, body := gw.do(t, http.MethodPost, submitPath+"", submitBody(probeText), other)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "submit %d of the second key: %s", i, body)
	}
}

// Header-only requests announcing 8 MiB each cost nothing: buffers grow
// with the bytes that arrive, never from Content-Length.
func TestAttackHeaderOnlyContentLengthsCostNothing(t *testing.T) {
	gw := startGateway(t)
	before := heapInUse()
	holdBodies(t, strings.TrimPrefix(gw.URL, "http://"), 200, 8<<20, nil)
	time.Sleep(200 * time.Millisecond) // every request is waiting in readBody
	assertEntities(t, gw.wait(t, gw.submit(t, probeText)))
	grown := int64(heapInUse()) - int64(before)
	t.Logf("200 announced 8 MiB bodies grew the heap by %d KiB", grown>>10)
	assert.Less(t, grown, int64(64<<20), "200 announced 8 MiB bodies grew the heap by %d MiB", grown>>20)
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// sinkRegion is a region that reads and drops every body and answers a
// client error (relayed as is): the gateway's memory is all that is
// measured, not a region's work on megabytes of text.
func sinkRegion(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodGet {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"value":[]}`) // the health probe
			return
		}
		api.WriteError(w, http.StatusBadRequest, api.Error{Code: api.CodeInvalidRequest, Message: "dropped by the sink"})
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// Many large bodies at once are held to the byte budget: every request is
// answered (the region's answer, or 503 with Retry-After in Azure's
// shape), and the heap never grows past twice the budget plus 32 MiB.
func TestAttackConcurrentBodiesHeldToTheBudget(t *testing.T) {
	const budget = 16 << 20
	sink := sinkRegion(t)
	gw := startGatewaySetup(t, gatewaySetup{primaryURL: sink, secondaryURL: sink},
		// Memory is under test, not timing: generous timeouts so a loaded
		// -race run answers every body from the region, not with 408/504.
		withEnv("GATEWAY_MAX_BUFFERED_BYTES", strconv.Itoa(budget), "MAX_REQUEST_BYTES", "1MiB",
			"GATEWAY_BODY_TIMEOUT", "2m", "UPSTREAM_TIMEOUT", "2m"))
	base := heapInUse()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	var wg sync.WaitGroup
	var relayed, refused atomic.Int64
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	for range 100 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, gw.URL+submitPath, bigSubmit(1<<20-64))
			req.Header.Set(api.SubscriptionKeyHeader, testGatewayKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if !assert.NoError(t, err) {
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusBadRequest:
				relayed.Add(1)
			case http.StatusServiceUnavailable:
				refused.Add(1)
				assert.Equal(t, "1", resp.Header.Get("Retry-After"))
				assert.Equal(t, api.CodeServiceUnavailable, assertAzureError(t, body).Code)
			default:
				assert.Failf(t, "unexpected status", "status %d: %s", resp.StatusCode, body)
			}
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	assert.Equal(t, int64(100), relayed.Load()+refused.Load())
	assert.Positive(t, relayed.Load())
	grown := int64(peak.Load()) - int64(base)
	t.Logf("heap peak grew %d MiB over a %d MiB budget; %d relayed, %d refused", grown>>20, budget>>20, relayed.Load(), refused.Load())
	// The collector lets the heap reach twice what is live before it runs
	// (GOGC=100; a gateway served in process leaves the test process's
	// memory limit alone: memory_test.go measures the binary with its own).
	assert.Less(t, grown, int64(2*budget+32<<20), "heap peak grew %d MiB over a %d MiB budget", grown>>20, budget>>20)
}

// Nothing a client sends without a key becomes a time series: 3,000
// distinct Hosts and 500 made-up methods leave /metrics the size it was.
func TestAttackMetricsStayBounded(t *testing.T) {
	gw := startGateway(t)
	send := func(method, host string) {
		req, _ := http.NewRequest(method, gw.URL+"/language/analyze-text/jobs/not-a-job-id", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// The series the attack could touch exist before the baseline.
	send(http.MethodGet, "warm-up.example")
	send("WARMUP", "warm-up.example")
	size := func() int {
		resp, body := gw.ops(t, http.MethodGet, "/metrics", nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return len(body)
	}
	before := size()
	for i := range 3000 {
		send(http.MethodGet, fmt.Sprintf("h%d.attacker.example:%d", i, 1024+i))
	}
	for i := range 500 {
		send("M"+strconv.Itoa(i), "attacker.example")
	}
	after := size()
	assert.Less(t, float64(after-before)/float64(before), 0.05, "/metrics grew from %d to %d bytes", before, after)
}

// A probe 429 naming a date in 2099 parks nothing for long: the probe is
// an authoring read, so runtime calls keep going to the primary, and the
// parking of authoring reads ends within REGION_MAX_PARK.
func TestAttackProbe429In2099(t *testing.T) {
	primary := testRegion(t, "westus2", testPrimaryKey, 0)
	secondary := testRegion(t, "eastus", testSecondaryKey, 0)
	seedTestProject(t, primary, testProject, testDeployment)
	seedTestProject(t, secondary, testProject, testDeployment)
	var probes429 atomic.Int64
	front := throttlingFront(t, primary.URL, func(r *http.Request) bool {
		return r.URL.Path == api.AuthoringProjectsPath && r.URL.Query().Get("top") == "1" && probes429.Add(1) <= 10
	})
	gw := startGatewaySetup(t, gatewaySetup{primary: primary, secondary: secondary, primaryURL: front.URL},
		withEnv("REGION_MAX_PARK", "1s", "HEALTH_PROBE_INTERVAL", "50ms"))
	// While the probes get 429s, authoring reads are parked, but never
	// past REGION_MAX_PARK from now (not until 2099).
	var parked map[string]any
	eventually(t, "the probe's 429 parked authoring reads", func() bool {
		parked, _ = gw.regionStatus(t, "westus2")["parked"].(map[string]any)
		return parked != nil
	})
	until, err := time.Parse(time.RFC3339Nano, fmt.Sprint(parked["authoring_read"]))
	require.NoError(t, err, "%v", parked)
	assert.WithinDuration(t, time.Now(), until, 1500*time.Millisecond, "parked until %s", until)
	assert.NotContains(t, parked, "runtime")
	for range 3 {
		assertEntities(t, gw.wait(t, gw.submit(t, probeText)))
	}
	assert.Equal(t, 3, primary.Calls("submit"), "runtime calls stayed with the primary")
	assert.Zero(t, secondary.Calls("submit"))
	// Once the probes get 200 again, the parking is over and the breaker
	// was never touched.
	eventually(t, "authoring reads unparked", func() bool {
		_, parked := gw.regionStatus(t, "westus2")["parked"]
		return !parked && probes429.Load() > 10
	})
	st := gw.regionStatus(t, "westus2")
	assert.Equal(t, "closed", st["breaker"], "%v", st)
}

// throttlingFront stands in front of a region: calls for which throttle
// says so are answered 429 with a Retry-After in 2099 (the worst a region
// can say), the rest are relayed, with operation-location pointing back at
// the front. It returns the front's URL.
func throttlingFront(t *testing.T, regionURL string, throttle func(*http.Request) bool) *httptest.Server {
	t.Helper()
	target, err := url.Parse(regionURL)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if throttle(r) {
			w.Header().Set("Retry-After", "Thu, 01 Jan 2099 00:00:00 GMT")
			api.WriteError(w, http.StatusTooManyRequests, api.Error{Code: "429", Message: "Rate limit is exceeded."})
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	rp.ModifyResponse = func(resp *http.Response) error {
		if v := resp.Header.Get("Operation-Location"); v != "" {
			resp.Header.Set("Operation-Location", strings.Replace(v, regionURL, front.URL, 1))
		}
		return nil
	}
	return front
}
