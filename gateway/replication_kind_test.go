package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
)

// A project of a kind the worker does not replicate is refused by
// `gateway replicate --once` before anything is written, with a message an
// operator can act on. (The emulator holds custom NER projects only, so the
// primary here is a loopback server answering the two GETs of a check.)
func TestReplicateOnceRefusesAnUnsupportedProjectKind(t *testing.T) {
	primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == api.ProjectPath(testProject):
			_, _ = io.WriteString(w, `{"projectName":"`+testProject+`","projectKind":"CustomHealthcare","storageInputContainerName":"docs",`+
				`"language":"en","multilingual":false,"lastModifiedDateTime":"2026-02-02T23:14:34Z"}`)
		case r.Method == http.MethodGet && r.URL.Path == api.ProjectPath(testProject)+"/deployments":
			_, _ = io.WriteString(w, `{"value":[]}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"code":"NotFound","message":"Resource not found."}}`)
		}
	}))
	t.Cleanup(primary.Close)
	secondary := testRegion(t, "eastus", testSecondaryKey, 0)
	env := map[string]string{
		"GATEWAY_API_KEYS":       testGatewayKey,
		"PRIMARY_ENDPOINT":       primary.URL,
		"PRIMARY_RESOURCE_KEY":   testPrimaryKey,
		"SECONDARY_ENDPOINT":     secondary.URL,
		"SECONDARY_RESOURCE_KEY": testSecondaryKey,
		"PROJECT_NAMES":          testProject,
	}
	logs := newTrafficRecord(secondary).newLog()
	err := replicateEnv(t.Context(), env, logs)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `has projectKind CustomHealthcare, which the replication worker does not replicate`)
	assert.Contains(t, err.Error(), "remove it from PROJECT_NAMES")
	assert.Contains(t, logs.String(), `"state":"refused"`)
	for _, route := range []string{"getProject", "export", "import", "train", "deploy"} {
		assert.Zero(t, secondary.Calls(route), "secondary %s", route)
	}
}
