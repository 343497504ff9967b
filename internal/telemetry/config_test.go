package telemetry

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c config)
	}{
		{
			name: "nothing set exports nothing",
			env:  nil,
			check: func(t *testing.T, c config) {
				assert.False(t, c.tracesOTLP)
				assert.False(t, c.tracesConsole)
				assert.False(t, c.metricsOTLP)
				assert.Equal(t, "parentbased_always_on", c.sampler)
				assert.Equal(t, "gw", c.serviceName)
				assert.Equal(t, []string{"tracecontext", "baggage"}, c.propagators)
				assert.Equal(t, defaultExportInterval, c.exportInterval)
			},
		},
		{
			name: "generic endpoint turns on both signals and appends paths",
			env:  map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/base/"},
			check: func(t *testing.T, c config) {
				assert.True(t, c.tracesOTLP)
				assert.True(t, c.metricsOTLP)
				assert.Equal(t, "http://collector:4318/base/v1/traces", c.traces.endpoint)
				assert.Equal(t, "http://collector:4318/base/v1/metrics", c.metrics.endpoint)
				assert.True(t, c.traces.insecure)
				assert.Equal(t, protocolHTTP, c.traces.protocol)
				assert.Equal(t, defaultOTLPTimeout, c.traces.timeout)
			},
		},
		{
			name: "per-signal endpoint is used as is and only turns on its signal",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector.example:443",
			},
			check: func(t *testing.T, c config) {
				assert.True(t, c.tracesOTLP)
				assert.False(t, c.metricsOTLP)
				assert.Equal(t, "https://collector.example:443/", c.traces.endpoint)
				assert.False(t, c.traces.insecure)
			},
		},
		{
			name: "explicit otlp without endpoint keeps the spec default",
			env:  map[string]string{"OTEL_TRACES_EXPORTER": "otlp"},
			check: func(t *testing.T, c config) {
				assert.True(t, c.tracesOTLP)
				assert.Equal(t, "http://localhost:4318/v1/traces", c.traces.endpoint)
			},
		},
		{
			name: "none wins over an endpoint",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
				"OTEL_TRACES_EXPORTER":        "none",
				"OTEL_METRICS_EXPORTER":       "prometheus",
			},
			check: func(t *testing.T, c config) {
				assert.False(t, c.tracesOTLP)
				assert.False(t, c.metricsOTLP)
			},
		},
		{
			name: "console and otlp together",
			env:  map[string]string{"OTEL_TRACES_EXPORTER": "console, OTLP"},
			check: func(t *testing.T, c config) {
				assert.True(t, c.tracesOTLP)
				assert.True(t, c.tracesConsole)
			},
		},
		{
			name: "grpc with a scheme decides security from it",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4317",
				"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
				"OTEL_EXPORTER_OTLP_INSECURE": "true",
			},
			check: func(t *testing.T, c config) {
				assert.Equal(t, protocolGRPC, c.traces.protocol)
				assert.Equal(t, "collector:4317", c.traces.endpoint)
				assert.False(t, c.traces.insecure)
			},
		},
		{
			name: "grpc without a scheme takes INSECURE",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317",
				"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
				"OTEL_EXPORTER_OTLP_INSECURE": "true",
			},
			check: func(t *testing.T, c config) {
				assert.Equal(t, "collector:4317", c.traces.endpoint)
				assert.True(t, c.traces.insecure)
			},
		},
		{
			name: "per-signal protocol, headers, timeout and compression win",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":         "http://collector:4318",
				"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
				"OTEL_EXPORTER_OTLP_HEADERS":          "api-key=a%20b,x=1",
				"OTEL_EXPORTER_OTLP_TRACES_HEADERS":   "only=traces",
				"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT":   "2500",
				"OTEL_EXPORTER_OTLP_COMPRESSION":      "gzip",
			},
			check: func(t *testing.T, c config) {
				assert.Equal(t, protocolHTTP, c.traces.protocol)
				assert.Equal(t, protocolGRPC, c.metrics.protocol)
				assert.Equal(t, "collector:4318", c.metrics.endpoint)
				assert.Equal(t, map[string]string{"only": "traces"}, c.traces.headers)
				assert.Equal(t, map[string]string{"api-key": "a b", "x": "1"}, c.metrics.headers)
				assert.Equal(t, 2500*time.Millisecond, c.traces.timeout)
				assert.Equal(t, defaultOTLPTimeout, c.metrics.timeout)
				assert.Equal(t, "gzip", c.traces.compression)
			},
		},
		{
			name: "service name: OTEL_SERVICE_NAME over resource attributes over the default",
			env: map[string]string{
				"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs,deployment.environment=prod",
				"OTEL_SERVICE_NAME":        "from-name",
			},
			check: func(t *testing.T, c config) {
				assert.Equal(t, "from-name", c.serviceName)
				assert.Equal(t, []kv{{"service.name", "from-attrs"}, {"deployment.environment", "prod"}}, c.resourceAttrs)
			},
		},
		{
			name: "sampler and interval",
			env: map[string]string{
				"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio",
				"OTEL_TRACES_SAMPLER_ARG":     "0.25",
				"OTEL_METRIC_EXPORT_INTERVAL": "1500",
				"OTEL_PROPAGATORS":            "tracecontext",
			},
			check: func(t *testing.T, c config) {
				assert.Equal(t, "parentbased_traceidratio", c.sampler)
				assert.InDelta(t, 0.25, c.samplerArg, 1e-9)
				assert.Equal(t, 1500*time.Millisecond, c.exportInterval)
				assert.Equal(t, []string{"tracecontext"}, c.propagators)
			},
		},
		{
			name: "disabled",
			env:  map[string]string{"OTEL_SDK_DISABLED": "TRUE"},
			check: func(t *testing.T, c config) {
				assert.True(t, c.disabled)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(env(tt.env), "gw")
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string // the variable the error must name
	}{
		{map[string]string{"OTEL_SDK_DISABLED": "yes"}, "OTEL_SDK_DISABLED"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "jaeger"}, "OTEL_TRACES_EXPORTER"},
		{map[string]string{"OTEL_METRICS_EXPORTER": "console"}, "OTEL_METRICS_EXPORTER"},
		{map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "OTEL_TRACES_SAMPLER"},
		{map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}, "OTEL_TRACES_SAMPLER_ARG"},
		{map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}, "OTEL_TRACES_SAMPLER_ARG"},
		{map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": "10s"}, "OTEL_METRIC_EXPORT_INTERVAL"},
		{map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": "0"}, "OTEL_METRIC_EXPORT_INTERVAL"},
		{map[string]string{"OTEL_METRIC_EXPORT_TIMEOUT": "-1"}, "OTEL_METRIC_EXPORT_TIMEOUT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://collector"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "/v1/traces"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "udp"}, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "k=%zz"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_INSECURE": "maybe"}, "OTEL_EXPORTER_OTLP_INSECURE"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TIMEOUT": "5s"}, "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "OTEL_EXPORTER_OTLP_COMPRESSION"},
		{map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "=x"}, "OTEL_RESOURCE_ATTRIBUTES"},
		{map[string]string{"OTEL_PROPAGATORS": "b3"}, "OTEL_PROPAGATORS"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := parseConfig(env(tt.env), "gw")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	_, err := parseConfig(env(map[string]string{
		"OTEL_TRACES_EXPORTER":        "zipkin",
		"OTEL_METRIC_EXPORT_INTERVAL": "soon",
	}), "gw")
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	assert.Len(t, lines, 2)
}

func TestParseConfigDoesNotEchoHeaderValues(t *testing.T) {
	_, err := parseConfig(env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
		"OTEL_EXPORTER_OTLP_HEADERS":  "api-key=s3cr3t-value,broken",
	}), "gw")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cr3t-value")
}
