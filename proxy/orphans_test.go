package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/internal/inflight"
	"nergateway/internal/route"
)

// runProxy runs the proxy's background work for the test, stopped (and
// waited for) at its end.
func runProxy(t testing.TB, p *Proxy) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	eventually(t, func() bool {
		p.orphans.mu.Lock()
		defer p.orphans.mu.Unlock()
		return p.orphans.ctx != nil
	})
}

// orphans reads gateway.orphan.jobs for a region and outcome.
func (h *harness) orphans(regionName, outcome string) int64 {
	return h.counter("gateway.orphan.jobs", map[string]string{"region": regionName, "outcome": outcome})
}

// The followers are bounded: with every one of them waiting on a region
// that holds its submits, one more orphan drops the oldest (its request is
// cancelled and counted), and the rest are each cancelled once the region
// answers.
func TestOrphanFollowersAreBounded(t *testing.T) {
	region := newFakeRegion(t, "p")
	block := make(chan struct{})
	region.block = block
	h := newHarness(t, []upstream{region.upstream()}, harnessOptions{failures: 10000, config: func(c *Config) {
		c.UpstreamTimeout = time.Second
		c.OrphanWait = time.Minute
	}})
	const followers = 8
	h.proxy.orphans.max = followers // as with maxFollowers, smaller
	runProxy(t, h.proxy)

	var wg sync.WaitGroup
	for range followers + 1 {
		wg.Go(func() {
			got := h.submit("proj", "prod")
			assert.Equal(t, http.StatusGatewayTimeout, got.status, "%s", got.body)
		})
	}
	wg.Wait()
	eventually(t, func() bool { return h.orphans("westus2", orphanDropped) == 1 })

	region.mu.Lock()
	region.block = nil
	region.mu.Unlock()
	close(block)
	eventually(t, func() bool { return h.orphans("westus2", orphanCancelled) == followers })
	region.mu.Lock()
	defer region.mu.Unlock()
	// The dropped submit's request was cancelled; the region may still
	// have created its job (that is what dropped counts).
	cancelled := 0
	for _, j := range region.jobs {
		if j.cancelled {
			cancelled++
		}
	}
	assert.Equal(t, followers, cancelled, "every followed orphan cancelled")
	assert.Equal(t, followers, region.calls[route.Cancel.Name], "one cancel each")
	assert.Contains(t, h.logs.String(), "orphaned job cancelled")
}

// A region that accepted a submit whose answer the gateway could not hold
// (no budget for the rewritten answer: the client gets 503) has its job
// cancelled: nobody will ever poll it.
func TestAcceptedSubmitTheGatewayFailedIsCancelled(t *testing.T) {
	key := "region-key-" + randHex(8)
	var (
		mu      sync.Mutex
		jobs    []string
		cancels = map[string]int{}
	)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(api.SubscriptionKeyHeader) != key {
			api.WriteError(w, http.StatusUnauthorized, api.Error{Code: "401", Message: "bad key"})
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if id, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, api.JobsPath+"/"), api.CancelSuffix); ok && r.Method == http.MethodPost {
			cancels[id]++
			w.WriteHeader(http.StatusAccepted)
			return
		}
		id := newV4()
		jobs = append(jobs, id)
		w.Header().Set("Operation-Location", srv.URL+api.JobsPath+"/"+id+"?api-version="+r.URL.Query().Get("api-version"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		// A 202 with a body: holding it and its rewritten copy takes more
		// than the budget.
		_, _ = w.Write([]byte(`{"note":"` + strings.Repeat("x", 60<<10) + `"}`))
	}))
	t.Cleanup(srv.Close)
	h := newHarness(t, []upstream{{url: srv.URL, key: key}}, harnessOptions{config: func(c *Config) {
		c.Budget = inflight.NewBudget(112 << 10)
	}})
	runProxy(t, h.proxy)

	got := h.submit("proj", "prod")
	require.Equal(t, http.StatusServiceUnavailable, got.status, "%s", got.body)
	eventually(t, func() bool { return h.orphans("westus2", orphanCancelled) == 1 })
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, jobs, 1)
	assert.Equal(t, map[string]int{jobs[0]: 1}, cancels, "the accepted job cancelled once, with the region's key")
}
