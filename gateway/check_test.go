package gateway

import (
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/emulator"
	"nergateway/internal/entra"
	"nergateway/internal/testkit/loopback"
)

func TestVersionInStatusAndMetrics(t *testing.T) {
	gw := startGateway(t)
	_, body := gw.ops(t, http.MethodGet, "/status", nil)
	assert.Contains(t, string(body), `"build": {`)
	assert.Contains(t, string(body), `"version": "dev"`)
	_, body = gw.ops(t, http.MethodGet, "/metrics", nil)
	assert.Regexp(t, `gateway_build_info\{[^}]*version="dev"[^}]*\} 1`, string(body))
}

// checkEnv is a configuration check-config accepts: https regions whose
// CA is given, distinct keys.
func checkEnv(t *testing.T) map[string]string {
	t.Helper()
	primary := testRegion(t, "westus2", testPrimaryKey, 0)
	secondary := testRegion(t, "eastus", testSecondaryKey, 0)
	tlsPrimary, tlsSecondary := newSpyRegion(t, primary, true), newSpyRegion(t, secondary, true)
	return map[string]string{
		"GATEWAY_API_KEYS":       "app:" + testGatewayKey,
		"GATEWAY_ADMIN_KEY":      testAdminKey,
		"PRIMARY_ENDPOINT":       tlsPrimary.URL,
		"PRIMARY_RESOURCE_KEY":   testPrimaryKey,
		"SECONDARY_ENDPOINT":     tlsSecondary.URL,
		"SECONDARY_RESOURCE_KEY": testSecondaryKey,
		"UPSTREAM_CA_FILE":       certFile(t, tlsPrimary.Server),
		"UPSTREAM_TIMEOUT":       "2s",
	}
}

func names(env map[string]string) []string {
	var out []string
	for k := range env {
		out = append(out, k)
	}
	return out
}

func TestCheckConfigAcceptsAGoodConfiguration(t *testing.T) {
	env := checkEnv(t)
	var out strings.Builder
	err := CheckConfig(t.Context(), func(k string) string { return env[k] }, names(env), true, &out)
	require.NoError(t, err, out.String())
	assert.Equal(t, "configuration ok\n", out.String())
}

func TestCheckConfigCatchesEachMistake(t *testing.T) {
	base := checkEnv(t)
	missing := filepath.Join(t.TempDir(), "no-such-file")
	emptyFile := filepath.Join(t.TempDir(), "keys")
	require.NoError(t, os.WriteFile(emptyFile, []byte("# no key yet\n"), 0o600))
	dead := "http://" + loopback.FreeAddr(t) // nothing listens there
	for _, tt := range []struct {
		name  string
		set   map[string]string
		probe bool
		want  string
	}{
		{"secondary equal to primary", map[string]string{"SECONDARY_ENDPOINT": base["PRIMARY_ENDPOINT"] + "/"}, false,
			"SECONDARY_ENDPOINT: the same resource as PRIMARY_ENDPOINT"},
		{"admin key equal to a client key", map[string]string{"GATEWAY_ADMIN_KEY": "oncall:" + testGatewayKey}, false,
			"GATEWAY_ADMIN_KEY: the admin key is also a client key"},
		{"admin key equal to an authoring key", map[string]string{"GATEWAY_AUTHORING_KEYS": testAdminKey}, false,
			"GATEWAY_ADMIN_KEY: the admin key is also a client key"},
		{"plain http primary", map[string]string{"PRIMARY_ENDPOINT": "http://language-westus2.example.com"}, false,
			"PRIMARY_ENDPOINT: plain http"},
		{"plain http secondary", map[string]string{"SECONDARY_ENDPOINT": "http://language-eastus.example.com"}, false,
			"SECONDARY_ENDPOINT: plain http"},
		{"misspelt variable", map[string]string{"PRIMARY_RESOURCE_KY": "x"}, false,
			"PRIMARY_RESOURCE_KY: not a variable the gateway reads (did you mean PRIMARY_RESOURCE_KEY?)"},
		{"stale variable", map[string]string{"GATEWAY_LEGACY_MODE": "on"}, false,
			"GATEWAY_LEGACY_MODE: not a variable the gateway reads"},
		{"replication typo", map[string]string{"REPLICATION_INTERVALL": "1h"}, false,
			"REPLICATION_INTERVALL: not a variable the gateway reads (did you mean REPLICATION_INTERVAL?)"},
		{"missing required", map[string]string{"SECONDARY_RESOURCE_KEY": ""}, false,
			"SECONDARY_RESOURCE_KEY: required but not set"},
		{"key file missing", map[string]string{"GATEWAY_API_KEYS": "", "GATEWAY_API_KEYS_FILE": missing}, false,
			"GATEWAY_API_KEYS_FILE: read key file"},
		{"key file without a key", map[string]string{"GATEWAY_API_KEYS": "", "GATEWAY_API_KEYS_FILE": emptyFile}, false,
			"no key in the file"},
		{"ops port equal to client port", map[string]string{"GATEWAY_ADDR": ":8080", "GATEWAY_OPS_ADDR": ":8080"}, false,
			"GATEWAY_OPS_ADDR: must differ from GATEWAY_ADDR"},
		{"wrong region key (probe)", map[string]string{"SECONDARY_RESOURCE_KEY": "not-the-key"}, true,
			"SECONDARY_RESOURCE_KEY: the secondary region refused the key (401)\n"},
		{"variable one letter short", map[string]string{"PROJECT_NAME": "demo"}, false,
			"PROJECT_NAME: not a variable the gateway reads (did you mean PROJECT_NAMES?)"},
		{"variable without a prefix of ours, misspelt", map[string]string{"LOG_LEVL": "debug"}, false,
			"LOG_LEVL: not a variable the gateway reads (did you mean LOG_LEVEL?)"},
		{"storage key not base64", map[string]string{"PRIMARY_STORAGE_URL": "https://prim.blob.core.windows.net", "PRIMARY_STORAGE_KEY": "not-the-key"}, false,
			"PRIMARY_STORAGE_KEY: is not valid base64"},
		{"plain http storage", map[string]string{"SECONDARY_STORAGE_URL": "http://sec.blob.core.windows.net"}, false,
			"SECONDARY_STORAGE_URL: plain http"},
		{"rescue URL go-redis refuses", map[string]string{"JOB_RESCUE": "redis://:s3cret-pw@127.0.0.1:6379/0?no_such_option=1", "JOB_RESCUE_KEY": testRescueKey}, false,
			"JOB_RESCUE: is not a valid redis:// or rediss:// URL"},
		{"region unreachable (probe)", map[string]string{"PRIMARY_ENDPOINT": dead}, true,
			"PRIMARY_ENDPOINT: unreachable"},
		{"region CA not trusted (probe)", map[string]string{"UPSTREAM_CA_FILE": ""}, true,
			"PRIMARY_ENDPOINT: TLS certificate not trusted"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := maps.Clone(base)
			maps.Copy(env, tt.set)
			var out strings.Builder
			err := CheckConfig(t.Context(), func(k string) string { return env[k] }, names(env), tt.probe, &out)
			require.Error(t, err, "check-config must fail; printed:\n%s", out.String())
			assert.Contains(t, out.String(), tt.want)
			for _, secret := range []string{testGatewayKey, testAdminKey, testPrimaryKey, testSecondaryKey, "not-the-key", "s3cret-pw"} {
				assert.NotContains(t, out.String(), secret)
			}
			for _, u := range []string{base["PRIMARY_ENDPOINT"], base["SECONDARY_ENDPOINT"], dead} {
				assert.NotContains(t, out.String(), strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://"), "no region host")
			}
			for line := range strings.Lines(out.String()) {
				assert.Regexp(t, `^[A-Z_]+[: ]`, line, "each line names a variable")
			}
		})
	}
}

// entraRegions starts two emulated regions that accept only tokens of a
// local Entra ID authority (whose tokens live an hour, or lifetime), and
// points azidentity's environment credential at it (azidentity reads
// AZURE_* from the process environment).
func entraRegions(t *testing.T, secret string, lifetime ...time.Duration) (issuer *emulator.TokenIssuer, env map[string]string, regions []*emulator.Server) {
	t.Helper()
	issuer = emulator.NewTokenIssuer("tenant-e2e", "client-e2e", "client-secret-e2e-77c1", entra.Scope, append(lifetime, time.Hour)[0])
	t.Cleanup(issuer.Close)
	var urls []string
	for _, name := range []string{"westus2", "eastus"} {
		em, err := emulator.NewServer(emulator.Options{Name: name, BearerTokens: issuer.Valid})
		require.NoError(t, err)
		t.Cleanup(em.Close)
		seedTestProject(t, em, testProject, testDeployment)
		urls = append(urls, em.URL)
		regions = append(regions, em)
	}
	caFile := filepath.Join(t.TempDir(), "authority-ca.pem")
	require.NoError(t, os.WriteFile(caFile, issuer.CertificatePEM(), 0o600))
	for k, v := range map[string]string{"AZURE_AUTHORITY_HOST": issuer.URL, "AZURE_TENANT_ID": issuer.TenantID,
		"AZURE_CLIENT_ID": issuer.ClientID, "AZURE_CLIENT_SECRET": secret, "AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential"} {
		t.Setenv(k, v)
	}
	return issuer, map[string]string{
		"GATEWAY_API_KEYS": testGatewayKey, "PRIMARY_ENDPOINT": urls[0], "SECONDARY_ENDPOINT": urls[1],
		"PRIMARY_AUTH": "entra", "SECONDARY_AUTH": "entra", "UPSTREAM_CA_FILE": caFile, "UPSTREAM_TIMEOUT": "5s",
		"AZURE_AUTHORITY_HOST": issuer.URL,
	}, regions
}

func TestCheckConfigProbesWithEntra(t *testing.T) {
	issuer, env, _ := entraRegions(t, "client-secret-e2e-77c1")
	var out strings.Builder
	err := CheckConfig(t.Context(), func(k string) string { return env[k] }, nil, true, &out)
	require.NoError(t, err, "the token was accepted (plain http to loopback regions is fine):\n%s", out.String())
	assert.Equal(t, "configuration ok\n", out.String())
	assert.Equal(t, 1, issuer.TokenRequests(), "one token for both regions")

	t.Setenv("AZURE_CLIENT_SECRET", "wrong-secret-0d0d")
	out.Reset()
	require.Error(t, CheckConfig(t.Context(), func(k string) string { return env[k] }, nil, true, &out))
	assert.Contains(t, out.String(), "PRIMARY_AUTH: no Microsoft Entra ID token")

	// A token the regions do not accept (another authority's): the line
	// names the variable that chose Entra ID, not the endpoint.
	other := emulator.NewTokenIssuer("tenant-e2e", "client-e2e", "client-secret-e2e-77c1", entra.Scope, time.Hour)
	t.Cleanup(other.Close)
	t.Setenv("AZURE_CLIENT_SECRET", "client-secret-e2e-77c1")
	t.Setenv("AZURE_AUTHORITY_HOST", other.URL)
	env["AZURE_AUTHORITY_HOST"] = other.URL
	out.Reset()
	require.Error(t, CheckConfig(t.Context(), func(k string) string { return env[k] }, nil, true, &out))
	assert.Contains(t, out.String(), "PRIMARY_AUTH: the primary region refused the Microsoft Entra ID token (401")
	assert.Contains(t, out.String(), "SECONDARY_AUTH: the secondary region refused the Microsoft Entra ID token (401")
	assert.Equal(t, 1, other.TokenRequests(), "one token for both regions")
	assert.NotContains(t, out.String(), "wrong-secret-0d0d")
}

// TestEntraEndToEnd serves with PRIMARY_AUTH=SECONDARY_AUTH=entra in front
// of regions that refuse keys: client calls, probes and the replication
// worker all authenticate with the token of azidentity's real
// client-secret flow, fetched once and shared.
func TestEntraEndToEnd(t *testing.T) {
	issuer, env, regions := entraRegions(t, "client-secret-e2e-77c1")
	gw := startEntraGateway(t, env, regions, "PROJECT_NAMES", testProject)
	eventually(t, "a token (readiness)", gw.ready)
	st := gw.wait(t, gw.submit(t, probeText))
	assert.Equal(t, "succeeded", string(st.Status))
	eventually(t, "probes to succeed with the token", func() bool {
		r := gw.regionStatus(t, "eastus")
		probe, _ := r["lastProbe"].(map[string]any)
		return probe != nil && probe["healthy"] == true
	})
	eventually(t, "a replication check with the token", func() bool {
		_, body := gw.ops(t, http.MethodGet, "/status", nil)
		return strings.Contains(string(body), `"state": "in-sync"`) // the worker read both regions' projects
	})
	assert.Equal(t, 1, issuer.TokenRequests(), "one token for the proxy, the probes and the worker")
}
