package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/emulator"
	"nergateway/internal/secret"
	"nergateway/internal/testkit/nertest"
	"nergateway/internal/testkit/redistest"
)

// Job rescue end to end: two gateway replicas share a real redis-server in
// front of two emulated regions; the primary accepts a job and dies before
// it finishes.

// rescueText is document text: never in Redis in clear, never in a log.
const rescueText = "Contoso signs the lease in Köln. RESCUE-DOC-7d21"

// testRescueKey is JOB_RESCUE_KEY for the tests (32 bytes of 0x2a).
var testRescueKey = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("*", 32)))

// rescueAfter is JOB_RESCUE_AFTER in these tests.
const rescueAfter = time.Second

// rescuePair is two gateway replicas sharing one Redis, in front of a
// primary whose jobs outlive the test and a secondary that finishes jobs
// quickly.
type rescuePair struct {
	a, b               *testGateway
	primary, secondary *emulator.Server
	redis              *redistest.Server
}

func startRescuePair(t *testing.T, secondaryJob time.Duration) *rescuePair {
	t.Helper()
	return startRescuePairWith(t, testRegion(t, "westus2", testPrimaryKey, time.Hour), testRegion(t, "eastus", testSecondaryKey, secondaryJob))
}

func startRescuePairWith(t *testing.T, primary, secondary *emulator.Server) *rescuePair {
	t.Helper()
	rp := &rescuePair{primary: primary, secondary: secondary, redis: redistest.Start(t)}
	seedTestProject(t, rp.primary, testProject, testDeployment)
	seedTestProject(t, rp.secondary, testProject, testDeployment)
	env := withEnv(rescueTestEnv(rp.redis.URL())...)
	rp.a = startGatewayWith(t, rp.primary, rp.secondary, env)
	rp.b = startGatewayWith(t, rp.primary, rp.secondary, env)
	return rp
}

// rescueTestEnv turns job rescue on with backend. The store's timeout is
// generous: on a loaded machine under -race a slow answer must not look
// like an outage.
func rescueTestEnv(backend string) []string {
	return []string{"JOB_RESCUE", backend, "JOB_RESCUE_KEY", testRescueKey, "JOB_RESCUE_AFTER", rescueAfter.String(),
		"JOB_RESCUE_TIMEOUT", "2s"}
}

// on is loc (an operation-location of gateway a) as reached through g.
func (rp *rescuePair) on(g *testGateway, loc string) string {
	return g.URL + strings.TrimPrefix(loc, rp.a.URL)
}

// poll is one GET of loc, safe to call from any goroutine.
func poll(g *testGateway, loc string) (int, api.JobState, error) {
	req, err := http.NewRequest(http.MethodGet, loc, nil)
	if err != nil {
		return 0, api.JobState{}, err
	}
	req.Header.Set(api.SubscriptionKeyHeader, testGatewayKey)
	resp, err := g.Client.Do(req)
	if err != nil {
		return 0, api.JobState{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, api.JobState{}, err
	}
	var st api.JobState
	if resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(body, &st)
	}
	return resp.StatusCode, st, err
}

// directEntities runs the job on the secondary itself, without the
// gateway: what a rescued job must answer.
func directEntities(t *testing.T, secondary *emulator.Server, text string) map[string][]api.Entity {
	t.Helper()
	c, err := api.NewClient(secondary.URL, secret.Secret(testSecondaryKey), api.ClientOptions{})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	op, err := c.SubmitJob(ctx, submitBody(text))
	require.NoError(t, err)
	st, err := c.WaitJob(ctx, op)
	require.NoError(t, err)
	secondary.ResetCalls()
	return nertest.Entities(t, *st)
}

func TestRescueAcrossReplicasExactlyOnce(t *testing.T) {
	rp := startRescuePair(t, 300*time.Millisecond)
	want := directEntities(t, rp.secondary, rescueText)

	loc := rp.a.submit(t, rescueText)
	id := jobIDOf(loc)
	code, st, err := poll(rp.b, rp.on(rp.b, loc))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, id, st.JobID)
	require.False(t, api.Terminal(st.Status), "the primary's job runs for an hour")
	firstCreated := st.CreatedDateTime

	down := time.Now()
	rp.primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})

	// 20 pollers, each alternating between the replicas, every 50ms.
	const pollers, interval = 20, 50 * time.Millisecond
	var (
		mu        sync.Mutex
		firstDone time.Time
		rescuedAt time.Time // when a poll was first answered from the rescued copy
		after503  int       // 503s to polls sent after that: there must be none
		finals    []api.JobState
		wg        sync.WaitGroup
	)
	for i := range pollers {
		wg.Go(func() {
			replicas := []*testGateway{rp.a, rp.b}
			deadline := time.Now().Add(30 * time.Second)
			for n := i; time.Now().Before(deadline); n++ {
				g := replicas[n%2]
				sent := time.Now()
				code, st, err := poll(g, rp.on(g, loc))
				if !assert.NoError(t, err, "poller %d", i) {
					return
				}
				mu.Lock()
				switch {
				case code == http.StatusOK && !st.CreatedDateTime.Equal(firstCreated) && rescuedAt.IsZero():
					rescuedAt = time.Now() // dates are the rescued job's
				case code == http.StatusServiceUnavailable && !rescuedAt.IsZero() && sent.After(rescuedAt):
					after503++
				}
				if code == http.StatusOK && api.Terminal(st.Status) {
					if firstDone.IsZero() {
						firstDone = time.Now()
					}
					finals = append(finals, st)
					mu.Unlock()
					return
				}
				mu.Unlock()
				if !assert.Contains(t, []int{http.StatusOK, http.StatusServiceUnavailable}, code, "poller %d: status %d", i, code) {
					return
				}
				time.Sleep(interval)
			}
			assert.Fail(t, "the job never finished", "poller %d", i)
		})
	}
	wg.Wait()
	require.Len(t, finals, pollers, "every poller saw the job finish")
	t.Logf("after the primary died: first answer from the rescued job %v, job succeeded %v (JOB_RESCUE_AFTER %v, breaker: 3 failed probes 50ms apart, poll interval %v, secondary jobs take 300ms)",
		rescuedAt.Sub(down).Round(time.Millisecond), firstDone.Sub(down).Round(time.Millisecond), rescueAfter, interval)
	assert.Zero(t, after503, "a poll sent after the job was seen rescued answered 503")
	for _, st := range finals {
		assert.Equal(t, api.StatusSucceeded, st.Status)
		assert.Equal(t, id, st.JobID, "the client's job id, unchanged")
		assert.Equal(t, want, nertest.Entities(t, st), "entities equal to a direct run on the secondary")
	}
	assert.Equal(t, 1, rp.secondary.Calls("submit"), "exactly one resubmit across both replicas")

	// The primary comes back: the answer stays the rescued job's.
	rp.primary.ClearFaults()
	for _, g := range []*testGateway{rp.a, rp.b} {
		eventually(t, "primary breaker closed", func() bool { return g.regionStatus(t, "westus2")["breaker"] == "closed" })
	}
	for _, g := range []*testGateway{rp.a, rp.b} {
		code, st, err := poll(g, rp.on(g, loc))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, api.StatusSucceeded, st.Status, "the primary's copy (still running) must not answer")
		assert.Equal(t, id, st.JobID)
		assert.Equal(t, want, nertest.Entities(t, st))
	}
	assert.Equal(t, 1, rp.secondary.Calls("submit"))

	assertNoTextInRedis(t, rp.redis)
	for _, g := range []*testGateway{rp.a, rp.b} {
		assert.NotContains(t, g.Logs.String(), "RESCUE-DOC", "document text in a log")
	}
	assert.Contains(t, rp.a.Logs.String()+rp.b.Logs.String(), "job rescued")
	var metrics string
	for _, g := range []*testGateway{rp.a, rp.b} {
		_, body := g.ops(t, http.MethodGet, "/metrics", nil)
		metrics += string(body)
	}
	assert.Contains(t, metrics, `gateway_jobs_rescued_total{from="westus2",otel_scope_name="nergateway/rescue"`)
}

// assertNoTextInRedis reads every key and value the gateways wrote.
func assertNoTextInRedis(t *testing.T, r *redistest.Server) {
	t.Helper()
	c := r.Client()
	defer c.Close()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	for _, k := range keys {
		var v string
		if typ, err := c.Type(ctx, k).Result(); err == nil && typ == "zset" {
			// The queue of rescued jobs' first copies: client job ids.
			ids, err := c.ZRange(ctx, k, 0, -1).Result()
			require.NoError(t, err)
			v = strings.Join(ids, " ")
		} else {
			v, err = c.Get(ctx, k).Result()
			require.NoError(t, err)
		}
		for _, clear := range []string{"RESCUE-DOC", "Contoso", "Köln", "analysisInput", testProject} {
			assert.NotContains(t, v, clear, "key %s holds %q in clear", k, clear)
			assert.NotContains(t, k, clear)
		}
	}
}

func TestRescueNeverResubmitsAFinishedJob(t *testing.T) {
	// This primary finishes its jobs at once.
	rp := startRescuePairWith(t, testRegion(t, "westus2", testPrimaryKey, 0), testRegion(t, "eastus", testSecondaryKey, 0))
	a, b, primary := rp.a, rp.b, rp.primary

	loc := a.submit(t, rescueText)
	st := a.wait(t, loc)
	require.Equal(t, api.StatusSucceeded, st.Status)

	primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})
	bLoc := b.URL + strings.TrimPrefix(loc, a.URL)
	// Poll through both replicas for twice JOB_RESCUE_AFTER: the job is
	// not lost (503, poll again), and never run a second time.
	for end := time.Now().Add(2 * rescueAfter); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		for _, target := range []struct {
			g   *testGateway
			loc string
		}{{a, loc}, {b, bLoc}} {
			code, _, err := poll(target.g, target.loc)
			require.NoError(t, err)
			require.Equal(t, http.StatusServiceUnavailable, code)
		}
	}
	assert.Equal(t, 0, rp.secondary.Calls("submit"), "a job that succeeded was resubmitted")
}

func TestRescueWithRedisKilled(t *testing.T) {
	rp := startRescuePair(t, 0)
	rp.redis.Kill()

	// Serving is unaffected: submits and polls go on as without rescue.
	loc := rp.a.submit(t, rescueText)
	code, st, err := poll(rp.b, rp.on(rp.b, loc))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, jobIDOf(loc), st.JobID)
	for _, g := range []*testGateway{rp.a, rp.b} {
		// Calls in a row fail (each poll reads the store), then the store
		// is marked down and no longer called.
		eventually(t, "/status to show the store down", func() bool {
			code, _, err := poll(g, rp.on(g, loc))
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code)
			return !rescueStoreUp(t, g)
		})
		_, metrics := g.ops(t, http.MethodGet, "/metrics", nil)
		assert.Contains(t, string(metrics), `gateway_rescue_store_up{backend="redis"`)
		assert.Regexp(t, `gateway_rescue_store_up\{backend="redis"[^}]*\} 0`, string(metrics))
	}

	// Redis returns (empty): rescue resumes for jobs accepted from then on.
	rp.redis.Restart(t)
	for _, g := range []*testGateway{rp.a, rp.b} {
		eventually(t, "/status to show the store up", func() bool { return rescueStoreUp(t, g) })
	}
	loc = rp.a.submit(t, rescueText)
	rp.primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})
	deadline := time.Now().Add(20 * time.Second)
	for n := 0; ; n++ {
		g := []*testGateway{rp.a, rp.b}[n%2]
		code, st, err := poll(g, rp.on(g, loc))
		require.NoError(t, err)
		if code == http.StatusOK && api.Terminal(st.Status) {
			assert.Equal(t, api.StatusSucceeded, st.Status)
			assert.Equal(t, jobIDOf(loc), st.JobID)
			break
		}
		require.True(t, time.Now().Before(deadline), "the job was not rescued after Redis came back (last status %d)", code)
		time.Sleep(50 * time.Millisecond)
	}
	assert.Equal(t, 1, rp.secondary.Calls("submit"))
}

func rescueStoreUp(t *testing.T, g *testGateway) bool {
	t.Helper()
	_, body := g.ops(t, http.MethodGet, "/status", nil)
	var st struct {
		JobRescue struct {
			Enabled bool `json:"enabled"`
			Store   struct {
				Up bool `json:"up"`
			} `json:"store"`
		} `json:"jobRescue"`
	}
	require.NoError(t, json.Unmarshal(body, &st))
	require.True(t, st.JobRescue.Enabled, "%s", body)
	return st.JobRescue.Store.Up
}

func TestRescuedJobCancelCancelsBothCopies(t *testing.T) {
	// The rescued copy runs on a clock the test moves, so it is still
	// running when cancelled, and then finishes cancelling.
	clock := emulator.NewManualClock(time.Now())
	secondary, err := emulator.NewServer(emulator.Options{Name: "eastus", Key: testSecondaryKey, Clock: clock, JobDuration: time.Hour})
	require.NoError(t, err)
	t.Cleanup(secondary.Close)
	rp := startRescuePairWith(t, testRegion(t, "westus2", testPrimaryKey, time.Hour), secondary)
	loc := rp.a.submit(t, rescueText)
	rp.primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _, err := poll(rp.b, rp.on(rp.b, loc))
		require.NoError(t, err)
		if code == http.StatusOK && rp.secondary.Calls("submit") == 1 { // the rescued copy's answer, not a calm one
			break
		}
		require.True(t, time.Now().Before(deadline), "not rescued")
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, 1, rp.secondary.Calls("submit"))
	rp.primary.ClearFaults()
	eventually(t, "primary breaker closed", func() bool { return rp.a.regionStatus(t, "westus2")["breaker"] == "closed" })

	resp, body := rp.a.do(t, http.MethodPost, strings.Replace(loc, "?", ":cancel?", 1), nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)
	assert.Equal(t, jobIDOf(loc), jobIDOf(resp.Header.Get("Operation-Location")), "the cancel's operation-location names the client's job")
	assert.Equal(t, 1, rp.secondary.Calls("cancel"), "the rescued copy was cancelled")
	assert.Equal(t, 1, rp.primary.Calls("cancel"), "the first copy was cancelled")
	clock.Advance(time.Hour)
	st := rp.b.wait(t, rp.on(rp.b, loc))
	assert.Equal(t, api.StatusCancelled, st.Status)
	assert.Equal(t, jobIDOf(loc), st.JobID)
}
