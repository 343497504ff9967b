package rescue

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"nergateway/internal/region"
	"nergateway/internal/secret"
	"nergateway/internal/testkit/metrictest"
	"nergateway/internal/testkit/redistest"
	"nergateway/internal/testkit/syncbuf"
)

// docText marks document text: it must never be found in the store in
// clear, nor in a log.
const docText = "Fabrikam and Contoso meet in São Paulo: DOC-MARKER-51c3"

var testJob = Job{
	Query:       "api-version=2023-04-01",
	ContentType: "application/json",
	Body:        []byte(`{"analysisInput":{"documents":[{"id":"1","text":"` + docText + `"}]}}`),
}

// fakeClock is a settable clock for the memory backend's expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// replicas opens n stores that share one backend: n gateway replicas.
type replicas struct {
	stores []*Store
	logs   *syncbuf.Buffer
	reader *metric.ManualReader
	redis  *redistest.Server // nil for memory
	clock  *fakeClock
}

func openStore(t testing.TB, backend string, clock *fakeClock, logs *syncbuf.Buffer, mp *metric.MeterProvider, mutate ...func(*Config)) *Store {
	t.Helper()
	cfg := Config{
		Backend: secret.Secret(backend), Keys: [][]byte{testKey(9)}, TTL: time.Hour,
		OpTimeout: 2 * time.Second, // generous: a loaded -race run must not look like an outage
		Now:       clock.Now, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mp != nil {
		cfg.MeterProvider = mp
	}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// forEachBackend runs test against the memory backend (one replica: a
// second memory store shares nothing) and against a real redis-server with
// two replicas.
func forEachBackend(t *testing.T, test func(t *testing.T, r *replicas)) {
	t.Run("memory", func(t *testing.T) {
		r := &replicas{logs: &syncbuf.Buffer{}, reader: metric.NewManualReader(), clock: &fakeClock{t: time.Unix(1_700_000_000, 0)}}
		s := openStore(t, BackendMemory, r.clock, r.logs, metric.NewMeterProvider(metric.WithReader(r.reader)))
		r.stores = []*Store{s, s}
		test(t, r)
	})
	t.Run("redis", func(t *testing.T) {
		r := &replicas{logs: &syncbuf.Buffer{}, reader: metric.NewManualReader(), clock: &fakeClock{t: time.Now()}, redis: redistest.Start(t)}
		mp := metric.NewMeterProvider(metric.WithReader(r.reader))
		r.stores = []*Store{
			openStore(t, r.redis.URL(), r.clock, r.logs, mp),
			openStore(t, r.redis.URL(), r.clock, r.logs, mp),
		}
		test(t, r)
	})
}

func TestStoreJobLife(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *replicas) {
		ctx := context.Background()
		a, b := r.stores[0], r.stores[1]
		require.NoError(t, a.Put(ctx, "job-1", testJob))
		st, err := b.State(ctx, "job-1")
		require.NoError(t, err, "State before any claim = %+v, %v; want none", st, err)
		require.Equal(t, PhaseNone, st.Phase, "State before any claim = %+v, %v; want none", st, err)
		c, st, err := b.Claim(ctx, "job-1")
		require.NoError(t, err, "Claim = %v, %+v, %v; want a claim", c, st, err)
		require.NotNil(t, c, "Claim = %v, %+v, %v; want a claim", c, st, err)
		require.Equal(t, testJob.Query, c.Job.Query, "claimed job = %+v, want the job put", c.Job)
		require.Equal(t, testJob.ContentType, c.Job.ContentType, "claimed job = %+v, want the job put", c.Job)
		require.Equal(t, string(testJob.Body), string(c.Job.Body), "claimed job = %+v, want the job put", c.Job)
		again, st, err := a.Claim(ctx, "job-1")
		require.NoError(t, err, "second Claim = %v, %+v, %v; want claimed by the first", again, st, err)
		require.Nil(t, again, "second Claim = %v, %+v, %v; want claimed by the first", again, st, err)
		require.Equal(t, PhaseClaimed, st.Phase, "second Claim = %v, %+v, %v; want claimed by the first", again, st, err)
		require.NoError(t, c.Rescued(ctx, Original{Region: "westus2"}, "eastus", "up-77"))
		want := State{Phase: PhaseRescued, Region: "eastus", UpstreamID: "up-77", From: "westus2"}
		for i, s := range r.stores {
			st, err := s.State(ctx, "job-1")
			require.NoError(t, err, "replica %d: State after rescue = %+v, %v; want %+v", i, st, err, want)
			require.Equal(t, want, st, "replica %d: State after rescue = %+v, %v; want %+v", i, st, err, want)
		}
		// The final state of the rescued job drops the body, not the
		// rescue: polls keep reading the rescued job.
		require.NoError(t, a.Forget(ctx, "job-1"))
		st, err = b.State(ctx, "job-1")
		require.NoError(t, err, "State after Forget of a rescued job")
		require.Equal(t, want, st, "State after Forget of a rescued job")
		got := rescuedCount(t, r.reader, "westus2", "eastus")
		require.EqualValues(t, 1, got, "gateway.jobs.rescued{westus2,eastus}, want 1")
	})
}

func TestStoreNeverRescuesAFinishedJob(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *replicas) {
		ctx := context.Background()
		a, b := r.stores[0], r.stores[1]
		require.NoError(t, a.Put(ctx, "job-done", testJob))
		require.NoError(t, b.Forget(ctx, "job-done"))
		for i, s := range r.stores {
			// Every replica reads it finished, on a poll and on a claim.
			st, err := s.State(ctx, "job-done")
			require.NoError(t, err, "replica %d: State of a finished job = %+v, %v; want finished", i, st, err)
			require.Equal(t, PhaseFinished, st.Phase, "replica %d: State of a finished job = %+v, %v; want finished", i, st, err)
			c, st, err := s.Claim(ctx, "job-done")
			require.NoError(t, err, "replica %d: Claim of a finished job = %v, %+v, %v; want finished", i, c, st, err)
			require.Nil(t, c, "replica %d: Claim of a finished job = %v, %+v, %v; want finished", i, c, st, err)
			require.Equal(t, PhaseFinished, st.Phase, "replica %d: Claim of a finished job = %v, %+v, %v; want finished", i, c, st, err)
		}
		c, st, err := a.Claim(ctx, "never-stored")
		require.NoError(t, err, "Claim of an unknown job = %v, %+v, %v; want gone", c, st, err)
		require.Nil(t, c, "Claim of an unknown job = %v, %+v, %v; want gone", c, st, err)
		require.Equal(t, PhaseGone, st.Phase, "Claim of an unknown job = %v, %+v, %v; want gone", c, st, err)
	})
}

func TestStoreReleaseLetsAnotherReplicaClaim(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *replicas) {
		ctx := context.Background()
		a, b := r.stores[0], r.stores[1]
		require.NoError(t, a.Put(ctx, "job-r", testJob))
		c, _, err := a.Claim(ctx, "job-r")
		require.NoError(t, err, "Claim")
		require.NotNil(t, c, "Claim")
		require.NoError(t, c.Release(ctx))
		c2, st, err := b.Claim(ctx, "job-r")
		require.NoError(t, err, "Claim after Release = %v, %+v, %v; want a claim", c2, st, err)
		require.NotNil(t, c2, "Claim after Release = %v, %+v, %v; want a claim", c2, st, err)
		// A stale holder cannot release the new claim.
		require.NoError(t, c.Release(ctx))
		c3, st, err := a.Claim(ctx, "job-r")
		require.NoError(t, err, "Claim after a stale Release = %v, %+v, %v; want still claimed", c3, st, err)
		require.Nil(t, c3, "Claim after a stale Release = %v, %+v, %v; want still claimed", c3, st, err)
		require.Equal(t, PhaseClaimed, st.Phase, "Claim after a stale Release = %v, %+v, %v; want still claimed", c3, st, err)
	})
}

// TestStoreClaimIsExactlyOnce races 40 claims, half on each replica.
func TestStoreClaimIsExactlyOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *replicas) {
		ctx := context.Background()
		require.NoError(t, r.stores[0].Put(ctx, "job-race", testJob))
		var won atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 40 {
			wg.Go(func() {
				<-start
				c, _, err := r.stores[i%2].Claim(ctx, "job-race")
				assert.NoError(t, err)
				if c != nil {
					won.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		require.EqualValues(t, 1, won.Load(), "claims won, want exactly 1")
	})
}

func TestStoreExpiry(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	s := openStore(t, BackendMemory, clock, &syncbuf.Buffer{}, nil, func(c *Config) { c.TTL, c.Lease = time.Hour, time.Minute })
	mem := s.b.(*memoryBackend)
	for _, id := range []string{"a", "b"} {
		require.NoError(t, s.Put(ctx, id, testJob))
	}
	c, _, _ := s.Claim(ctx, "a")
	require.NotNil(t, c, "first claim lost")
	clock.Advance(time.Minute) // the lease ran out: a crashed holder does not pin the job
	c, st, _ := s.Claim(ctx, "a")
	require.NotNil(t, c, "claim after the lease = %+v, want a claim", st)
	clock.Advance(time.Hour) // the TTL ran out: Azure has dropped the job too
	c, st, _ = s.Claim(ctx, "b")
	require.Nil(t, c, "claim after the TTL = %v, %+v; want gone", c, st)
	require.Equal(t, PhaseGone, st.Phase, "claim after the TTL = %v, %+v; want gone", c, st)
	clock.Advance(time.Hour)
	mem.sweep(clock.Now())
	bodies, states := mem.size()
	require.Equal(t, 0, bodies, "after sweep bodies, states; want none")
	require.Equal(t, 0, states, "after sweep bodies, states; want none")
}

// TestRedisHoldsNoDocumentText reads every key the store wrote.
func TestRedisHoldsNoDocumentText(t *testing.T) {
	r := redistest.Start(t)
	logs := &syncbuf.Buffer{}
	s := openStore(t, r.URL(), &fakeClock{t: time.Now()}, logs, nil, func(c *Config) { c.TTL = 90 * time.Minute })
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "job-1", testJob))
	require.NoError(t, s.Put(ctx, "job-2", testJob))
	c, _, err := s.Claim(ctx, "job-2")
	require.NoError(t, err, "Claim")
	require.NotNil(t, c, "Claim")
	require.NoError(t, c.Rescued(ctx, Original{Region: "westus2"}, "eastus", "up-1"))
	client := r.Client()
	defer client.Close()
	keys, err := client.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 3, "keys, want 2 bodies and 1 state")
	for _, k := range keys {
		assert.True(t, strings.HasPrefix(k, keyPrefix), "key %q lacks the prefix %q", k, keyPrefix)
		v, err := client.Get(ctx, k).Bytes()
		require.NoError(t, err)
		for _, clear := range []string{docText, "Contoso", "São Paulo", "DOC-MARKER", "analysisInput"} {
			assert.False(t, bytes.Contains(v, []byte(clear)), "key holds in clear")
			assert.NotContains(t, k, clear, "key holds in clear")
		}
		ttl, err := client.TTL(ctx, k).Result()
		if assert.NoError(t, err, "key %q TTL = %v, %v; want about 90m", k, ttl, err) {
			assert.Greater(t, ttl, time.Hour, "key %q TTL = %v, %v; want about 90m", k, ttl, err)
			assert.LessOrEqual(t, ttl, 90*time.Minute, "key %q TTL = %v, %v; want about 90m", k, ttl, err)
		}
	}
	require.NotContains(t, logs.String(), "DOC-MARKER", "a log line holds document text")
}

// TestRedisKilledAndBack: a dead store fails calls at once and is marked
// down (rescue off, /status and the metric say so); once it answers again,
// the store is up and claims work.
func TestRedisKilledAndBack(t *testing.T) {
	r := redistest.Start(t)
	logs := &syncbuf.Buffer{}
	reader := metric.NewManualReader()
	s := openStore(t, r.URL(), &fakeClock{t: time.Now()}, logs, metric.NewMeterProvider(metric.WithReader(reader)))
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "job-1", testJob))
	require.True(t, s.Status().Up, "status %+v, want up", s.Status())
	require.EqualValues(t, 1, storeUp(t, reader), "status %+v, want up", s.Status())

	r.Kill()
	for i := range downAfterFailures {
		require.True(t, s.Status().Up, "down after %d failed calls, want %d", i, downAfterFailures)
		err := s.Put(ctx, "job-2", testJob)
		require.Error(t, err, "Put %d to a killed Redis: err = %v, want the call's failure", i+1, err)
		require.NotErrorIs(t, err, ErrUnavailable, "Put %d to a killed Redis: err = %v, want the call's failure", i+1, err)
	}
	st := s.Status()
	require.False(t, st.Up, "status %+v after a failed call, want down with the cause", st)
	require.NotEqual(t, "", st.LastError, "status %+v after a failed call, want down with the cause", st)
	require.EqualValues(t, 0, storeUp(t, reader), "status %+v after a failed call, want down with the cause", st)
	_, _, err := s.Claim(ctx, "job-1")
	require.ErrorIs(t, err, ErrUnavailable, "Claim while down: err, want ErrUnavailable without a call")
	_, err = s.State(ctx, "job-1")
	require.ErrorIs(t, err, ErrUnavailable, "State while down: err, want ErrUnavailable")
	s.check(ctx) // Run's ping, still down
	require.False(t, s.Status().Up, "a ping of a dead Redis marked the store up")

	r.Restart(t) // empty: what it held is lost, as after a real crash without persistence
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	s.pingInterval = 10 * time.Millisecond
	go func() { done <- s.Run(runCtx) }()
	for !s.Status().Up {
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, s.Put(ctx, "job-3", testJob), "Put after Redis came back")
	c, _, err := s.Claim(ctx, "job-3")
	require.NoError(t, err, "Claim after Redis came back")
	require.NotNil(t, c, "Claim after Redis came back")
	stop()
	require.NoError(t, <-done)
	n := strings.Count(logs.String(), "rescue store down")
	assert.Equal(t, 1, n, "logged the outage %d times, want once:\n%s", n, logs.String())
	assert.Contains(t, logs.String(), "rescue store up", "the recovery was not logged")
}

// TestSlowStoreIsBounded: a store that accepts connections and never
// answers costs one OpTimeout, then nothing while it is marked down.
func TestSlowStoreIsBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var conns sync.WaitGroup
	defer conns.Wait()
	stopAccept := make(chan struct{})
	defer close(stopAccept)
	conns.Go(func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // never answered
			select {
			case <-stopAccept:
				return
			default:
			}
		}
	})
	s := openStore(t, "redis://"+ln.Addr().String(), &fakeClock{t: time.Now()}, &syncbuf.Buffer{}, nil,
		func(c *Config) { c.OpTimeout = 50 * time.Millisecond })
	require.False(t, s.Status().Up, "a store that never answered its first ping is up")
	err = s.Put(context.Background(), "job", testJob)
	require.ErrorIs(t, err, ErrUnavailable, "Put to a silent store: err, want ErrUnavailable")
	s.up.Store(true) // as if a ping had answered: calls now wait, each at most OpTimeout
	for range downAfterFailures {
		err := s.Put(context.Background(), "job", testJob)
		require.Error(t, err, "Put to a silent store: err, want a timeout")
		require.NotErrorIs(t, err, ErrUnavailable, "Put to a silent store: err, want a timeout")
	}
	require.False(t, s.Status().Up, "the silent store is still up after failed calls in a row")
	_ = ln.Close()
}

func TestOpenRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no keys", Config{Backend: "memory"}, "no encryption key"},
		{"short key", Config{Backend: "memory", Keys: [][]byte{{1, 2}}}, "key 1 is 2 bytes"},
		{"unknown backend", Config{Backend: "memcached://x", Keys: [][]byte{testKey(1)}}, "memory, or a redis://"},
		{"bad redis URL, password kept out", Config{Backend: "redis://:hunter2-pw@127.0.0.1:notaport", Keys: [][]byte{testKey(1)}}, "not a valid redis"},
		{"negative TTL", Config{Backend: "memory", Keys: [][]byte{testKey(1)}, TTL: -time.Second}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(context.Background(), tc.cfg)
			require.Error(t, err, "Open error")
			require.Contains(t, err.Error(), tc.want, "Open error")
			require.NotContains(t, err.Error(), "hunter2", "error quotes the password: %v", err)
		})
	}
}

func rescuedCount(t *testing.T, r *metric.ManualReader, from, to string) int64 {
	t.Helper()
	return metrictest.Counter(t, r, "gateway.jobs.rescued", map[string]string{"from": from, "to": to})
}

func storeUp(t *testing.T, r *metric.ManualReader) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == "gateway.rescue.store.up" && len(g.DataPoints) == 1 {
				return g.DataPoints[0].Value
			}
		}
	}
	require.Fail(t, "no gateway.rescue.store.up gauge")
	return -1
}

// ownerRegion is a job's owner region as the proxy hands it to the store:
// its outage clock is the one rescue reads.
func ownerRegion(t *testing.T, name string) *region.Region {
	t.Helper()
	r, err := region.New(region.Config{Name: name, Role: region.RolePrimary,
		Endpoint: &url.URL{Scheme: "https", Host: name + ".example"}, Key: "region-key"})
	require.NoError(t, err)
	return r
}

func TestOutageMakesRescueDue(t *testing.T) {
	s := openStore(t, BackendMemory, &fakeClock{}, &syncbuf.Buffer{}, nil, func(c *Config) { c.After = time.Minute })
	t0 := time.Unix(1_700_000_000, 0)
	westus2, eastus := ownerRegion(t, "westus2"), ownerRegion(t, "eastus")
	_, ok := s.DueIn(westus2, t0)
	require.False(t, ok, "a region never seen down is due")
	westus2.Down(t0)
	westus2.Down(t0.Add(30 * time.Second)) // the outage keeps its start
	for _, tc := range []struct {
		at   time.Duration
		want time.Duration
	}{{0, time.Minute}, {45 * time.Second, 15 * time.Second}, {time.Minute, 0}, {2 * time.Minute, -time.Minute}} {
		wait, ok := s.DueIn(westus2, t0.Add(tc.at))
		if assert.True(t, ok, "DueIn at +%v = %v, %v; want %v", tc.at, wait, ok, tc.want) {
			assert.Equal(t, tc.want, wait, "DueIn at +%v = %v, %v; want %v", tc.at, wait, ok, tc.want)
		}
	}
	_, ok = s.DueIn(eastus, t0.Add(time.Hour))
	assert.False(t, ok, "another region is due")
	westus2.Up(t0.Add(time.Hour))
	_, ok = s.DueIn(westus2, t0.Add(time.Hour))
	assert.False(t, ok, "a region back up is still due")
	westus2.Down(t0.Add(2 * time.Hour)) // a new outage starts afresh
	wait, _ := s.DueIn(westus2, t0.Add(2*time.Hour))
	assert.Equal(t, time.Minute, wait, "a new outage is due in, want 1m")
}

// TestStaleViewOfAnOutage: trouble older than the latest sign of health
// starts no outage, and a job accepted after the outage began (by another
// replica, say) shows the view is stale; a job's clock never starts before
// it was accepted.
func TestStaleViewOfAnOutage(t *testing.T) {
	s := openStore(t, BackendMemory, &fakeClock{}, &syncbuf.Buffer{}, nil, func(c *Config) { c.After = time.Minute })
	t0 := time.Unix(1_700_000_000, 0)
	westus2 := ownerRegion(t, "westus2")
	westus2.Down(t0) // the breaker opened

	// A job accepted before the outage: due a minute after it began.
	wait, stale := s.JobDueIn(westus2, t0.Add(-time.Hour), t0.Add(90*time.Second))
	require.False(t, stale)
	require.Equal(t, -30*time.Second, wait)
	// One accepted after it began: the region came back meanwhile.
	_, stale = s.JobDueIn(westus2, t0.Add(10*time.Second), t0.Add(90*time.Second))
	require.True(t, stale)
	// A job whose acceptance is unknown (an older record) is judged by the outage.
	_, stale = s.JobDueIn(westus2, time.Time{}, t0.Add(90*time.Second))
	require.False(t, stale)

	// The caller notes the sign of health: the outage is over, and the
	// breaker that opened at t0 (still open) is old news.
	westus2.Up(t0.Add(10 * time.Second))
	_, down := s.DueIn(westus2, t0.Add(90*time.Second))
	require.False(t, down)
	westus2.Down(t0)
	_, down = s.DueIn(westus2, t0.Add(90*time.Second))
	require.False(t, down, "trouble older than the latest sign of health starts no outage")
	wait, stale = s.JobDueIn(westus2, t0.Add(10*time.Second), t0.Add(90*time.Second))
	require.False(t, stale)
	require.Equal(t, time.Minute, wait, "a region not down is not due")

	// Its trial for the job failed at +20s: a new outage, and the job's
	// clock runs from there.
	westus2.Down(t0.Add(20 * time.Second))
	wait, stale = s.JobDueIn(westus2, t0.Add(10*time.Second), t0.Add(30*time.Second))
	require.False(t, stale)
	require.Equal(t, 50*time.Second, wait)
}
