package gateway

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/internal/testkit/loopback"
)

const authoringListPath = "/language/authoring/analyze-text/projects?api-version=2022-05-01"

func TestRuntimeKeyMayNotCallAuthoring(t *testing.T) {
	gw := startGateway(t)
	for _, m := range []string{http.MethodGet, http.MethodPatch, http.MethodDelete} {
		path := "/language/authoring/analyze-text/projects/" + testProject + "?api-version=2022-05-01"
		if m == http.MethodGet {
			path = authoringListPath
		}
		before := totalCalls(gw.Primary) + totalCalls(gw.Secondary)
		resp, body := gw.do(t, m, path, nil) // the runtime key
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s %s: %s", m, path, body)
		assert.Equal(t, api.CodeFrontDoorUnauthorized, assertAzureError(t, body).Code)
		assert.Equal(t, before, totalCalls(gw.Primary)+totalCalls(gw.Secondary), "no region was called")
	}
	resp, body := gw.do(t, http.MethodGet, authoringListPath, nil, testAuthorKey)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "an authoring key may: %s", body)
	resp, body = gw.do(t, http.MethodPost, submitPath, submitBody(probeText), testAuthorKey)
	assert.Equal(t, http.StatusAccepted, resp.StatusCode, "an authoring key may call runtime routes too: %s", body)
}

func TestAuthoringOffWithoutAuthoringKeys(t *testing.T) {
	gw := startGateway(t, withEnv("GATEWAY_AUTHORING_KEYS", ""))
	for _, key := range []string{testGatewayKey, testAuthorKey, testAdminKey} {
		resp, body := gw.do(t, http.MethodGet, authoringListPath, nil, key)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s", body)
	}
}

// writeKeyFile replaces a key file the way an operator (or the kubelet)
// should: a new file renamed over the old one.
func writeKeyFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// TestKeyFileRotation rotates a client key through GATEWAY_API_KEYS_FILE
// while clients keep calling: the new key starts working, the old one stops
// once removed, and no request with a key the file holds throughout fails.
func TestKeyFileRotation(t *testing.T) {
	dir := t.TempDir()
	keysFile := filepath.Join(dir, "api-keys")
	adminFile := filepath.Join(dir, "admin-key")
	const oldKey, newKey = "rotating-old-key-8e21", "rotating-new-key-4c7d"
	writeKeyFile(t, keysFile, "app-2025:"+oldKey+"\n")
	writeKeyFile(t, adminFile, "oncall:"+testAdminKey+"\n")
	gw := startGateway(t, withEnv("GATEWAY_API_KEYS", "", "GATEWAY_API_KEYS_FILE", keysFile,
		"GATEWAY_ADMIN_KEY", "", "GATEWAY_ADMIN_KEY_FILE", adminFile))

	// A job id this gateway never issued: the gateway answers 404 itself
	// after the key check, so 401 means the key was refused and nothing
	// else is in play.
	probe := "/language/analyze-text/jobs/not-a-job?api-version=2023-04-01"
	status := func(key string) int {
		resp, _ := gw.do(t, http.MethodGet, probe, nil, key)
		return resp.StatusCode
	}
	require.Equal(t, http.StatusNotFound, status(oldKey))
	require.Equal(t, http.StatusUnauthorized, status(newKey))

	// Clients with the old key keep calling through the first step.
	var failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hammer := func(key string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if status(key) != http.StatusNotFound {
					failures.Add(1)
				}
			}
		}()
	}
	hammer(oldKey)
	writeKeyFile(t, keysFile, "# both keys while applications move\napp-2026:"+newKey+"\napp-2025:"+oldKey+"\n")
	eventually(t, "the new key to work", func() bool { return status(newKey) == http.StatusNotFound })
	close(stop)
	wg.Wait()
	assert.Zero(t, failures.Load(), "a request with the old key failed while both were valid")

	stop = make(chan struct{})
	hammer(newKey)
	writeKeyFile(t, keysFile, "app-2026:"+newKey+"\n")
	eventually(t, "the old key to stop working", func() bool { return status(oldKey) == http.StatusUnauthorized })
	close(stop)
	wg.Wait()
	assert.Zero(t, failures.Load(), "a request with the new key failed during the rotation")

	// The admin key rotates the same way.
	const newAdmin = "admin-key-rotated-77aa"
	writeKeyFile(t, adminFile, "oncall:"+newAdmin+"\n")
	eventually(t, "the new admin key to work", func() bool {
		resp, _ := gw.ops(t, http.MethodPost, "/admin/replication/sync", nil, newAdmin)
		return resp.StatusCode != http.StatusUnauthorized
	})

	logs := gw.Logs.String()
	assert.Contains(t, logs, "app-2026", "reloads are logged by key name")
	for _, k := range []string{oldKey, newKey, newAdmin} {
		assert.NotContains(t, logs, k)
	}
}

func TestAdminKeyMustNotBeAClientKey(t *testing.T) {
	for _, env := range []map[string]string{
		{"GATEWAY_ADMIN_KEY": "ops:" + testGatewayKey},
		{"GATEWAY_ADMIN_KEY": testAuthorKey},
	} {
		addrs := loopback.FreeAddrs(t, 2)
		e := map[string]string{
			"GATEWAY_ADDR": addrs[0], "GATEWAY_OPS_ADDR": addrs[1], "GATEWAY_API_KEYS": testGatewayKey,
			"GATEWAY_AUTHORING_KEYS": testAuthorKey, "PRIMARY_ENDPOINT": "http://127.0.0.1:1", "PRIMARY_RESOURCE_KEY": testPrimaryKey,
			"SECONDARY_ENDPOINT": "http://127.0.0.1:2", "SECONDARY_RESOURCE_KEY": testSecondaryKey,
		}
		for k, v := range env {
			e[k] = v
		}
		err := serveEnv(t.Context(), e, io.Discard)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "admin key is also a client key")
		assert.NotContains(t, err.Error(), testGatewayKey)
	}
}
