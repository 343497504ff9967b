package rescue

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric"

	"nergateway/internal/testkit/metrictest"
	"nergateway/internal/testkit/redistest"
	"nergateway/internal/testkit/syncbuf"
)

// jobOf is a submit whose body is n bytes.
func jobOf(n int) Job {
	return Job{Query: "api-version=2023-04-01", ContentType: "application/json", Body: bytes.Repeat([]byte{' '}, n)}
}

func uncoveredCount(t *testing.T, r *metric.ManualReader, reason string) int64 {
	t.Helper()
	return metrictest.Counter(t, r, "gateway.rescue.uncovered", map[string]string{"reason": reason})
}

// The memory store holds at most MaxBytes of sealed bodies; when a new
// job does not fit, the oldest jobs lose their cover first, each counted,
// and the new one is kept. A body larger than the whole bound is not kept
// and drops nothing.
func TestMemoryStoreDropsTheOldestFirst(t *testing.T) {
	ctx := context.Background()
	reader := metric.NewManualReader()
	logs := &syncbuf.Buffer{}
	const body = 100 << 10
	s := openStore(t, BackendMemory, &fakeClock{t: time.Unix(1_700_000_000, 0)}, logs,
		metric.NewMeterProvider(metric.WithReader(reader)), func(c *Config) { c.MaxBytes = 350 << 10 })
	for i := range 5 {
		require.NoError(t, s.Put(ctx, fmt.Sprintf("job-%d", i), jobOf(body)))
	}
	st := s.Status()
	assert.True(t, st.Full)
	require.NotNil(t, st.HeldBytes)
	assert.LessOrEqual(t, *st.HeldBytes, int64(350<<10))
	assert.Equal(t, Uncovered{Evicted: 2}, st.Uncovered)
	assert.Equal(t, int64(2), uncoveredCount(t, reader, ReasonEvicted))
	assert.Equal(t, 1, strings.Count(logs.String(), "rescue store full"), "logged once, not per submit")
	require.NoError(t, s.Put(ctx, "tiny", jobOf(10)))
	assert.True(t, s.Status().Full, "a small body that fits does not make a full store roomy")
	assert.NotContains(t, logs.String(), "room again")

	for _, id := range []string{"job-0", "job-1"} {
		c, st, err := s.Claim(ctx, id)
		require.NoError(t, err)
		assert.Nil(t, c, "%s, the oldest, lost its cover", id)
		assert.Equal(t, PhaseGone, st.Phase)
	}
	for _, id := range []string{"job-2", "job-3", "job-4"} {
		c, _, err := s.Claim(ctx, id)
		require.NoError(t, err)
		if assert.NotNil(t, c, "%s is still covered", id) {
			assert.Len(t, c.Job.Body, body)
		}
	}

	// A body larger than the whole bound: not kept, nothing dropped for it.
	held := *s.Status().HeldBytes
	require.NoError(t, s.Put(ctx, "huge", jobOf(400<<10)), "a full store never fails a submit")
	assert.Equal(t, held, *s.Status().HeldBytes)
	assert.Equal(t, int64(1), s.Status().Uncovered.TooLarge)
	assert.Equal(t, int64(1), uncoveredCount(t, reader, ReasonTooLarge))
	c, st2, err := s.Claim(ctx, "huge")
	require.NoError(t, err)
	assert.Nil(t, c)
	assert.Equal(t, PhaseGone, st2.Phase)

	// Forgetting and expiry give the bytes back.
	mem := s.b.(*memoryBackend)
	for _, id := range []string{"job-2", "job-3", "job-4", "tiny"} {
		require.NoError(t, s.Forget(ctx, id))
	}
	assert.Zero(t, mem.heldBytes())
	require.NoError(t, s.Put(ctx, "fresh", jobOf(body)))
	assert.False(t, s.Status().Full, "room again")
	assert.Equal(t, int64(2), s.Status().Uncovered.Evicted, "nothing more dropped")
}

// usedMemoryOf reads Redis's used_memory.
func usedMemoryOf(t *testing.T, r *redistest.Server) int64 {
	t.Helper()
	c := r.Client()
	defer c.Close()
	info, err := c.Info(context.Background(), "memory").Result()
	require.NoError(t, err)
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			var n int64
			_, err := fmt.Sscan(v, &n)
			require.NoError(t, err)
			return n
		}
	}
	require.Fail(t, "no used_memory")
	return 0
}

// A Redis at maxmemory under noeviction answers writes with "OOM command
// not allowed": new bodies are counted as full and the submit goes on,
// the store stays up, and the jobs it holds are still read, claimed,
// rescued and forgotten. A body larger than MaxBytes never reaches Redis.
func TestRedisAtMaxmemory(t *testing.T) {
	ctx := context.Background()
	r := redistest.Start(t)
	reader := metric.NewManualReader()
	logs := &syncbuf.Buffer{}
	s := openStore(t, r.URL(), &fakeClock{t: time.Now()}, logs, metric.NewMeterProvider(metric.WithReader(reader)),
		func(c *Config) { c.MaxBytes = 256 << 10 })
	for i := range 3 {
		require.NoError(t, s.Put(ctx, fmt.Sprintf("kept-%d", i), jobOf(64<<10)))
	}
	c := r.Client()
	defer c.Close()
	require.NoError(t, c.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err())
	require.NoError(t, c.ConfigSet(ctx, "maxmemory", fmt.Sprint(usedMemoryOf(t, r))).Err())

	for i := range 5 {
		require.NoError(t, s.Put(ctx, fmt.Sprintf("late-%d", i), jobOf(64<<10)), "a full Redis never fails a submit")
	}
	assert.Equal(t, int64(5), uncoveredCount(t, reader, ReasonFull))
	st := s.Status()
	assert.True(t, st.Up, "OOM is not an outage: %s", st.LastError)
	assert.True(t, st.Full)
	assert.Equal(t, int64(5), st.Uncovered.Full)
	assert.Zero(t, st.Uncovered.Unavailable)
	assert.Equal(t, int64(1), storeUp(t, reader))
	assert.Nil(t, st.HeldBytes, "Redis keeps its own count")
	assert.Equal(t, 1, strings.Count(logs.String(), "rescue store full"))
	assert.NotContains(t, logs.String(), "rescue store down")

	// What is stored is still rescued: claim (a state written at
	// maxmemory), rescued, read back, forgotten.
	claim, _, err := s.Claim(ctx, "kept-1")
	require.NoError(t, err)
	require.NotNil(t, claim, "a stored job is claimed while Redis is full")
	assert.Len(t, claim.Job.Body, 64<<10)
	original := Original{Region: "westus2", UpstreamID: "first-1", APIVersion: "2023-04-01"}
	require.NoError(t, claim.Rescued(ctx, original, "eastus", "up-1"),
		"the rescue and its first copy's cancel are recorded at maxmemory")
	s.rescued = newRescuedCache(8) // read it from Redis, not from this replica's memory
	got, err := s.State(ctx, "kept-1")
	require.NoError(t, err)
	assert.Equal(t, State{Phase: PhaseRescued, Region: "eastus", UpstreamID: "up-1",
		From: "westus2", FromID: "first-1", APIVersion: "2023-04-01"}, got)
	queued, err := s.Originals(ctx, "westus2", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"kept-1"}, queued, "the first copy waits for its cancel")
	require.NoError(t, s.Forget(ctx, "kept-0"), "a finished job's mark is written at maxmemory too")
	done, st3, err := s.Claim(ctx, "kept-0")
	require.NoError(t, err)
	assert.Nil(t, done)
	assert.Equal(t, PhaseFinished, st3.Phase)
	late, st4, err := s.Claim(ctx, "late-0")
	require.NoError(t, err)
	assert.Nil(t, late, "a job Redis had no room for is not rescued")
	assert.Equal(t, PhaseGone, st4.Phase)
	assert.True(t, s.Status().Up)

	// Room again: new jobs are kept.
	require.NoError(t, c.ConfigSet(ctx, "maxmemory", "0").Err())
	require.NoError(t, s.Put(ctx, "after", jobOf(64<<10)))
	assert.False(t, s.Status().Full)
	assert.Equal(t, int64(1), c.Exists(ctx, bodyKey("after")).Val())

	// Larger than JOB_RESCUE_MAX_BYTES: never sent to Redis.
	require.NoError(t, s.Put(ctx, "huge", jobOf(300<<10)))
	assert.Equal(t, int64(1), uncoveredCount(t, reader, ReasonTooLarge))
	assert.Zero(t, c.Exists(ctx, bodyKey("huge")).Val())
}
