package gateway

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/internal/secret"
	"nergateway/internal/testkit/azurite"
	"nergateway/internal/testkit/loopback"
	"nergateway/internal/testkit/redistest"
	"nergateway/replication/docsync"
)

// loopbackEnv is a local setup as the demo's: both regions emulated on
// 127.0.0.1 over plain http.
func loopbackEnv(t *testing.T) map[string]string {
	t.Helper()
	primary := testRegion(t, "westus2", testPrimaryKey, 0)
	secondary := testRegion(t, "eastus", testSecondaryKey, 0)
	return map[string]string{
		"GATEWAY_API_KEYS":       "app:" + testGatewayKey,
		"PRIMARY_ENDPOINT":       primary.URL,
		"PRIMARY_RESOURCE_KEY":   testPrimaryKey,
		"SECONDARY_ENDPOINT":     secondary.URL,
		"SECONDARY_RESOURCE_KEY": testSecondaryKey,
		"UPSTREAM_TIMEOUT":       "5s",
	}
}

// checkConfig runs `gateway check-config [-probe]` on env and returns what
// it printed and whether it passed.
func runCheck(t *testing.T, env map[string]string, probe bool) (string, error) {
	t.Helper()
	var out strings.Builder
	err := CheckConfig(t.Context(), func(k string) string { return env[k] }, names(env), probe, &out)
	return out.String(), err
}

func TestCheckConfigPassesOnALoopbackSetup(t *testing.T) {
	env := loopbackEnv(t)
	for _, probe := range []bool{false, true} {
		out, err := runCheck(t, env, probe)
		require.NoError(t, err, "probe %v:\n%s", probe, out)
		assert.Equal(t, "configuration ok\n", out)
	}
}

func TestCheckConfigProbesJobRescueRedis(t *testing.T) {
	redis := redistest.Start(t)
	env := loopbackEnv(t)
	env["JOB_RESCUE"] = redis.URL()
	env["JOB_RESCUE_KEY"] = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
	out, err := runCheck(t, env, true)
	require.NoError(t, err, out)

	wrong := strings.Replace(redis.URL(), redistest.Password, "not-the-password-77", 1)
	require.NotEqual(t, redis.URL(), wrong)
	env["JOB_RESCUE"] = wrong
	out, err = runCheck(t, env, true)
	require.Error(t, err)
	assert.Equal(t, "JOB_RESCUE: Redis refused the credentials in the URL (WRONGPASS)\n", out)
	out, err = runCheck(t, env, false)
	require.NoError(t, err, "only -probe calls Redis:\n%s", out)

	env["JOB_RESCUE"] = strings.Replace(redis.URL(), ":"+redistest.Password+"@", "", 1) // no password at all
	out, err = runCheck(t, env, true)
	require.Error(t, err)
	assert.Equal(t, "JOB_RESCUE: Redis refused the credentials in the URL (NOAUTH)\n", out)

	env["JOB_RESCUE"] = redis.URL()
	redis.Kill()
	out, err = runCheck(t, env, true)
	require.Error(t, err)
	assert.Equal(t, "JOB_RESCUE: Redis unreachable (dial: connect: connection refused)\n", out)
	for _, leak := range []string{redistest.Password, "not-the-password-77", redis.Addr} {
		assert.NotContains(t, out, leak)
	}
}

func TestCheckConfigProbesStorageContainers(t *testing.T) {
	az := azurite.Start(t)
	store, err := docsync.NewStore(az.URL, docsync.Options{Key: secret.Secret(azurite.Key)})
	require.NoError(t, err)
	for _, name := range []string{"primary-docs", "secondary-docs"} {
		_, err := store.Container(name).Create(context.Background(), nil)
		require.NoError(t, err)
	}
	// A valid base64 key that is not the account's.
	wrongKey := "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="
	base := loopbackEnv(t)
	for k, v := range map[string]string{
		"PRIMARY_STORAGE_URL": az.URL, "PRIMARY_STORAGE_KEY": azurite.Key, "PRIMARY_CONTAINER_NAME": "primary-docs",
		"SECONDARY_STORAGE_URL": az.URL, "SECONDARY_STORAGE_KEY": azurite.Key, "SECONDARY_CONTAINER_NAME": "secondary-docs",
	} {
		base[k] = v
	}
	out, err := runCheck(t, base, true)
	require.NoError(t, err, out)
	assert.Equal(t, "configuration ok\n", out)

	for _, tt := range []struct {
		name string
		set  map[string]string
		want string
	}{
		{"wrong primary key", map[string]string{"PRIMARY_STORAGE_KEY": wrongKey},
			"PRIMARY_STORAGE_KEY: the primary storage account refused the key for container primary-docs (403"},
		{"wrong secondary key", map[string]string{"SECONDARY_STORAGE_KEY": wrongKey},
			"SECONDARY_STORAGE_KEY: the secondary storage account refused the key for container secondary-docs (403"},
		{"no such container", map[string]string{"SECONDARY_CONTAINER_NAME": "no-such-docs"},
			"SECONDARY_CONTAINER_NAME: the secondary storage account has no such container (404 ContainerNotFound)"},
		{"storage down", map[string]string{"PRIMARY_STORAGE_URL": "http://" + loopback.FreeAddr(t) + "/devstoreaccount1"},
			"PRIMARY_STORAGE_URL: the primary storage account is unreachable (dial: connect: connection refused)"},
		{"key not base64", map[string]string{"PRIMARY_STORAGE_KEY": "not base64!"},
			"PRIMARY_STORAGE_KEY: is not valid base64"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := maps.Clone(base)
			maps.Copy(env, tt.set)
			out, err := runCheck(t, env, true)
			require.Error(t, err)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			require.Len(t, lines, 1, out)
			assert.Contains(t, lines[0], tt.want)
			for _, leak := range []string{azurite.Key, wrongKey, "not base64!", strings.TrimPrefix(az.URL, "http://")} {
				assert.NotContains(t, out, leak)
			}
		})
	}
}
