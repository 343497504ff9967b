package rescue

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A rescue queues its first copy; every replica lists it; exactly one of
// many concurrent claims across replicas wins its cancel; the rescue
// record names the copy.
func TestOriginalClaimedOnceAcrossReplicas(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *replicas) {
		ctx := context.Background()
		a, b := r.stores[0], r.stores[1]
		require.NoError(t, a.Put(ctx, "job-1", testJob))
		c, _, err := b.Claim(ctx, "job-1")
		require.NoError(t, err)
		require.NotNil(t, c)
		original := Original{Region: "westus2", UpstreamID: "first-copy-1", APIVersion: "2023-04-01"}
		require.NoError(t, c.Rescued(ctx, original, "eastus", "up-1"))

		for i, s := range r.stores {
			st, err := s.State(ctx, "job-1")
			require.NoError(t, err)
			assert.Equal(t, State{Phase: PhaseRescued, Region: "eastus", UpstreamID: "up-1",
				From: "westus2", FromID: "first-copy-1", APIVersion: "2023-04-01"}, st, "replica %d", i)
			ids, err := s.Originals(ctx, "westus2", 10)
			require.NoError(t, err)
			assert.Equal(t, []string{"job-1"}, ids, "replica %d", i)
			none, err := s.Originals(ctx, "eastus", 10)
			require.NoError(t, err)
			assert.Empty(t, none)
		}

		var won atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 40 {
			wg.Go(func() {
				<-start
				ok, err := r.stores[i%2].ClaimOriginal(ctx, "westus2", "job-1")
				assert.NoError(t, err)
				if ok {
					won.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		assert.Equal(t, int32(1), won.Load(), "claims of the first copy's cancel won")
		ids, err := a.Originals(ctx, "westus2", 10)
		require.NoError(t, err)
		assert.Empty(t, ids, "a claimed copy leaves the queue")
	})
}

// The queue forgets a copy after the TTL (its job has expired in Azure)
// and never holds more than maxOriginals per region, dropping the copies
// that expire first.
func TestOriginalsQueueIsBounded(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	b := newMemoryBackend(clock.Now, DefaultMaxBytes)
	ctx := context.Background()
	for i := range 5 {
		require.NoError(t, b.keepOriginal(ctx, "westus2", string(rune('a'+i)), clock.Now().Add(time.Duration(i+1)*time.Minute), 3))
	}
	ids, err := b.originals(ctx, "westus2", clock.Now(), 10)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"c", "d", "e"}, ids, "the three that expire last")
	clock.Advance(4 * time.Minute)
	ids, err = b.originals(ctx, "westus2", clock.Now(), 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"e"}, ids)
}
