package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/emulator"
	"nergateway/internal/config"
	"nergateway/internal/secret"
	"nergateway/internal/testkit/azurite"
	"nergateway/replication"
	"nergateway/replication/docsync"
)

// replicationRegions returns a primary holding the test project and an
// empty secondary whose storage container holds the same texts (storage is
// replicated outside the gateway), unless withoutDocs.
func replicationRegions(t *testing.T, withoutDocs bool) (*emulator.Server, *emulator.Server) {
	t.Helper()
	primary := testRegion(t, "westus2", testPrimaryKey, 0)
	secondary := testRegion(t, "eastus", testSecondaryKey, 0)
	seedTestProject(t, primary, testProject, testDeployment)
	if !withoutDocs {
		secondary.PutDocument("docs-dr", "01.txt", "Contoso signs the lease in Köln.")
		secondary.PutDocument("docs-dr", "02.txt", "Fabrikam and Contoso meet in São Paulo.")
	}
	return primary, secondary
}

func replicationEnv(primary, secondary *emulator.Server) map[string]string {
	return map[string]string{
		"GATEWAY_API_KEYS":           testGatewayKey,
		"PRIMARY_ENDPOINT":           primary.URL,
		"PRIMARY_RESOURCE_KEY":       testPrimaryKey,
		"SECONDARY_ENDPOINT":         secondary.URL,
		"SECONDARY_RESOURCE_KEY":     testSecondaryKey,
		"SECONDARY_CONTAINER_NAME":   "docs-dr",
		"PROJECT_NAMES":              testProject,
		"AUTHORING_POSTS_PER_MINUTE": "6000",
	}
}

func TestReplicateOnceExitStatus(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		primary, secondary := replicationRegions(t, false)
		env := replicationEnv(primary, secondary)
		logs := newTrafficRecord(primary, secondary).newLog()
		err := replicateEnv(t.Context(), env, logs)
		require.NoError(t, err, logs.String())
		assert.Equal(t, 1, secondary.Calls("import"))
		assert.Equal(t, 1, secondary.Calls("train"))
		assert.Equal(t, 1, secondary.Calls("deploy"))

		// The secondary now answers through the gateway as the primary did.
		primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})
		gw := startGatewayWith(t, primary, secondary)
		assertEntities(t, gw.wait(t, gw.submit(t, probeText)))

		// In sync: a second pass costs nothing billable.
		primary.ClearFaults()
		require.NoError(t, replicateEnv(t.Context(), env, logs))
		assert.Equal(t, 1, secondary.Calls("import"), "no import when in sync")
		assert.Equal(t, 1, secondary.Calls("train"), "no training when in sync")
		assert.Equal(t, 1, secondary.Calls("deploy"), "no deployment when in sync")
	})
	t.Run("failed project exits non-zero", func(t *testing.T) {
		primary, secondary := replicationRegions(t, true) // training fails: texts missing
		env := replicationEnv(primary, secondary)
		logs := newTrafficRecord(primary, secondary).newLog()
		err := replicateEnv(t.Context(), env, logs)
		require.Error(t, err)
		assert.Contains(t, logs.String(), `"state":"failed"`)
		assert.NotContains(t, err.Error(), testSecondaryKey)
	})
	t.Run("nothing to replicate", func(t *testing.T) {
		primary, secondary := replicationRegions(t, false)
		env := replicationEnv(primary, secondary)
		delete(env, "PROJECT_NAMES")
		assert.Error(t, replicateEnv(t.Context(), env, io.Discard), "nothing to replicate")
	})
}

// projectStatus reads one project's replication entry from /status.
func (g *testGateway) projectStatus(t *testing.T) map[string]any {
	t.Helper()
	_, body := g.ops(t, http.MethodGet, "/status", nil)
	var st struct {
		Replication struct {
			Enabled  bool             `json:"enabled"`
			Projects []map[string]any `json:"projects"`
		} `json:"replication"`
	}
	require.NoError(t, json.Unmarshal(body, &st), string(body))
	require.True(t, st.Replication.Enabled, string(body))
	require.Len(t, st.Replication.Projects, 1)
	return st.Replication.Projects[0]
}

func TestInGatewayReplicationStatusAndAdminSync(t *testing.T) {
	primary, secondary := replicationRegions(t, false)
	env := replicationEnv(primary, secondary)
	opts := []gatewayOption{withEnv("SECONDARY_CONTAINER_NAME", "docs-dr", "PROJECT_NAMES", testProject,
		"AUTHORING_POSTS_PER_MINUTE", env["AUTHORING_POSTS_PER_MINUTE"], "REPLICATION_INTERVAL", "1h")}
	gw := startGatewayWith(t, primary, secondary, opts...)

	eventually(t, "the worker to copy the project at start", func() bool {
		return gw.projectStatus(t)["state"] == "in-sync"
	})
	st := gw.projectStatus(t)
	assert.NotEmpty(t, st["primaryLastModified"])
	assert.NotEmpty(t, st["secondaryLastModified"])
	assert.EqualValues(t, 0, st["lagSeconds"])
	assert.NotEmpty(t, st["lastSuccess"])
	assert.Equal(t, "secondary-missing", st["drift"], "why it was imported")
	assert.Len(t, st["assetsHash"], 64)

	// A later change in the primary that cannot be trained in the secondary
	// (its text is missing there) shows as failed with Azure's error code,
	// once the admin endpoint asks for a check.
	primary.PutDocument("docs", "03.txt", "Northwind in Zürich.")
	seedWith := emulator.SeedProject{Name: testProject, Language: "en", Container: "docs", Entities: []string{"Party"},
		ModelLabel: "m1", DeploymentName: testDeployment,
		Documents: []emulator.SeedDocument{{Name: "03.txt", Text: "Northwind in Zürich.", Labels: nil}}}
	seedWith.Documents[0].Labels = append(seedWith.Documents[0].Labels, emulator.MustLabel("Northwind in Zürich.", "Northwind", "Party"))
	require.NoError(t, primary.Seed(seedWith))

	resp, body := gw.ops(t, http.MethodPost, "/admin/replication/sync", nil) // gateway key: refused
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, string(body))
	resp, body = gw.ops(t, http.MethodPost, "/admin/replication/sync", nil, testAdminKey)
	assert.Equal(t, http.StatusAccepted, resp.StatusCode, string(body))
	eventually(t, "the triggered run to fail on the missing text", func() bool {
		return gw.projectStatus(t)["state"] == "failed"
	})
	st = gw.projectStatus(t)
	lastErr, _ := st["lastError"].(map[string]any)
	require.NotNil(t, lastErr, "failed state carries the error: %v", st)
	assert.NotEmpty(t, lastErr["code"])
	assert.Equal(t, "train", st["stage"])
	assert.Equal(t, "content-changed", st["drift"], "the labels changed, not only the date")

	// Once the text is in the secondary's container, the next check heals it.
	secondary.PutDocument("docs-dr", "03.txt", "Northwind in Zürich.")
	gw.ops(t, http.MethodPost, "/admin/replication/sync", nil, testAdminKey)
	eventually(t, "the retry to bring the project in sync", func() bool {
		return gw.projectStatus(t)["state"] == "in-sync"
	})
}

func TestAdminAPIOffWithoutAdminKey(t *testing.T) {
	gw := startGateway(t, withEnv("GATEWAY_ADMIN_KEY", ""))
	resp, body := gw.ops(t, http.MethodPost, "/admin/replication/sync", nil, testAdminKey)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, string(body))
	assert.True(t, strings.Contains(string(body), `"error"`), "Azure-shaped error: %s", body)
}

// A job-status GET that never answers fails the step within
// UPSTREAM_TIMEOUT per poll instead of holding the project for the step
// timeout (two hours).
func TestReplicationPollThatNeverAnswersFailsTheStep(t *testing.T) {
	primary, secondary := replicationRegions(t, false)
	secondary.SetFault(emulator.Fault{LatencyMS: int(time.Hour.Milliseconds()), Methods: []string{http.MethodGet}, Routes: []string{"importJob"}})
	env := replicationEnv(primary, secondary)
	env["UPSTREAM_TIMEOUT"] = "200ms"
	logs := newTrafficRecord(primary, secondary).newLog()
	// Far shorter than the step timeout: on a worker whose polls are
	// unbounded, this deadline ends the run instead of the poll timeout.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err := replicateEnv(ctx, env, logs)
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "the run lasted until the test's deadline: the hanging poll was not bounded")
	assert.Contains(t, logs.String(), `"state":"failed"`)
	assert.Contains(t, logs.String(), `"stage":"import"`)
	assert.Equal(t, 0, secondary.Calls("train"), "nothing trained after the failed import")
}

// With storage configured, the gateway's worker copies the training
// documents to the secondary's container before importing, and /status and
// /metrics show the documents and the canary's agreement. Each emulated
// region reads its documents from its own storage: one Azurite for both,
// or two, with one account name, as two regions' accounts are two services
// (the secondary's cannot read the primary's blobs: the documents stream).
func TestInGatewayDocumentSyncAndCanary(t *testing.T) {
	for _, tc := range []struct {
		name     string
		two      bool
		streamed float64
	}{{"one service", false, 0}, {"two services", true, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			az := azurite.Start(t)
			dr := az
			if tc.two {
				dr = azurite.Start(t)
			}
			store, err := docsync.NewStore(az.URL, docsync.Options{Key: secret.Secret(az.Key)})
			require.NoError(t, err)
			drStore, err := docsync.NewStore(dr.URL, docsync.Options{Key: secret.Secret(dr.Key)})
			require.NoError(t, err)
			regions := make([]*emulator.Server, 2)
			for i, r := range []struct {
				name, key string
				docs      *docsync.Store
			}{{"westus2", testPrimaryKey, store}, {"eastus", testSecondaryKey, drStore}} {
				regions[i], err = emulator.NewServer(emulator.Options{Name: r.name, Key: r.key, Documents: r.docs})
				require.NoError(t, err)
				t.Cleanup(regions[i].Close)
			}
			primary, secondary := regions[0], regions[1]
			seedTestProject(t, primary, testProject, testDeployment)
			gw := startGatewayWith(t, primary, secondary, withEnv("SECONDARY_CONTAINER_NAME", "docs-dr", "PROJECT_NAMES", testProject,
				"AUTHORING_POSTS_PER_MINUTE", "6000", "REPLICATION_INTERVAL", "1h",
				"PRIMARY_STORAGE_URL", az.URL, "PRIMARY_STORAGE_KEY", az.Key,
				"SECONDARY_STORAGE_URL", dr.URL, "SECONDARY_STORAGE_KEY", dr.Key))

			eventually(t, "the worker to copy documents and project", func() bool {
				return gw.projectStatus(t)["state"] == "in-sync"
			})
			text, found, err := drStore.ReadDocument(t.Context(), "docs-dr", "01.txt")
			require.NoError(t, err)
			assert.True(t, found)
			assert.Equal(t, "Contoso signs the lease in Köln.", text)

			st := gw.projectStatus(t)
			assert.Equal(t, map[string]any{"checked": 2.0, "copied": 2.0, "streamed": tc.streamed, "missing": 0.0}, st["documents"])
			canary, _ := st["canary"].([]any)
			require.Len(t, canary, 1, "%v", st)
			assert.Equal(t, 1.0, canary[0].(map[string]any)["agreement"])
			_, body := gw.ops(t, http.MethodGet, "/status", nil)
			assert.NotContains(t, string(body), azurite.Key)

			_, metrics := gw.ops(t, http.MethodGet, "/metrics", nil)
			assert.Regexp(t, `replication_canary_agreement\{[^}]*deployment="production"[^}]*project="contracts"[^}]*\} 1\n`, string(metrics))
			assert.NotContains(t, gw.Logs.String(), azurite.Key)
		})
	}
}

func TestCanaryFileIsReadOneDocumentALine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "canary.txt")
	require.NoError(t, os.WriteFile(path, []byte("Contoso in Köln.\n\n  Fabrikam in São Paulo.  \n"), 0o600))
	var rc replication.Config
	require.NoError(t, withDocuments(&rc, &config.Config{CanaryFile: path, CanaryDocs: 5, DocumentSync: config.DocumentSyncOff}, nil, nil))
	assert.Equal(t, []string{"Contoso in Köln.", "Fabrikam in São Paulo."}, rc.CanaryTexts)
	assert.Nil(t, rc.Documents)

	require.NoError(t, os.WriteFile(path, []byte("\n \n"), 0o600))
	rc = replication.Config{}
	assert.ErrorContains(t, withDocuments(&rc, &config.Config{CanaryFile: path, CanaryDocs: 5, DocumentSync: config.DocumentSyncOff}, nil, nil), "holds no document")
}
