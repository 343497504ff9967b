package gateway

// Memory bounded by construction: the gateway binary in its own process,
// started as a plain binary is (no GOMEMLIMIT), its peak RSS (VmHWM) held
// under what docs/DESIGN.md states.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/emulator"
	"nergateway/internal/config"
)

// buildGateway builds the gateway binary as the Dockerfile does (static).
func buildGateway(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "gateway")
	build := exec.Command("go", "build", "-o", bin, "nergateway/cmd/gateway")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// metricValue sums a counter's series on /metrics whose labels contain
// every one of labels.
func metricValue(t *testing.T, opsURL, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(opsURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var sum float64
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? (\S+)$`)
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		match := true
		for _, l := range labels {
			match = match && strings.Contains(m[1], l)
		}
		if match {
			v, err := strconv.ParseFloat(m[2], 64)
			require.NoError(t, err)
			sum += v
		}
	}
	return sum
}

// Issue 20: with GATEWAY_MAX_BUFFERED_BYTES=64MiB and no GOMEMLIMIT (go run,
// a plain binary, another image), 200 concurrent 4 MiB submits peaked at
// 186 MiB. The gateway now sets the soft memory limit from its budget
// itself: the peak stays under the budget plus 96 MiB.
func TestMemoryLimitFollowsTheBudget(t *testing.T) {
	bin := buildGateway(t)
	const budgetMiB = 64
	sink := sinkRegion(t)
	// Memory is under test, not timing: generous timeouts so a loaded
	// machine answers every body from the region or with 503, not 408/504.
	g := startFigureGateway(t, bin, sink, sink, "GATEWAY_MAX_BUFFERED_BYTES="+strconv.Itoa(budgetMiB)+"MiB", "LOG_LEVEL=info",
		"GATEWAY_BODY_TIMEOUT=2m", "UPSTREAM_TIMEOUT=2m")
	statuses, transportErr := bigBodies(g, 200, 4<<20)
	rss := g.peakRSS(t)
	t.Logf("peak RSS %.0f MiB; answers %s", rss, describe(statuses))
	assert.Less(t, rss, float64(budgetMiB+96), "peak RSS over the budget + 96 MiB")
	assert.Zero(t, statuses[-1], "every request answered; first error: %v", transportErr)
	assert.Equal(t, 200, statuses[http.StatusBadRequest]+statuses[http.StatusServiceUnavailable], "the sink's answer or 503: %s", describe(statuses))
	assert.True(t, logged(g, `"msg":"soft memory limit set`, fmt.Sprintf(`"bytes":%d`, (budgetMiB<<20)+config.MemoryAllowance)),
		"no log line gives the limit the gateway set")
}

// setMemoryLimit sizes the process's limit from the configuration unless
// GOMEMLIMIT is set, and gives the previous one back. (A budget of 64 GiB:
// the limit it sets is harmless to the rest of the test process.)
func TestSetMemoryLimit(t *testing.T) {
	cfg := &config.Config{MaxBufferedBytes: 64 << 30, JobRescue: "memory", JobRescueMaxBytes: 1 << 30}
	prev := debug.SetMemoryLimit(-1)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))

	restore := setMemoryLimit(cfg, func(string) string { return "" }, log)
	assert.Equal(t, int64(65<<30+config.MemoryAllowance), debug.SetMemoryLimit(-1))
	restore()
	assert.Equal(t, prev, debug.SetMemoryLimit(-1), "restored")
	assert.Contains(t, logs.String(), fmt.Sprintf(`"bytes":%d`, 65<<30+config.MemoryAllowance))

	restore = setMemoryLimit(cfg, func(k string) string { return map[string]string{"GOMEMLIMIT": "300MiB"}[k] }, log)
	assert.Equal(t, prev, debug.SetMemoryLimit(-1), "an explicit GOMEMLIMIT wins: the runtime applied it at start")
	restore()
	assert.Contains(t, logs.String(), "soft memory limit from GOMEMLIMIT")
}

// logged reports whether one line of g's log holds every part.
func logged(g *figureGateway, parts ...string) bool {
	for line := range strings.Lines(g.logs.String()) {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// bigBodies sends n concurrent submits of size bytes to g: the answers'
// statuses (-1: a transport error) and the first transport error.
func bigBodies(g *figureGateway, n, size int) (map[int]int, error) {
	statuses := map[int]int{}
	var transportErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	defer client.CloseIdleConnections()
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, g.url+submitPath, bigSubmit(size))
			req.Header.Set(api.SubscriptionKeyHeader, testGatewayKey)
			req.Header.Set("Content-Type", "application/json")
			code := -1
			resp, err := client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			statuses[code]++
			if err != nil && transportErr == nil {
				transportErr = err
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return statuses, transportErr
}

// An explicit GOMEMLIMIT wins, and the log says which limit is in force.
func TestMemoryLimitExplicitGOMEMLIMITWins(t *testing.T) {
	bin := buildGateway(t)
	sink := sinkRegion(t)
	g := startFigureGateway(t, bin, sink, sink, "GOMEMLIMIT=300MiB", "LOG_LEVEL=info")
	g.terminate()
	assert.True(t, logged(g, `"msg":"soft memory limit from GOMEMLIMIT"`, fmt.Sprintf(`"bytes":%d`, 300<<20)),
		"no log line gives the limit from GOMEMLIMIT")
}

// Issue 20: 300 never-polled submits of about 1 MiB with JOB_RESCUE=memory
// (one valid key; Azure takes 1,000 a minute) took the gateway to 520-615
// MiB, every body held for JOB_RESCUE_TTL. Now every submit is accepted,
// the store holds JOB_RESCUE_MAX_BYTES (64 MiB by default), the oldest jobs
// lose their cover first and are counted, and the freshest is still
// rescued when its region dies.
func TestRescueStoreHeldToItsBound(t *testing.T) {
	f := floodRescueStore(t, buildGateway(t))
	require.Equal(t, map[int]int{http.StatusAccepted: rescueFloodJobs}, f.statuses, "a full store never fails a submit")
	evicted := metricValue(t, f.g.ops, "gateway_rescue_uncovered_total", `reason="evicted"`)
	t.Logf("peak RSS %.0f MiB after %d submits of 1 MiB; %v jobs uncovered (evicted)", f.rss, rescueFloodJobs, evicted)
	assert.Less(t, f.rss, 256.0, "peak RSS")
	// 64 MiB hold about 63 sealed bodies of 1 MiB: the rest were dropped.
	assert.GreaterOrEqual(t, evicted, float64(rescueFloodJobs-64))
	assert.Less(t, evicted, float64(rescueFloodJobs-32))

	resp, err := http.Get(f.g.ops + "/status")
	require.NoError(t, err)
	var status struct {
		JobRescue struct {
			Store struct {
				MaxBytes  int64 `json:"maxBytes"`
				HeldBytes int64 `json:"heldBytes"`
				Full      bool  `json:"full"`
				Uncovered struct {
					Evicted int64 `json:"evicted"`
				} `json:"uncovered"`
			} `json:"store"`
		} `json:"jobRescue"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&status))
	resp.Body.Close()
	st := status.JobRescue.Store
	assert.Equal(t, int64(64<<20), st.MaxBytes)
	assert.LessOrEqual(t, st.HeldBytes, st.MaxBytes)
	assert.Positive(t, st.HeldBytes)
	assert.True(t, st.Full)
	assert.Equal(t, int64(evicted), st.Uncovered.Evicted, "/status and /metrics agree")

	freshRescued, oldestResubmitted := f.primaryDies(t)
	assert.True(t, freshRescued, "the fresh job ran again in the secondary and answers from there")
	assert.False(t, oldestResubmitted, "the oldest job lost its cover: never resubmitted")
	assert.Equal(t, 1.0, metricValue(t, f.g.ops, "gateway_jobs_rescued_total"), "one job rescued")
}

// rescueFloodJobs is how many never-polled 1 MiB submits floodRescueStore sends.
const rescueFloodJobs = 300

// rescueFlood is a gateway binary with JOB_RESCUE=memory, flooded by one
// client with rescueFloodJobs never-polled submits of about 1 MiB, then one
// small fresh one.
type rescueFlood struct {
	g                  *figureGateway
	primary, secondary *emulator.Server
	statuses           map[int]int // of the large submits
	locs               []string    // their operation-locations, oldest first
	fresh              string      // the last submit's
	rss                float64     // peak RSS after the submits, MiB
}

func floodRescueStore(t *testing.T, bin string) *rescueFlood {
	t.Helper()
	f := &rescueFlood{
		primary:   testRegion(t, "westus2", testPrimaryKey, time.Hour), // never finishes: every body stays wanted
		secondary: testRegion(t, "eastus", testSecondaryKey, 0),
		statuses:  map[int]int{},
		locs:      make([]string, rescueFloodJobs),
	}
	seedTestProject(t, f.primary, testProject, testDeployment)
	seedTestProject(t, f.secondary, testProject, testDeployment)
	f.g = startFigureGateway(t, bin, f.primary.URL, f.secondary.URL,
		"JOB_RESCUE=memory", "JOB_RESCUE_KEY="+testRescueKey, "JOB_RESCUE_AFTER=500ms",
		"HEALTH_PROBE_INTERVAL=100ms", "BREAKER_CONSECUTIVE_FAILURES=3", "UPSTREAM_TIMEOUT=5s",
		"OTEL_SDK_DISABLED=false") // for /metrics

	// A valid submit padded to about 1 MiB with JSON whitespace: the
	// region accepts it, the gateway keeps every byte.
	small, err := json.Marshal(submitBody(rescueText))
	require.NoError(t, err)
	big := append(bytes.Clone(small), bytes.Repeat([]byte{' '}, 1<<20-len(small))...)
	submit := func(body []byte) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, f.g.url+submitPath, bytes.NewReader(body))
		req.Header.Set(api.SubscriptionKeyHeader, testGatewayKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1, ""
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Operation-Location")
	}
	const clients = 10
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	for range clients {
		wg.Go(func() {
			for i := range next {
				code, loc := submit(big)
				mu.Lock()
				f.statuses[code]++
				f.locs[i] = loc
				mu.Unlock()
			}
		})
	}
	for i := range rescueFloodJobs {
		next <- i
	}
	close(next)
	wg.Wait()
	code, fresh := submit(small)
	require.Equal(t, http.StatusAccepted, code)
	f.fresh = fresh
	f.rss = f.g.peakRSS(t)
	return f
}

// primaryDies takes the primary down and polls: whether the fresh job was
// rescued (resubmitted to the secondary and answered from there), and
// whether the oldest was resubmitted too once its rescue was due.
func (f *rescueFlood) primaryDies(t *testing.T) (freshRescued, oldestResubmitted bool) {
	t.Helper()
	// A submit may have failed over already on a loaded machine.
	before := f.secondary.Calls("submit")
	f.primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})
	pollOnce := func(loc string) int {
		req, _ := http.NewRequest(http.MethodGet, loc, nil)
		req.Header.Set(api.SubscriptionKeyHeader, testGatewayKey)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// Polls may be answered calmly ("running") while the owner cannot
	// answer; the rescue is what this waits for.
	deadline := time.Now().Add(20 * time.Second)
	for f.secondary.Calls("submit") == before && time.Now().Before(deadline) {
		pollOnce(f.fresh)
		time.Sleep(100 * time.Millisecond)
	}
	freshRescued = f.secondary.Calls("submit") == before+1 && pollOnce(f.fresh) == http.StatusOK
	// The oldest job, polled while its rescue is due.
	for range 5 {
		pollOnce(f.locs[0])
		time.Sleep(200 * time.Millisecond)
	}
	return freshRescued, f.secondary.Calls("submit") > before+1
}
