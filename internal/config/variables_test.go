package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnknownVariablesWarnWithTheNameMeant(t *testing.T) {
	for name, want := range map[string]string{
		"PROJECT_NAME":          "PROJECT_NAME: not a variable the gateway reads (did you mean PROJECT_NAMES?)",
		"REPLICATION_INTERVALL": "REPLICATION_INTERVALL: not a variable the gateway reads (did you mean REPLICATION_INTERVAL?)",
		"LOG_LEVL":              "LOG_LEVL: not a variable the gateway reads (did you mean LOG_LEVEL?)", // no prefix of ours: two edits away
		"UPSTREM_TIMEOUT":       "UPSTREM_TIMEOUT: not a variable the gateway reads (did you mean UPSTREAM_TIMEOUT?)",
		"project_names":         "project_names: not a variable the gateway reads (did you mean PROJECT_NAMES?)",
		"GOMEMLIMT":             "GOMEMLIMT: not a variable the gateway reads (did you mean GOMEMLIMIT?)",
		"JOB_RESCUE_TTLS":       "JOB_RESCUE_TTLS: not a variable the gateway reads (did you mean JOB_RESCUE_TTL?)",
		"GATEWAY_LEGACY_MODE":   "GATEWAY_LEGACY_MODE: not a variable the gateway reads",
		"DOCUMENT_SYNC_MODE":    "DOCUMENT_SYNC_MODE: not a variable the gateway reads",
	} {
		assert.Equal(t, []string{want}, UnknownVariables([]string{name}), name)
	}
}

func TestUnknownVariablesLeaveOtherProgramsAlone(t *testing.T) {
	var known []string
	for _, v := range Known() {
		known = append(known, v.Name)
	}
	assert.Empty(t, UnknownVariables(known), "every known variable")
	assert.Empty(t, UnknownVariables(Variables()), "every field's variable")
	assert.Empty(t, UnknownVariables([]string{
		"PATH", "HOME", "HOSTNAME", "LOGNAME", "LANG", "SHLVL", "GOOS", "GOPATH", "GOFLAGS", "GOCACHE", "GOTOOLCHAIN",
		"OTEL_SERVICE_NAME", "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE",
		"http_proxy", "NO_PROXY", "GOPROXY", "SSL_CERT_DIR", "JOB_NAME", "KUBERNETES_SERVICE_HOST", "NERGATEWAY_SERVICE_HOST", "NERGATEWAY_PORT",
	}))
}

func TestEveryVariableHasOneFeature(t *testing.T) {
	fields := map[string]bool{}
	for _, n := range Variables() {
		fields[n] = true
	}
	seen := map[string]bool{}
	for _, n := range append(append([]string{}, serveOnly...), replicationOnly...) {
		assert.True(t, fields[n], "%s is listed by feature but no Config field reads it", n)
		assert.False(t, seen[n], "%s is listed twice", n)
		seen[n] = true
	}
	for _, want := range []struct {
		name    string
		feature Feature
	}{
		{"PRIMARY_STORAGE_URL", FeatureReplication}, {"REPLICATION_CANARY_DOCS", FeatureReplication},
		{"JOB_RESCUE", FeatureServe}, {"GATEWAY_ADDR", FeatureServe},
		{"PRIMARY_RESOURCE_KEY", FeatureCommon}, {"GATEWAY_API_KEYS_FILE", FeatureCommon}, // Load needs it for every command
		{"AZURE_CLIENT_ID", FeatureCommon}, {"OTEL_SERVICE_NAME", FeatureCommon}, {"GOMEMLIMIT", FeatureProcess},
	} {
		v, ok := Lookup(want.name)
		require.True(t, ok, want.name)
		assert.Equal(t, want.feature, v.Feature, want.name)
	}
	_, ok := Lookup("PROJECT_NAME")
	assert.False(t, ok)
}

func TestPlainHTTPIsAMistakeOnlyAcrossTheNetwork(t *testing.T) {
	for endpoint, flagged := range map[string]bool{
		"http://127.0.0.1:5001":               false,
		"http://127.8.9.10:5001":              false,
		"http://[::1]:5001":                   false,
		"http://localhost:5001":               false,
		"http://LOCALHOST":                    false,
		"https://language.example.com":        false,
		"http://language.example.com":         true,
		"http://10.0.0.7:5001":                true,
		"http://127.0.0.1.example.com:5001":   true,
		"http://localhost.attacker.example:1": true,
	} {
		m := minimal()
		m["PRIMARY_ENDPOINT"] = endpoint
		m["PRIMARY_STORAGE_URL"] = endpoint
		cfg, err := Load(getenv(m))
		require.NoError(t, err, endpoint)
		lint := cfg.Lint()
		if !flagged {
			assert.Empty(t, lint, endpoint)
			continue
		}
		require.Len(t, lint, 2, endpoint)
		assert.Contains(t, lint[0], "PRIMARY_ENDPOINT: plain http", endpoint)
		assert.Contains(t, lint[1], "PRIMARY_STORAGE_URL: plain http", endpoint)
	}
}

func TestStorageKeyMustBeBase64(t *testing.T) {
	m := minimal()
	m["PRIMARY_STORAGE_URL"] = "https://prim.blob.core.windows.net"
	m["PRIMARY_STORAGE_KEY"] = "not base64!"
	m["SECONDARY_STORAGE_KEY"] = "c2VjcmV0"
	_, err := Load(getenv(m))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PRIMARY_STORAGE_KEY: is not valid base64")
	assert.NotContains(t, err.Error(), "SECONDARY_STORAGE_KEY")
	assert.NotContains(t, err.Error(), "not base64!", "the key is never repeated")
}

func TestCanaryOffSaysWhy(t *testing.T) {
	for _, tt := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"PRIMARY_STORAGE_URL": "https://prim.blob.core.windows.net"}, ""},
		{map[string]string{"REPLICATION_CANARY_FILE": "/etc/canary.txt"}, ""},
		{map[string]string{}, "no documents: neither PRIMARY_STORAGE_URL nor REPLICATION_CANARY_FILE is set"},
		{map[string]string{"REPLICATION_CANARY_FILE": "/etc/canary.txt", "REPLICATION_CANARY_DOCS": "0"}, "REPLICATION_CANARY_DOCS=0"},
	} {
		m := minimal()
		for k, v := range tt.set {
			m[k] = v
		}
		cfg, err := Load(getenv(m))
		require.NoError(t, err, tt.set)
		assert.Equal(t, tt.want, cfg.CanaryOff(), tt.set)
	}
}
