package proxy

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/internal/route"
	"nergateway/internal/secret"
	"nergateway/rescue"
)

// The first copy of a rescued job, once its region answers again: a copy
// still running is cancelled; one that finished, or that the region no
// longer knows, is left alone; one the region cannot tell about is
// counted as a failed cancel. Each is settled once: a second pass finds
// the queue empty.
func TestRescuedOriginalsSettle(t *testing.T) {
	for _, tc := range []struct {
		name        string
		running     bool // the first copy still runs
		unknown     bool // the region does not know it (404)
		status      int  // the region answers every call with this
		outcome     string
		wantCancels int
	}{
		{name: "running", running: true, outcome: originalCancelled, wantCancels: 1},
		{name: "finished", outcome: originalAlreadyFinished},
		{name: "expired", unknown: true, outcome: originalAlreadyFinished},
		{name: "region failing", running: true, status: http.StatusInternalServerError, outcome: originalCancelFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
			store, err := rescue.Open(context.Background(), rescue.Config{
				Backend: secret.Secret(rescue.BackendMemory), Keys: [][]byte{[]byte(strings.Repeat("k", rescue.KeySize))},
			})
			require.NoError(t, err)
			t.Cleanup(store.Close)
			h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{config: func(c *Config) { c.Rescue = store }})
			ctx := context.Background()

			first := newV4()
			primary.mu.Lock()
			primary.running = tc.running
			if !tc.unknown {
				primary.jobs[first] = &fakeJob{project: "proj", deployment: "prod"}
			}
			primary.always = tc.status
			primary.mu.Unlock()
			clientID, _ := encodeToken(first, 0)
			require.NoError(t, store.Put(ctx, clientID, rescue.Job{Query: "api-version=2023-04-01", Body: []byte(submitBody("proj", "prod"))}))
			claim, _, err := store.Claim(ctx, clientID)
			require.NoError(t, err)
			require.NotNil(t, claim)
			require.NoError(t, claim.Rescued(ctx, rescue.Original{Region: "westus2", UpstreamID: first, APIVersion: "2023-04-01"}, "eastus", newV4()))

			h.proxy.cancelOriginals(ctx, 0)
			h.proxy.cancelOriginals(ctx, 0) // settled once: the queue is empty now
			for _, o := range originalOutcomes {
				want := int64(0)
				if o == tc.outcome {
					want = 1
				}
				assert.Equal(t, want, h.counter("gateway.rescued.originals", map[string]string{"region": "westus2", "outcome": o}), o)
			}
			assert.Equal(t, tc.wantCancels, primary.Calls(route.Cancel.Name))
			if tc.wantCancels > 0 {
				primary.mu.Lock()
				assert.True(t, primary.jobs[first].cancelled, "cancelled with the region's key")
				primary.mu.Unlock()
			}
			assert.Zero(t, secondary.Calls(route.Cancel.Name), "the rescued copy is never touched")
		})
	}
}
