package gateway

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// typoValue is what the misspelt variables hold: never to be logged, as
// the value of a variable may be a secret.
const typoValue = "typo-value-5a5a"

// TestStartWarnsAboutMisspeltVariables serves with two misspelt variables
// in the process environment (what the gateway lists) and expects a
// warning naming each with the variable meant, and the canary's being off
// in the log and in /status, with why.
func TestStartWarnsAboutMisspeltVariables(t *testing.T) {
	t.Setenv("PROJECT_NAME", typoValue)
	t.Setenv("REPLICATION_INTERVALL", typoValue)
	gw := startGateway(t, withEnv("PROJECT_NAMES", testProject))
	logs := gw.Logs.String()
	assert.Contains(t, logs, "configuration: PROJECT_NAME: not a variable the gateway reads (did you mean PROJECT_NAMES?)")
	assert.Contains(t, logs, "configuration: REPLICATION_INTERVALL: not a variable the gateway reads (did you mean REPLICATION_INTERVAL?)")
	assert.NotContains(t, logs, typoValue)
	assert.Contains(t, logs, `"msg":"replication canary off","reason":"no documents: neither PRIMARY_STORAGE_URL nor REPLICATION_CANARY_FILE is set"`)

	canary := replicationCanary(t, gw)
	assert.Equal(t, map[string]any{"enabled": false, "off": "no documents: neither PRIMARY_STORAGE_URL nor REPLICATION_CANARY_FILE is set"}, canary)
}

func TestCanaryStateInStatus(t *testing.T) {
	file := filepath.Join(t.TempDir(), "canary.txt")
	require.NoError(t, os.WriteFile(file, []byte("Contoso signs the lease in Köln.\n"), 0o600))

	gw := startGateway(t, withEnv("PROJECT_NAMES", testProject, "REPLICATION_CANARY_FILE", file))
	assert.Equal(t, map[string]any{"enabled": true}, replicationCanary(t, gw))
	assert.NotContains(t, gw.Logs.String(), "canary off")

	gw = startGateway(t, withEnv("PROJECT_NAMES", testProject, "REPLICATION_CANARY_FILE", file, "REPLICATION_CANARY_DOCS", "0"))
	assert.Equal(t, map[string]any{"enabled": false, "off": "REPLICATION_CANARY_DOCS=0"}, replicationCanary(t, gw))
	assert.Contains(t, gw.Logs.String(), `"msg":"replication canary off","reason":"REPLICATION_CANARY_DOCS=0"`)
}

// replicationCanary reads /status's replication.canary.
func replicationCanary(t *testing.T, gw *testGateway) map[string]any {
	t.Helper()
	_, body := gw.ops(t, http.MethodGet, "/status", nil)
	var st struct {
		Replication struct {
			Canary map[string]any `json:"canary"`
		} `json:"replication"`
	}
	require.NoError(t, json.Unmarshal(body, &st), string(body))
	return st.Replication.Canary
}

func TestReplicateOnceWarnsAboutMisspeltVariables(t *testing.T) {
	t.Setenv("REPLICATION_CANARY_DOC", typoValue)
	primary, secondary := replicationRegions(t, false)
	env := replicationEnv(primary, secondary)
	logs := newTrafficRecord(primary, secondary).newLog()
	require.NoError(t, replicateEnv(t.Context(), env, logs))
	assert.Contains(t, logs.String(), "configuration: REPLICATION_CANARY_DOC: not a variable the gateway reads (did you mean REPLICATION_CANARY_DOCS?)")
	assert.Contains(t, logs.String(), `"msg":"replication canary off"`)
	assert.NotContains(t, logs.String(), typoValue)
}
