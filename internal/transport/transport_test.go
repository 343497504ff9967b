package transport

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUpstreamPoolIsBounded sends more concurrent calls to one region than
// the pool allows: the region never sees more than MaxConnsPerRegion
// connections, and every call is answered once connections free up. The
// region holds every answer until the pool is full, so without the cap
// each waiting call would dial its own connection.
func TestUpstreamPoolIsBounded(t *testing.T) {
	const calls = MaxConnsPerRegion + 36
	var opened, active atomic.Int64
	full := make(chan struct{})
	var once sync.Once
	region := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-full
	}))
	region.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			opened.Add(1)
		case http.StateActive:
			if active.Add(1) == MaxConnsPerRegion {
				once.Do(func() { close(full) })
			}
		}
	}
	region.Start()
	defer region.Close()

	tr, err := New("")
	require.NoError(t, err)
	defer tr.CloseIdleConnections()
	assert.GreaterOrEqual(t, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost, "every connection may stay idle")
	client := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range calls {
		wg.Go(func() {
			resp, err := client.Get(region.URL)
			if err != nil {
				failed.Add(1)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	assert.Zero(t, failed.Load(), "every call answered")
	assert.EqualValues(t, MaxConnsPerRegion, opened.Load(), "connections the region saw")
}
