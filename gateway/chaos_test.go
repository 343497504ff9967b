package gateway

// Network chaos between the gateway and its regions, under load. Each
// region is reached through a toxiproxy proxy run in process (listening on
// 127.0.0.1 only); a scenario poisons the primary's link while tens of
// clients submit and poll, heals it, and checks the invariants of
// docs/DESIGN.md's failover rules. TestChaos writes its figures into
// docs/reliability.md when run with -reliability-report (see that file).

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/internal/testkit/redistest"
)

var (
	reliabilityReport = flag.String("reliability-report", "",
		"write TestChaos's results table into this markdown file, between its chaos-results markers")
	soak = flag.Bool("soak", false, "run the chaos scenarios for a minute each with more clients (not in CI)")
)

// Chaos timing. UPSTREAM_TIMEOUT is long enough that a healthy emulator
// under -race on a busy 2-core machine always answers within it, and
// latency toxics are well above it.
const (
	chaosUpstreamTimeout = 2 * time.Second
	chaosBreakerFailures = 3
	chaosOpenTimeout     = 300 * time.Millisecond
	chaosProbeInterval   = 50 * time.Millisecond
	// chaosRescueAfter is JOB_RESCUE_AFTER in the job-rescue scenarios.
	chaosRescueAfter = 500 * time.Millisecond
	// The slow replica of the recovery scenario: it learns the primary is
	// back seconds after the other one does.
	chaosSlowProbeInterval = time.Second
	chaosSlowOpenTimeout   = 3 * time.Second
)

// chaosLoad is the shape of the load a scenario runs.
type chaosLoad struct {
	clients int
	warmup  time.Duration // healthy, before the fault
	fault   time.Duration // with the fault
}

func chaosLoadShape() chaosLoad {
	if *soak {
		return chaosLoad{clients: 50, warmup: 5 * time.Second, fault: time.Minute}
	}
	return chaosLoad{clients: 20, warmup: 500 * time.Millisecond, fault: 2 * time.Second}
}

// chaosLink is a toxiproxy proxy in front of one region.
type chaosLink struct {
	*toxiproxy.Proxy
	mu      sync.Mutex
	enabled bool
}

// newChaosLink starts a toxiproxy proxy on a loopback port in front of
// upstream (host:port). It is stopped when the test ends.
func newChaosLink(t *testing.T, name, upstream string) *chaosLink {
	t.Helper()
	// toxiproxy's toxics log through zerolog's global level.
	zerolog.SetGlobalLevel(zerolog.Disabled)
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(server, name, "127.0.0.1:0", upstream)
	require.NoError(t, p.Start())
	t.Cleanup(p.Stop)
	return &chaosLink{Proxy: p, enabled: true}
}

func (l *chaosLink) URL() string { return "http://" + l.Listen }

// addToxic adds a toxic given as toxiproxy's JSON.
func (l *chaosLink) addToxic(t *testing.T, name, typ, stream string, attrs map[string]any) {
	t.Helper()
	js, err := json.Marshal(map[string]any{"name": name, "type": typ, "stream": stream, "attributes": attrs})
	require.NoError(t, err)
	_, err = l.Toxics.AddToxicJson(strings.NewReader(string(js)))
	require.NoError(t, err)
}

// setEnabled takes the link down (listener closed, every connection cut:
// connection refused from then on) or brings it back on the same port. It
// reports with assert, so the flapping goroutine may call it too.
func (l *chaosLink) setEnabled(t *testing.T, on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if on == l.enabled {
		return
	}
	if on {
		if err := l.Start(); !assert.NoError(t, err, "toxiproxy %s: start again", l.Name) {
			return
		}
	} else {
		l.Stop()
	}
	l.enabled = on
}

// rateToxicType is toxiproxy's bandwidth toxic with sends that give up.
// Toxiproxy's own (toxics/bandwidth.go:66 in v2.12.0) sends on the stub's
// output unconditionally, so when the destination connection closes first
// (the gateway abandoning a timed-out attempt) its goroutine blocks for
// ever; goleak caught 13 of them after a soak.
const rateToxicType = "gateway_test_bandwidth"

func init() { toxics.Register(rateToxicType, new(rateToxic)) }

// rateToxic passes data at Rate KB/s, in slices of 100 ms.
type rateToxic struct {
	Rate int64 `json:"rate"`
}

func (t *rateToxic) Pipe(stub *toxics.ToxicStub) {
	rate := max(t.Rate, 1)
	for {
		select {
		case <-stub.Interrupt:
			return
		case p := <-stub.Input:
			if p == nil {
				stub.Close()
				return
			}
			for len(p.Data) > 0 {
				n := min(len(p.Data), int(rate*100))
				select {
				case <-time.After(time.Duration(n) * time.Millisecond / time.Duration(rate)):
				case <-stub.Interrupt:
					_ = stub.WriteOutput(p, time.Second) // the toxic is being removed: pass the rest on
					return
				}
				if err := stub.WriteOutput(&stream.StreamChunk{Data: p.Data[:n], Timestamp: p.Timestamp}, time.Second); err != nil {
					stub.Close() // nobody reads any more: end, so a later removal does not wait for us
					return
				}
				p.Data = p.Data[n:]
			}
		}
	}
}

// chaosScenario is one row of the results table.
type chaosScenario struct {
	name   string
	faults string // what the row says was done
	// inject poisons the primary's link and returns what heals it.
	inject func(t *testing.T, primary *chaosLink) (heal func())
	// opens: the primary's breaker must open during the fault.
	opens bool
	// rescue runs the gateway with job rescue (memory) and heals the
	// primary only once every accepted job is final: jobs the primary held
	// can finish only by being rescued.
	rescue bool
	// replicas runs two gateway replicas sharing a real redis-server with
	// job rescue on, and heals the primary under load. Replica B probes as
	// in every scenario, replica A slowly (chaosSlowProbeInterval,
	// chaosSlowOpenTimeout), so after the heal B sends new jobs to the
	// primary while A still sees it down. Each client submits through one
	// replica and polls through the other.
	replicas bool
}

func chaosScenarios() []chaosScenario {
	toxic := func(typ, stream string, attrs map[string]any) func(*testing.T, *chaosLink) func() {
		return func(t *testing.T, l *chaosLink) func() {
			l.addToxic(t, "chaos", typ, stream, attrs)
			return func() { require.NoError(t, l.Toxics.RemoveToxic(context.Background(), "chaos")) }
		}
	}
	return []chaosScenario{
		{
			name:   "latency",
			faults: fmt.Sprintf("primary answers delayed %s (UPSTREAM_TIMEOUT %s)", 3*chaosUpstreamTimeout, chaosUpstreamTimeout),
			inject: toxic("latency", "downstream", map[string]any{"latency": (3 * chaosUpstreamTimeout).Milliseconds()}),
			opens:  true,
		},
		{
			name:   "blackhole",
			faults: "primary link drops every byte, connections stay open (`timeout` toxic, 0)",
			inject: toxic("timeout", "upstream", map[string]any{"timeout": 0}),
			opens:  true,
		},
		{
			name:   "reset_peer",
			faults: "primary connections reset (RST) on the first byte (`reset_peer`, 0)",
			inject: toxic("reset_peer", "upstream", map[string]any{"timeout": 0}),
			opens:  true,
		},
		{
			name:   "slow_close",
			faults: "primary connections close 1 s late (`slow_close`)",
			inject: toxic("slow_close", "downstream", map[string]any{"delay": 1000}),
		},
		{
			name:   "bandwidth",
			faults: "primary answers throttled to 1 KB/s (a `bandwidth` toxic)",
			inject: toxic(rateToxicType, "downstream", map[string]any{"rate": 1}),
		},
		{
			name:   "down",
			faults: "primary link disabled: listener closed, connections cut (connection refused)",
			inject: func(t *testing.T, l *chaosLink) func() {
				l.setEnabled(t, false)
				return func() { l.setEnabled(t, true) }
			},
			opens: true,
		},
		{
			name:   "flapping",
			faults: "primary link down 300 ms / up 300 ms, repeatedly",
			inject: func(t *testing.T, l *chaosLink) func() {
				stop := make(chan struct{})
				var wg sync.WaitGroup
				wg.Go(func() {
					tick := time.NewTicker(300 * time.Millisecond)
					defer tick.Stop()
					up := true
					for {
						select {
						case <-stop:
							l.setEnabled(t, true)
							return
						case <-tick.C:
							up = !up
							l.setEnabled(t, up)
						}
					}
				})
				return func() { close(stop); wg.Wait() }
			},
			opens: true,
		},
		{
			name: "recovery",
			faults: fmt.Sprintf("primary link disabled, healed under load; two replicas sharing Redis, job rescue on (JOB_RESCUE_AFTER %s); replica A probes every %s with BREAKER_OPEN_TIMEOUT %s, so it sees the primary back seconds after B",
				chaosRescueAfter, chaosSlowProbeInterval, chaosSlowOpenTimeout),
			inject: func(t *testing.T, l *chaosLink) func() {
				l.setEnabled(t, false)
				return func() { l.setEnabled(t, true) }
			},
			opens:    true,
			replicas: true,
		},
		{
			name: "rescue",
			faults: fmt.Sprintf("primary link disabled and healed only after every accepted job is final; job rescue on (memory, JOB_RESCUE_AFTER %s)",
				chaosRescueAfter),
			inject: func(t *testing.T, l *chaosLink) func() {
				l.setEnabled(t, false)
				return func() { l.setEnabled(t, true) }
			},
			opens:  true,
			rescue: true,
		},
	}
}

// chaosResult is what one scenario measured.
type chaosResult struct {
	scenario      chaosScenario
	load          chaosLoad
	duration      time.Duration
	submits       int64 // answered 202
	faultSubmits  int64 // of which while the fault was on
	submitErrors  int64 // anything else: client-visible errors
	polls         int64
	pollCalm      int64 // 200 running answered by the gateway while the owner could not answer
	pollRetryable int64 // 503 with Retry-After or 504: a poll error while a region could serve
	pollErrors    int64 // any other non-200: client-visible errors
	jobs          int   // accepted
	lost          int   // accepted but not succeeded by the end
	inFlight      int   // accepted before the fault, not finished by the region that accepted them
	rescued       int   // gateway_jobs_rescued_total at the end
	// originalsCancelled and originalsFinished are
	// gateway_rescued_originals_total{outcome="cancelled"} and
	// {outcome="already_finished"}: first copies of rescued jobs cancelled
	// in their region once it answered again, or found finished there
	// (-1: the gateway has no such series).
	originalsCancelled, originalsFinished int
	// needless counts rescued jobs accepted after the primary was healed:
	// it was up when it took them and stayed up, so rescuing them doubled
	// a job that was never stranded (a replica's stale view of the region).
	needless     int
	toSecondary  int // submits the secondary served
	trips        int // primary breaker closed -> open
	failedTrials int // primary breaker half-open -> open (a probe failed)
	closes       int // primary breaker half-open -> closed
	failback     bool
	peakHeapMiB  float64
	leaks        int64 // answers naming a key or a region host
	errorSamples []string
}

func (r *chaosResult) clientErrors() int64 { return r.submitErrors + r.pollErrors }

// pollErrorsServable are the client-visible poll errors while a region
// could serve (the secondary is healthy in every scenario): goal 0.
func (r *chaosResult) pollErrorsServable() int64 { return r.pollRetryable + r.pollErrors }

// scanningTransport checks every answer (status, headers, body) for the
// needles as it arrives and keeps only the count of leaks: the load sends
// too many requests for TestMain's recording scan to hold them all.
type scanningTransport struct {
	next    http.RoundTripper
	needles []string
	leaks   *int64
	sample  func(format string, a ...any)
}

func (st scanningTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, body, err := roundTripRead(st.next, r)
	if err != nil {
		return nil, err
	}
	var dump strings.Builder
	_ = resp.Header.Write(&dump)
	dump.Write(body)
	for _, n := range st.needles {
		if strings.Contains(dump.String(), n) {
			atomic.AddInt64(st.leaks, 1)
			st.sample("answer to %s %s names %q", r.Method, r.URL.Path, n)
		}
	}
	return resp, nil
}

// chaosClient is one client of the load: it submits, keeps a few jobs in
// flight and polls them to a final state.
type chaosClient struct {
	gw     *testGateway // submits go here
	pollGW *testGateway // polls go here (another replica, or gw)
	client *http.Client // scans each answer for secrets instead of keeping it
	res    *chaosResult
	mu     *sync.Mutex // guards res.errorSamples

	pending []string // operation-locations not yet final
	// waiting is how many pending jobs' owner was unreachable at the last
	// poll: they do not hold back new submits, so the load goes on
	// through an outage.
	waiting  int
	accepted int
	done     int
	// acceptedAt times each job (by operation-location); copies lists the
	// jobs whose final answer came from a copy created after the client's
	// 202 (a rescued copy): with acceptedAt, they count the jobs in flight
	// when the fault began.
	acceptedAt map[string]time.Time
	copies     map[string]bool
}

func (c *chaosClient) fail(format string, a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.res.errorSamples) < 10 {
		c.res.errorSamples = append(c.res.errorSamples, fmt.Sprintf(format, a...))
	}
}

// send is gw.do without require, for goroutines other than the test's.
func (c *chaosClient) send(method, target string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(method, target, strings.NewReader(string(body)))
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(api.SubscriptionKeyHeader, testGatewayKey)
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data, err
}

var chaosSubmitBody = func() []byte {
	b, _ := json.Marshal(submitBody(probeText))
	return b
}()

func (c *chaosClient) submit() {
	status, h, body, err := c.send(http.MethodPost, c.gw.URL+submitPath, chaosSubmitBody)
	if err != nil || status != http.StatusAccepted {
		atomic.AddInt64(&c.res.submitErrors, 1)
		c.fail("submit: %d %v %s", status, err, body)
		return
	}
	atomic.AddInt64(&c.res.submits, 1)
	loc := h.Get("Operation-Location")
	c.pending = append(c.pending, loc)
	c.acceptedAt[loc] = time.Now()
	c.accepted++
}

// pollAll polls every pending job once and drops those that are final.
func (c *chaosClient) pollAll() {
	c.waiting = 0
	kept := c.pending[:0]
	for _, loc := range c.pending {
		status, h, body, err := c.send(http.MethodGet, c.pollGW.URL+strings.TrimPrefix(loc, c.gw.URL), nil)
		atomic.AddInt64(&c.res.polls, 1)
		switch {
		case err == nil && status == http.StatusOK:
			var st api.JobState
			if err := json.Unmarshal(body, &st); err != nil {
				atomic.AddInt64(&c.res.pollErrors, 1)
				c.fail("poll body: %v: %s", err, body)
				kept = append(kept, loc)
				continue
			}
			if !api.Terminal(st.Status) {
				if h.Get(api.RequestIDHeader) == "" {
					// The gateway's calm answer (a region's carries its
					// request id): its owner cannot answer now, so it does
					// not hold back new submits.
					atomic.AddInt64(&c.res.pollCalm, 1)
					c.waiting++
				}
				kept = append(kept, loc)
				continue
			}
			// The owner answered for the id the client holds: a poll routed
			// to the wrong region would have been a 404.
			if st.Status != api.StatusSucceeded || st.JobID != jobIDOf(loc) {
				c.fail("job %s ended %s as %q", jobIDOf(loc), st.Status, st.JobID)
				kept = append(kept, loc) // counted as lost at the end
				continue
			}
			c.done++
			if st.CreatedDateTime.After(c.acceptedAt[loc]) {
				c.copies[loc] = true
			}
		case err == nil && (status == http.StatusServiceUnavailable && h.Get("Retry-After") != "" || status == http.StatusGatewayTimeout):
			// The owner is unreachable and the gateway did not answer calm:
			// the job is not lost (the client polls again, as Azure's SDKs
			// do), but a hand-written client may give up on it.
			atomic.AddInt64(&c.res.pollRetryable, 1)
			c.fail("poll: %d Retry-After %q %s", status, h.Get("Retry-After"), body)
			c.waiting++
			kept = append(kept, loc)
		default:
			atomic.AddInt64(&c.res.pollErrors, 1)
			c.fail("poll: %d %v %s", status, err, body)
			kept = append(kept, loc)
		}
	}
	c.pending = kept
}

// runChaos runs one scenario against a fresh gateway and returns what it
// measured; the invariants are asserted by the caller.
func runChaos(t *testing.T, sc chaosScenario, load chaosLoad) *chaosResult {
	primary := testRegion(t, "westus2", testPrimaryKey, 200*time.Millisecond)
	secondary := testRegion(t, "eastus", testSecondaryKey, 200*time.Millisecond)
	seedTestProject(t, primary, testProject, testDeployment)
	seedTestProject(t, secondary, testProject, testDeployment)
	pLink := newChaosLink(t, "primary", strings.TrimPrefix(primary.URL, "http://"))
	sLink := newChaosLink(t, "secondary", strings.TrimPrefix(secondary.URL, "http://"))
	setup := gatewaySetup{primary: primary, secondary: secondary, primaryURL: pLink.URL(), secondaryURL: sLink.URL()}
	env := withEnv("UPSTREAM_TIMEOUT", chaosUpstreamTimeout.String(),
		"BREAKER_CONSECUTIVE_FAILURES", strconv.Itoa(chaosBreakerFailures),
		"BREAKER_OPEN_TIMEOUT", chaosOpenTimeout.String(),
		"HEALTH_PROBE_INTERVAL", chaosProbeInterval.String(),
		"LOG_LEVEL", "info")
	rescue := withEnv(rescueEnv(sc.rescue)...)
	if sc.replicas {
		rescue = withEnv(append(rescueTestEnv(redistest.Start(t).URL()), "JOB_RESCUE_AFTER", chaosRescueAfter.String())...)
	}
	gw := startGatewaySetup(t, setup, env, rescue)
	gws := []*testGateway{gw} // gw (B) first: the one that probes as configured
	if sc.replicas {
		gws = append(gws, startGatewaySetup(t, setup, env, rescue, withEnv(
			"HEALTH_PROBE_INTERVAL", chaosSlowProbeInterval.String(), "BREAKER_OPEN_TIMEOUT", chaosSlowOpenTimeout.String())))
	}
	for _, g := range gws {
		eventually(t, "both regions closed", func() bool {
			return g.regionStatus(t, "westus2")["breaker"] == "closed" && g.regionStatus(t, "eastus")["breaker"] == "closed"
		})
	}
	before := allTransitions(t, gws, "westus2")

	res := &chaosResult{scenario: sc, load: load}
	var samplesMu sync.Mutex
	var draining, stopping atomic.Bool
	var peakHeap atomic.Uint64
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		var ms runtime.MemStats
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peakHeap.Load() {
				peakHeap.Store(ms.HeapAlloc)
			}
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	})

	start := time.Now()
	clients := make([]*chaosClient, load.clients)
	var wg sync.WaitGroup
	needles := []string{testPrimaryKey, testSecondaryKey, testAdminKey, testAuthorKey, testGatewayKey,
		strings.TrimPrefix(primary.URL, "http://"), strings.TrimPrefix(secondary.URL, "http://"), pLink.Listen, sLink.Listen}
	transport := &http.Transport{MaxIdleConnsPerHost: load.clients}
	defer transport.CloseIdleConnections()
	for i := range clients {
		c := &chaosClient{gw: gws[i%len(gws)], pollGW: gws[(i+1)%len(gws)], res: res, mu: &samplesMu,
			acceptedAt: map[string]time.Time{}, copies: map[string]bool{}}
		c.client = &http.Client{Timeout: 30 * time.Second,
			Transport: scanningTransport{next: transport, needles: needles, leaks: &res.leaks, sample: c.fail}}
		clients[i] = c
		wg.Go(func() {
			for !stopping.Load() {
				if !draining.Load() && len(c.pending)-c.waiting < 3 {
					c.submit()
				}
				c.pollAll()
				if draining.Load() && len(c.pending) == 0 {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}

	time.Sleep(load.warmup)
	submitsBefore := atomic.LoadInt64(&res.submits)
	heal := sc.inject(t, pLink)
	faultAt := time.Now() // the fault is on: a job not final by now is in flight
	if sc.opens {
		eventually(t, "the primary's breaker to open", func() bool {
			return breakerTransitions(t, gw, "westus2").trips > before.trips
		})
	}
	time.Sleep(load.fault)
	res.faultSubmits = atomic.LoadInt64(&res.submits) - submitsBefore
	drained := make(chan struct{})
	drain := func() {
		draining.Store(true)
		go func() { wg.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(30 * time.Second):
			stopping.Store(true) // what is still pending now is lost
			<-drained
		}
	}
	if sc.rescue {
		drain() // with the primary still down
	}
	heal()
	healAt := time.Now()
	// Failback: probes close the primary's breaker while the load goes on.
	for _, g := range gws {
		eventually(t, "the primary's breaker to close after healing", func() bool {
			return g.regionStatus(t, "westus2")["breaker"] == "closed"
		})
	}
	if !sc.rescue {
		drain()
	}
	res.duration = time.Since(start)
	close(stopSampling)
	sampler.Wait()
	res.peakHeapMiB = float64(peakHeap.Load()) / (1 << 20)

	// The primary wins new traffic back once it is healthy again.
	primBefore := primary.Calls("submit")
	secBefore := secondary.Calls("submit")
	loc := gw.submit(t, probeText)
	res.failback = primary.Calls("submit") == primBefore+1 && secondary.Calls("submit") == secBefore
	assertEntities(t, gw.wait(t, loc))

	for _, c := range clients {
		res.jobs += c.accepted
		res.lost += c.accepted - c.done
		for loc, at := range c.acceptedAt {
			// Accepted before the fault and not finished by the region that
			// accepted it: answered by a later copy, or never. (Without
			// rescue, or healed under load, the primary finishes its jobs
			// itself.)
			if sc.rescue && at.Before(faultAt) && (c.copies[loc] || slices.Contains(c.pending, loc)) {
				res.inFlight++
			}
			if at.After(healAt) && c.copies[loc] {
				res.needless++
			}
		}
	}
	for _, g := range gws {
		res.rescued += jobsRescued(t, g)
	}
	// The first copies are settled within a second or so of the primary
	// answering again (proxy/originals.go); give them a few.
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		res.originalsCancelled, res.originalsFinished = -1, -1
		settled := 0
		for _, g := range gws {
			c := metricSum(t, g, "gateway_rescued_originals_total{", `outcome="cancelled"`)
			f := metricSum(t, g, "gateway_rescued_originals_total{", `outcome="already_finished"`)
			if c >= 0 {
				res.originalsCancelled = max(res.originalsCancelled, 0) + c
				res.originalsFinished = max(res.originalsFinished, 0) + max(f, 0)
				settled += c + max(f, 0) + max(metricSum(t, g, "gateway_rescued_originals_total{", `outcome="cancel_failed"`), 0)
			}
		}
		if res.originalsCancelled < 0 || settled >= res.rescued || time.Now().After(end) {
			break
		}
	}
	res.toSecondary = secBefore // the load's submits the secondary took (probes submit nothing)
	after := allTransitions(t, gws, "westus2")
	res.trips, res.failedTrials, res.closes = after.trips-before.trips, after.failedTrials-before.failedTrials, after.closes-before.closes
	return res
}

// rescueEnv turns job rescue on for a chaos scenario that asks for it.
func rescueEnv(on bool) []string {
	if !on {
		return nil
	}
	return append(rescueTestEnv("memory"), "JOB_RESCUE_AFTER", chaosRescueAfter.String())
}

// jobsRescued sums gateway_jobs_rescued_total from /metrics.
func jobsRescued(t *testing.T, gw *testGateway) int {
	t.Helper()
	return max(metricSum(t, gw, "gateway_jobs_rescued_total{", ""), 0)
}

// metricSum sums the series of /metrics that start with prefix and hold
// label (when not empty); -1 when there is no such series at all.
func metricSum(t *testing.T, gw *testGateway, prefix, label string) int {
	t.Helper()
	_, body := gw.ops(t, http.MethodGet, "/metrics", nil)
	n, found := 0, false
	for line := range strings.SplitSeq(string(body), "\n") {
		if strings.HasPrefix(line, prefix) && strings.Contains(line, label) {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			require.NoError(t, err, line)
			n, found = n+int(v), true
		}
	}
	if !found {
		return -1
	}
	return n
}

// transitions counts a breaker's state changes by kind.
type transitions struct{ trips, failedTrials, closes int }

// allTransitions sums breakerTransitions over replicas.
func allTransitions(t *testing.T, gws []*testGateway, region string) transitions {
	t.Helper()
	var n transitions
	for _, g := range gws {
		m := breakerTransitions(t, g, region)
		n.trips, n.failedTrials, n.closes = n.trips+m.trips, n.failedTrials+m.failedTrials, n.closes+m.closes
	}
	return n
}

// breakerTransitions reads gateway_breaker_transitions_total from /metrics.
func breakerTransitions(t *testing.T, gw *testGateway, region string) transitions {
	t.Helper()
	resp, body := gw.ops(t, http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var n transitions
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "gateway_breaker_transitions_total{") || !strings.Contains(line, `region="`+region+`"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		require.NoError(t, err, line)
		switch {
		case strings.Contains(line, `from="closed"`) && strings.Contains(line, `to="open"`):
			n.trips += int(v)
		case strings.Contains(line, `from="half-open"`) && strings.Contains(line, `to="open"`):
			n.failedTrials += int(v)
		case strings.Contains(line, `to="closed"`):
			n.closes += int(v)
		}
	}
	return n
}

// TestChaos runs every scenario under load and checks, for each: zero
// client-visible errors while the secondary is healthy, every accepted job
// polled to success (none lost, none misrouted), the primary's breaker
// opening and closing as configured, the primary winning traffic back,
// and the heap staying bounded. goleak in TestMain checks that nothing
// (gateway, toxiproxy links) outlives the scenarios.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos under load: not in -short")
	}
	load := chaosLoadShape()
	var results []*chaosResult
	for _, sc := range chaosScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			res := runChaos(t, sc, load)
			results = append(results, res)
			t.Logf("%s: %d submits (%d during the fault), %d polls (%d calm, %d errors while a region could serve), errors %d, jobs %d (in flight at the fault %d, rescued %d, needlessly %d, originals cancelled %d finished %d) lost %d, to secondary %d, breaker trips %d failed trials %d closes %d, failback %v, peak heap %.0f MiB, %s",
				sc.name, res.submits, res.faultSubmits, res.polls, res.pollCalm, res.pollErrorsServable(), res.clientErrors(), res.jobs, res.inFlight, res.rescued, res.needless, res.originalsCancelled, res.originalsFinished, res.lost, res.toSecondary,
				res.trips, res.failedTrials, res.closes, res.failback, res.peakHeapMiB, res.duration.Round(time.Millisecond))
			assert.Zero(t, res.clientErrors(), "client-visible errors while the secondary was healthy: %v", res.errorSamples)
			assert.Zero(t, res.pollErrorsServable(), "poll errors while a region could serve: %v", res.errorSamples)
			assert.Zero(t, res.needless, "needless rescues")
			assert.Zero(t, res.lost, "accepted jobs not polled to success: %v", res.errorSamples)
			assert.Positive(t, res.faultSubmits, "the load went on through the fault")
			assert.Zero(t, res.leaks, "no answer named a key or a region host: %v", res.errorSamples)
			if sc.opens {
				assert.Positive(t, res.trips, "the primary's breaker opened")
			}
			switch {
			case sc.replicas:
				// Rescues of jobs stranded during the fault are expected;
				// needless ones (asserted above) are not.
			case sc.rescue:
				assert.Positive(t, res.inFlight, "jobs were in flight when the primary died")
				// A submit the primary accepted as the link went down can be
				// rescued without counting as accepted before the fault.
				assert.GreaterOrEqual(t, res.rescued, res.inFlight, "every job in flight was rescued")
			default:
				assert.Zero(t, res.rescued, "rescue is off")
			}
			// It starts and ends closed, so every trip was followed by
			// exactly one close (failed half-open trials reopen it between).
			assert.Equal(t, res.trips, res.closes, "breaker trips and closes")
			assert.True(t, res.failback, "after healing, new submits go to the primary")
			if !*soak {
				// The emulators keep every job (as Azure does for a day), so
				// a soak's heap grows with its job count; the figure is
				// reported, not bounded.
				assert.Less(t, res.peakHeapMiB, 512.0, "heap bounded")
			}
		})
	}
	if *reliabilityReport != "" && !t.Failed() {
		require.NoError(t, writeChaosReport(*reliabilityReport, results))
	}
}

// Markers around the generated table in docs/reliability.md.
const (
	reportBegin = "<!-- chaos-results:begin -->"
	reportEnd   = "<!-- chaos-results:end -->"
)

// writeChaosReport replaces the table between the markers of the markdown
// file at path (or writes the table alone to a file without them).
func writeChaosReport(path string, results []*chaosResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", reportBegin)
	fmt.Fprintf(&b, "Run: %s, %s/%s, %d CPUs, Go %s, race detector %v, soak %v.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), raceEnabled, *soak)
	b.WriteString("| scenario | faults (on the primary's link) | load | duration | submits: 202 (during the fault) | polls (calm 200 running) | poll errors while a region could serve (goal 0) | client-visible errors | jobs accepted | jobs in flight when the fault began / rescued | needless rescues (goal 0) | first copies of rescued jobs: cancelled / already finished / rescues | jobs lost | to secondary | primary breaker: trips / failed trials / closes | failback | peak heap |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		inFlight, needless, cancelled := "n/a", "n/a", "n/a"
		if r.scenario.rescue || r.scenario.replicas {
			inFlight = fmt.Sprintf("%d / %d", r.inFlight, r.rescued)
			if r.scenario.replicas {
				inFlight = fmt.Sprintf("n/a / %d", r.rescued)
			}
			needless = strconv.Itoa(r.needless)
			cancelled = fmt.Sprintf("%d / %d / %d", r.originalsCancelled, r.originalsFinished, r.rescued)
			if r.originalsCancelled < 0 {
				cancelled = fmt.Sprintf("not counted / %d", r.rescued)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %d clients, %s healthy + %s faulted | %s | %d (%d) | %d (%d) | %d | %d | %d | %s | %s | %s | %d | %d | %d / %d / %d | %s | %.0f MiB |\n",
			r.scenario.name, r.scenario.faults, r.load.clients, r.load.warmup, r.load.fault,
			r.duration.Round(100*time.Millisecond), r.submits, r.faultSubmits, r.polls, r.pollCalm, r.pollErrorsServable(), r.clientErrors(),
			r.jobs, inFlight, needless, cancelled, r.lost, r.toSecondary, r.trips, r.failedTrials, r.closes, yesNo(r.failback), r.peakHeapMiB)
	}
	b.WriteString(reportEnd)

	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	text := string(old)
	i, j := strings.Index(text, reportBegin), strings.Index(text, reportEnd)
	if i >= 0 && j > i {
		text = text[:i] + b.String() + text[j+len(reportEnd):]
	} else {
		text = b.String() + "\n"
	}
	return os.WriteFile(path, []byte(text), 0o644)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
