package gateway

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOpsPortIsApart checks the split of GATEWAY_ADDR and GATEWAY_OPS_ADDR:
// what operators call is served only on the ops port, what clients and
// load balancers call only on the client port.
func TestOpsPortIsApart(t *testing.T) {
	gw := startGateway(t)
	clientOnly := []struct{ method, path string }{
		{http.MethodGet, "/healthz"},
		{http.MethodGet, "/readyz"},
		{http.MethodPost, submitPath},
		{http.MethodPost, "/language/:analyze-text?api-version=2023-04-01"},
	}
	opsOnly := []struct {
		method, path, key string
		want              int
	}{
		{http.MethodGet, "/status", "", http.StatusOK},
		{http.MethodGet, "/metrics", "", http.StatusOK},
		{http.MethodPost, "/admin/replication/sync", testAdminKey, http.StatusConflict}, // no projects to replicate
	}
	for _, c := range opsOnly {
		resp, body := gw.ops(t, c.method, c.path, nil, c.key)
		assert.Equal(t, c.want, resp.StatusCode, "ops %s %s: %s", c.method, c.path, body)
		resp, body = gw.do(t, c.method, c.path, nil, c.key)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "client port %s %s: %s", c.method, c.path, body)
		assertAzureError(t, body)
	}
	for _, c := range clientOnly {
		resp, body := gw.do(t, c.method, c.path, submitBody("Contoso in Köln."))
		assert.NotEqual(t, http.StatusNotFound, resp.StatusCode, "client %s %s: %s", c.method, c.path, body)
		resp, body = gw.ops(t, c.method, c.path, submitBody("Contoso in Köln."))
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "ops port %s %s: %s", c.method, c.path, body)
	}
	resp, _ := gw.ops(t, http.MethodGet, "/debug/pprof/", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "pprof is off unless GATEWAY_PPROF=true")
}

func TestPprofOnlyWhenEnabled(t *testing.T) {
	gw := startGateway(t, withEnv("GATEWAY_PPROF", "true"))
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
		resp, body := gw.ops(t, http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, body)
		resp, _ = gw.do(t, http.MethodGet, path, nil)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s is not on the client port", path)
	}
}
