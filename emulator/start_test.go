package emulator

import (
	"nergateway/internal/testkit/loopback"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// Seeds are in place before the region serves: the very first request
// finds them (cmd/emulator used to seed after Start, so a fast client saw
// an empty region).
func TestStartSeedsBeforeServing(t *testing.T) {
	sp := demoProject()
	sp.DeploymentName = "production"
	s, err := Start("127.0.0.1:0", "", Options{Name: "westus2", Key: "k1", Seeds: []SeedProject{sp}})
	require.NoError(t, err)
	defer s.Close()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/language/authoring/analyze-text/projects/demo/deployments/production?api-version=2022-05-01", nil)
	req.Header.Set("Ocp-Apim-Subscription-Key", "k1")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, "first request: want the seeded deployment")
}

// A seed that cannot be applied fails Start before anything listens.
func TestStartWithABadSeedNeverListens(t *testing.T) {
	addr := loopback.FreeAddr(t)
	_, err := Start(addr, "", Options{Name: "w", Key: "k", Seeds: []SeedProject{{Name: "bad name!"}}})
	require.Error(t, err, "Start accepted a bad seed")
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err, "Start left %s listening", addr)
	ln.Close()
}
