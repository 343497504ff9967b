package config

import (
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func minimal() map[string]string {
	return map[string]string{
		"GATEWAY_API_KEYS":       "key-a, key-b",
		"PRIMARY_ENDPOINT":       "https://primary.example.com/",
		"PRIMARY_RESOURCE_KEY":   "pk",
		"SECONDARY_ENDPOINT":     "http://127.0.0.1:5002",
		"SECONDARY_RESOURCE_KEY": "sk",
	}
}

func TestDefaultsFollowDesign(t *testing.T) {
	cfg, err := Load(getenv(minimal()))
	require.NoError(t, err)
	assert.Equal(t, ":8080", cfg.Addr)
	assert.Equal(t, "primary", cfg.PrimaryName)
	assert.Equal(t, "secondary", cfg.SecondaryName)
	assert.Equal(t, 24*time.Hour, cfg.ReplicationInterval)
	assert.True(t, cfg.ReplicationEnabled)
	assert.Equal(t, "2022-05-01", cfg.AuthoringAPIVersion)
	assert.Equal(t, 10*time.Second, cfg.UpstreamTimeout)
	assert.Equal(t, uint32(5), cfg.BreakerFailures)
	assert.Equal(t, 30*time.Second, cfg.BreakerOpenTimeout)
	assert.Equal(t, 10*time.Second, cfg.HealthProbeInterval)
	assert.Equal(t, ByteSize(8<<20), cfg.MaxRequestBytes)
	assert.Equal(t, 1024, cfg.MaxInflight)
	assert.Equal(t, ByteSize(128<<20), cfg.MaxBufferedBytes)
	assert.Equal(t, 10*time.Second, cfg.BodyTimeout)
	assert.Equal(t, 60*time.Second, cfg.RegionMaxPark)
	assert.Zero(t, cfg.DrainDelay)
	assert.Empty(t, cfg.AdminKeys)
	assert.Empty(t, cfg.AuthoringKeys, "authoring through the gateway is off by default")
	assert.Nil(t, cfg.PublicURL)
	assert.Empty(t, cfg.Projects)
	require.Len(t, cfg.APIKeys, 2)
	assert.Equal(t, "key-b", strings.TrimSpace(cfg.APIKeys[1].Secret.Reveal()))
	assert.Equal(t, "https://primary.example.com", cfg.PrimaryEndpoint.String(), "trailing slash dropped")
	assert.Equal(t, "127.0.0.1:5002", cfg.SecondaryEndpoint.Host)
}

func TestEverySettingIsRead(t *testing.T) {
	m := minimal()
	m["GATEWAY_ADDR"] = "127.0.0.1:9000"
	m["GATEWAY_ADMIN_KEY"] = "admin"
	m["GATEWAY_PUBLIC_URL"] = "https://ner.example.com"
	m["SECONDARY_PROJECT_NAMES"] = "demo:demo-dr, other:other2"
	m["SECONDARY_DEPLOYMENT_NAMES"] = "production:prod"
	m["PROJECT_NAMES"] = "demo,other"
	m["REPLICATION_INTERVAL"] = "1h"
	m["REPLICATION_ENABLED"] = "false"
	m["MAX_REQUEST_BYTES"] = "512KiB"
	m["BREAKER_CONSECUTIVE_FAILURES"] = "3"
	m["GATEWAY_MAX_INFLIGHT"] = "64"
	m["GATEWAY_DRAIN_DELAY"] = "5s"
	m["GATEWAY_MAX_BUFFERED_BYTES"] = "64MiB"
	m["GATEWAY_BODY_TIMEOUT"] = "3s"
	m["REGION_MAX_PARK"] = "2m"
	cfg, err := Load(getenv(m))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9000", cfg.Addr)
	assert.Equal(t, "admin", cfg.AdminKeys[0].Secret.Reveal())
	assert.Equal(t, "ner.example.com", cfg.PublicURL.Host)
	assert.Equal(t, map[string]string{"demo": "demo-dr", "other": "other2"}, cfg.ProjectNames)
	assert.Equal(t, map[string]string{"production": "prod"}, cfg.DeploymentNames)
	assert.Equal(t, []string{"demo", "other"}, cfg.Projects)
	assert.Equal(t, time.Hour, cfg.ReplicationInterval)
	assert.False(t, cfg.ReplicationEnabled)
	assert.Equal(t, ByteSize(512<<10), cfg.MaxRequestBytes)
	assert.Equal(t, uint32(3), cfg.BreakerFailures)
	assert.Equal(t, 64, cfg.MaxInflight)
	assert.Equal(t, 5*time.Second, cfg.DrainDelay)
	assert.Equal(t, ByteSize(64<<20), cfg.MaxBufferedBytes)
	assert.Equal(t, 3*time.Second, cfg.BodyTimeout)
	assert.Equal(t, 2*time.Minute, cfg.RegionMaxPark)
}

func TestBudgetTimeoutAndParkAreChecked(t *testing.T) {
	for v, want := range map[[2]string]string{
		{"GATEWAY_MAX_BUFFERED_BYTES", "0"}:    "GATEWAY_MAX_BUFFERED_BYTES: must be positive",
		{"GATEWAY_MAX_BUFFERED_BYTES", "8MiB"}: "GATEWAY_MAX_BUFFERED_BYTES: 8388608 is below twice MAX_REQUEST_BYTES",
		{"GATEWAY_BODY_TIMEOUT", "0s"}:         "GATEWAY_BODY_TIMEOUT: must be a positive duration",
		{"REGION_MAX_PARK", "-1s"}:             "REGION_MAX_PARK: must be a positive duration",
	} {
		m := minimal()
		m[v[0]] = v[1]
		_, err := Load(getenv(m))
		require.Error(t, err, v)
		assert.Contains(t, err.Error(), want)
	}
}

func TestBadConfigGivesOneLinePerProblem(t *testing.T) {
	m := map[string]string{
		"PRIMARY_ENDPOINT":        "primary.example.com",
		"PRIMARY_RESOURCE_KEY":    "pk",
		"SECONDARY_ENDPOINT":      "ftp://x",
		"SECONDARY_RESOURCE_KEY":  "sk",
		"SECONDARY_PROJECT_NAMES": "demo",
		"UPSTREAM_TIMEOUT":        "soon",
		"MAX_REQUEST_BYTES":       "lots",
	}
	_, err := Load(getenv(m))
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	msg := err.Error()
	for _, want := range []string{"GATEWAY_API_KEYS", "PRIMARY_ENDPOINT", "SECONDARY_ENDPOINT", "SECONDARY_PROJECT_NAMES", "UPSTREAM_TIMEOUT", "MAX_REQUEST_BYTES"} {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, want) {
				n++
			}
		}
		assert.Equal(t, 1, n, "want exactly one line naming %s in:\n%s", want, msg)
	}
	assert.NotContains(t, msg, "pk")
	assert.NotContains(t, msg, "sk\"")
}

func TestSecretsNeverInErrors(t *testing.T) {
	m := minimal()
	m["PRIMARY_RESOURCE_KEY"] = "super-secret-primary"
	m["BREAKER_CONSECUTIVE_FAILURES"] = "0"
	_, err := Load(getenv(m))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "super-secret-primary")
}

func TestNameMapRejectsMalformed(t *testing.T) {
	for _, raw := range []string{"a", "a:", ":b", "a:b,a:c", "a b:c", "a:b/c"} {
		_, err := parseNameMap(raw)
		assert.Error(t, err, raw)
	}
	m, err := parseNameMap(" a:b , c.d:e_f ")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "b", "c.d": "e_f"}, m)
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"8MiB": 8 << 20, "1048576": 1 << 20, "1KB": 1000, "2GiB": 2 << 30, "10B": 10} {
		var b ByteSize
		require.NoError(t, b.UnmarshalText([]byte(in)), in)
		assert.Equal(t, want, b, in)
	}
	for _, in := range []string{"", "MiB", "-1", "1.5MiB", "1TiB"} {
		var b ByteSize
		assert.Error(t, b.UnmarshalText([]byte(in)), in)
	}
}

func TestVariablesCoverDesignTable(t *testing.T) {
	design := []string{"GATEWAY_ADDR", "GATEWAY_API_KEYS", "GATEWAY_ADMIN_KEY", "GATEWAY_PUBLIC_URL",
		"PRIMARY_NAME", "SECONDARY_NAME", "PRIMARY_ENDPOINT", "PRIMARY_RESOURCE_KEY", "SECONDARY_ENDPOINT",
		"SECONDARY_RESOURCE_KEY", "PRIMARY_CONTAINER_NAME", "SECONDARY_CONTAINER_NAME", "SECONDARY_PROJECT_NAMES",
		"SECONDARY_DEPLOYMENT_NAMES", "PROJECT_NAMES", "REPLICATION_INTERVAL", "REPLICATION_ENABLED",
		"AUTHORING_API_VERSION", "UPSTREAM_TIMEOUT", "BREAKER_CONSECUTIVE_FAILURES", "BREAKER_OPEN_TIMEOUT",
		"HEALTH_PROBE_INTERVAL", "MAX_REQUEST_BYTES", "REGION_MAX_PARK", "GATEWAY_MAX_BUFFERED_BYTES",
		"GATEWAY_BODY_TIMEOUT", "GATEWAY_MAX_INFLIGHT"}
	assert.Subset(t, Variables(), design)
}

func TestMaxInflightMustBePositive(t *testing.T) {
	for _, v := range []string{"0", "-5"} {
		m := minimal()
		m["GATEWAY_MAX_INFLIGHT"] = v
		_, err := Load(getenv(m))
		require.Error(t, err, v)
		assert.Contains(t, err.Error(), "GATEWAY_MAX_INFLIGHT: must be at least 1")
	}
}

func TestKeyScopes(t *testing.T) {
	m := minimal()
	m["GATEWAY_API_KEYS"] = "app1:key-a,key-b"
	m["GATEWAY_AUTHORING_KEYS"] = "ops:key-c"
	m["GATEWAY_ADMIN_KEY"] = "oncall:key-d"
	cfg, err := Load(getenv(m))
	require.NoError(t, err)
	require.Len(t, cfg.APIKeys, 2)
	assert.Equal(t, "app1", cfg.APIKeys[0].Name)
	assert.Equal(t, "key-a", cfg.APIKeys[0].Secret.Reveal())
	assert.Equal(t, "ops", cfg.AuthoringKeys[0].Name)
	assert.Equal(t, "oncall", cfg.AdminKeys[0].Name)

	for _, tt := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"GATEWAY_API_KEYS": ""}, "GATEWAY_API_KEYS: required but not set (or GATEWAY_API_KEYS_FILE)"},
		{map[string]string{"GATEWAY_API_KEYS_FILE": "/run/keys/api"}, "GATEWAY_API_KEYS: set it or GATEWAY_API_KEYS_FILE, not both"},
		{map[string]string{"GATEWAY_AUTHORING_KEYS": "k", "GATEWAY_AUTHORING_KEYS_FILE": "/f"}, "GATEWAY_AUTHORING_KEYS: set it or GATEWAY_AUTHORING_KEYS_FILE, not both"},
		{map[string]string{"GATEWAY_ADMIN_KEY": "k", "GATEWAY_ADMIN_KEY_FILE": "/f"}, "GATEWAY_ADMIN_KEY: set it or GATEWAY_ADMIN_KEY_FILE, not both"},
		{map[string]string{"GATEWAY_API_KEYS": "a:secret-1,a:secret-2"}, `GATEWAY_API_KEYS: entry 2: name "a" used twice`},
		{map[string]string{"GATEWAY_AUTHORING_KEYS": "ops:"}, `GATEWAY_AUTHORING_KEYS: entry 1: key "ops" is empty`},
	} {
		m := minimal()
		for k, v := range tt.set {
			m[k] = v
		}
		_, err := Load(getenv(m))
		require.Error(t, err, tt.set)
		assert.Contains(t, err.Error(), tt.want)
		assert.NotContains(t, err.Error(), "secret-1", "keys are never repeated")
	}

	m = minimal()
	delete(m, "GATEWAY_API_KEYS")
	m["GATEWAY_API_KEYS_FILE"] = "/run/keys/api"
	cfg, err = Load(getenv(m))
	require.NoError(t, err, "a key file alone is enough; cmd/gateway reads it")
	assert.Equal(t, "/run/keys/api", cfg.APIKeysFile)
}

// KeyScopes is the one list the wiring builds its key sets from: each
// scope with its variables and what they hold, runtime first.
func TestKeyScopesNameEachScopesVariablesAndKeys(t *testing.T) {
	m := minimal()
	m["GATEWAY_AUTHORING_KEYS_FILE"] = "/run/keys/authoring"
	m["GATEWAY_ADMIN_KEY"] = "oncall:admin-secret"
	cfg, err := Load(getenv(m))
	require.NoError(t, err)
	require.Len(t, cfg.KeyScopes, 3)
	runtime, authoring, admin := cfg.KeyScopes[0], cfg.KeyScopes[1], cfg.KeyScopes[2]
	assert.Equal(t, []string{ScopeRuntime, "GATEWAY_API_KEYS", "GATEWAY_API_KEYS_FILE", ""},
		[]string{runtime.Name, runtime.Variable, runtime.FileVariable, runtime.File})
	assert.Equal(t, cfg.APIKeys, runtime.Keys)
	assert.NotEmpty(t, runtime.Keys)
	assert.Equal(t, []string{ScopeAuthoring, "GATEWAY_AUTHORING_KEYS", "GATEWAY_AUTHORING_KEYS_FILE", "/run/keys/authoring"},
		[]string{authoring.Name, authoring.Variable, authoring.FileVariable, authoring.File})
	assert.Empty(t, authoring.Keys)
	assert.Equal(t, []string{ScopeAdmin, "GATEWAY_ADMIN_KEY", "GATEWAY_ADMIN_KEY_FILE", ""},
		[]string{admin.Name, admin.Variable, admin.FileVariable, admin.File})
	require.Len(t, admin.Keys, 1)
	assert.Equal(t, "oncall", admin.Keys[0].Name)
}

func TestUnknownVariablesComeFromTheStruct(t *testing.T) {
	assert.Empty(t, UnknownVariables(Variables()), "every field's variable is known")
	assert.Empty(t, UnknownVariables([]string{"PATH", "HOME", "OTEL_SERVICE_NAME", "GOMEMLIMIT"}), "other prefixes are not ours to judge")
	assert.Equal(t, []string{"GATEWAY_API_KEY: not a variable the gateway reads (did you mean GATEWAY_API_KEYS?)"},
		UnknownVariables([]string{"GATEWAY_API_KEY"}))
}

func TestDocumentSyncAndCanary(t *testing.T) {
	cfg, err := Load(getenv(minimal()))
	require.NoError(t, err)
	assert.Equal(t, DocumentSyncOff, cfg.DocumentSync, "off without storage URLs")
	assert.Equal(t, 5, cfg.CanaryDocs)
	assert.Equal(t, 0.9, cfg.CanaryMinAgreement)
	assert.Equal(t, time.Minute, cfg.ReplicationRetryMin)

	m := minimal()
	m["PRIMARY_STORAGE_URL"] = "https://prim.blob.core.windows.net/?sv=2024&sig=SASSECRET"
	m["SECONDARY_STORAGE_URL"] = "https://sec.blob.core.windows.net"
	m["SECONDARY_STORAGE_KEY"] = "c2VjcmV0"
	cfg, err = Load(getenv(m))
	require.NoError(t, err)
	assert.Equal(t, DocumentSyncCopy, cfg.DocumentSync, "copy when both URLs are set")
	assert.NotContains(t, cfg.PrimaryStorageURL.String(), "SASSECRET", "a storage URL prints redacted")

	m["DOCUMENT_SYNC"] = "Verify"
	cfg, err = Load(getenv(m))
	require.NoError(t, err)
	assert.Equal(t, DocumentSyncVerify, cfg.DocumentSync)

	bad := minimal()
	bad["DOCUMENT_SYNC"] = "copy"
	bad["PRIMARY_STORAGE_URL"] = "ftp://x/?sig=SASSECRET"
	bad["REPLICATION_CANARY_DOCS"] = "26"
	bad["REPLICATION_CANARY_MIN_AGREEMENT"] = "1.5"
	_, err = Load(getenv(bad))
	require.Error(t, err)
	for _, want := range []string{"DOCUMENT_SYNC: copy needs", "PRIMARY_STORAGE_URL: is not", "REPLICATION_CANARY_DOCS", "REPLICATION_CANARY_MIN_AGREEMENT"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), "SASSECRET")
	bad = minimal()
	bad["DOCUMENT_SYNC"] = "mirror"
	_, err = Load(getenv(bad))
	assert.ErrorContains(t, err, `DOCUMENT_SYNC: "mirror" is not one of off, verify, copy`)
}

func TestJobRescue(t *testing.T) {
	key := "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=" // 32 bytes of 0x01
	cfg, err := Load(getenv(minimal()))
	require.NoError(t, err)
	assert.False(t, cfg.RescueOn(), "rescue is off by default")
	assert.Equal(t, 60*time.Second, cfg.JobRescueAfter)
	assert.Equal(t, 24*time.Hour, cfg.JobRescueTTL)

	for _, backend := range []string{"memory", "redis://:pw@127.0.0.1:6379/0", "rediss://user:pw@redis.example:6380"} {
		m := minimal()
		m["JOB_RESCUE"], m["JOB_RESCUE_KEY"] = backend, key
		cfg, err := Load(getenv(m))
		require.NoError(t, err, backend)
		assert.True(t, cfg.RescueOn())
		assert.Len(t, cfg.JobRescueKeys, 1)
	}

	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"JOB_RESCUE": "memory"}, "JOB_RESCUE_KEY: required when JOB_RESCUE is on"},
		{map[string]string{"JOB_RESCUE": "memory", "JOB_RESCUE_KEY": "c2hvcnQ="}, "JOB_RESCUE_KEY: key 1 is 5 bytes"},
		{map[string]string{"JOB_RESCUE": "memcached://x", "JOB_RESCUE_KEY": key}, "JOB_RESCUE: must be off, memory, or a redis://"},
		{map[string]string{"JOB_RESCUE": "redis://:s3cret-pw@host:port", "JOB_RESCUE_KEY": key}, "JOB_RESCUE: is not a valid redis://"},
		{map[string]string{"JOB_RESCUE": "redis://:s3cret-pw@host:6379/zero", "JOB_RESCUE_KEY": key}, "JOB_RESCUE: is not a valid redis://"},
		{map[string]string{"JOB_RESCUE_AFTER": "0s"}, "JOB_RESCUE_AFTER: must be a positive duration"},
		{map[string]string{"JOB_RESCUE_TTL": "-1h"}, "JOB_RESCUE_TTL: must be a positive duration"},
	} {
		m := minimal()
		maps.Copy(m, tc.env)
		_, err := Load(getenv(m))
		require.Error(t, err, tc.env)
		assert.Contains(t, err.Error(), tc.want)
		assert.NotContains(t, err.Error(), "s3cret-pw", "an error quotes the Redis password")
	}
}

// The soft memory limit the gateway sets without GOMEMLIMIT: the byte
// budget, the rescue store's bound when it lives in this process, and the
// allowance for everything else.
func TestMemoryLimitFollowsTheBudget(t *testing.T) {
	key := "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
	for _, tc := range []struct {
		env  map[string]string
		want int64
	}{
		{map[string]string{}, 128<<20 + MemoryAllowance},
		{map[string]string{"GATEWAY_MAX_BUFFERED_BYTES": "64MiB"}, 64<<20 + MemoryAllowance},
		{map[string]string{"JOB_RESCUE": "memory", "JOB_RESCUE_KEY": key}, 128<<20 + 64<<20 + MemoryAllowance},
		{map[string]string{"JOB_RESCUE": "memory", "JOB_RESCUE_KEY": key, "JOB_RESCUE_MAX_BYTES": "16MiB"}, 128<<20 + 16<<20 + MemoryAllowance},
		// Redis holds the bodies outside this process.
		{map[string]string{"JOB_RESCUE": "redis://127.0.0.1:6379/0", "JOB_RESCUE_KEY": key}, 128<<20 + MemoryAllowance},
	} {
		m := minimal()
		maps.Copy(m, tc.env)
		cfg, err := Load(getenv(m))
		require.NoError(t, err, tc.env)
		assert.Equal(t, tc.want, cfg.MemoryLimit(), tc.env)
	}
	cfg, err := Load(getenv(minimal()))
	require.NoError(t, err)
	assert.Equal(t, ByteSize(64<<20), cfg.JobRescueMaxBytes)
	m := minimal()
	m["JOB_RESCUE_MAX_BYTES"] = "0"
	_, err = Load(getenv(m))
	assert.ErrorContains(t, err, "JOB_RESCUE_MAX_BYTES: must be positive")
}

// Config holds each setting once, validated: a variable that Load turns
// into another type (a URL, keys, a name map) is not also a field holding
// the text as read, and every derived field is filled from its variable.
func TestConfigHoldsValidatedSettingsOnly(t *testing.T) {
	asRead, err := env.GetFieldParams(&Config{})
	require.NoError(t, err)
	all, err := env.GetFieldParams(&environment{})
	require.NoError(t, err)
	inConfig := map[string]bool{}
	for _, p := range asRead {
		inConfig[p.Key] = true
	}
	var derived []string
	for _, p := range all {
		if !inConfig[p.Key] {
			derived = append(derived, p.Key)
		}
	}
	assert.ElementsMatch(t, []string{
		"GATEWAY_API_KEYS", "GATEWAY_AUTHORING_KEYS", "GATEWAY_ADMIN_KEY", "GATEWAY_PUBLIC_URL",
		"PRIMARY_ENDPOINT", "SECONDARY_ENDPOINT", "SECONDARY_PROJECT_NAMES", "SECONDARY_DEPLOYMENT_NAMES",
		"JOB_RESCUE_KEY",
	}, derived, "the variables only environment holds, each derived into a field of Config")

	m := minimal()
	m["GATEWAY_AUTHORING_KEYS"] = "ops:authoring-key"
	m["GATEWAY_ADMIN_KEY"] = "admin"
	m["GATEWAY_PUBLIC_URL"] = "https://ner.example.com"
	m["SECONDARY_PROJECT_NAMES"] = "demo:demo-dr"
	m["SECONDARY_DEPLOYMENT_NAMES"] = "production:prod"
	m["JOB_RESCUE"], m["JOB_RESCUE_KEY"] = "memory", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
	cfg, err := Load(getenv(m))
	require.NoError(t, err)
	v := reflect.ValueOf(*cfg)
	for i := range v.NumField() {
		if f := v.Type().Field(i); f.Tag.Get("env") == "-" {
			assert.False(t, v.Field(i).IsZero(), "Load leaves %s unset", f.Name)
		}
	}
}

// GATEWAY_PUBLIC_URL is checked by the rule the proxy applies to it
// (api.CheckEndpoint), so check-config refuses what the gateway would
// refuse to start with.
func TestPublicURLFollowsTheProxysRule(t *testing.T) {
	for _, raw := range []string{`https://gw.example.com/a"b`, "https://gw!x.example", "https://gw.example.com/a%3Fb"} {
		m := minimal()
		m["GATEWAY_PUBLIC_URL"] = raw
		_, err := Load(getenv(m))
		assert.ErrorContains(t, err, "GATEWAY_PUBLIC_URL: ", raw)
	}
}
