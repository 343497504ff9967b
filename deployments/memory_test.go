package deployments

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/internal/config"
	"nergateway/internal/secret"
)

// match returns the first group of re in file.
func match(t *testing.T, file string, re *regexp.Regexp) string {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	m := re.FindSubmatch(b)
	require.NotNil(t, m, "%s: %s not found", file, re)
	return string(m[1])
}

// mib reads a size such as 128MiB or 320Mi in MiB.
func mib(t *testing.T, file string, re *regexp.Regexp) int {
	t.Helper()
	n, err := strconv.Atoi(match(t, file, re))
	require.NoError(t, err)
	return n
}

// The gateway sets its soft memory limit from its own settings
// (config.MemoryLimit), so neither the image nor the manifest sets
// GOMEMLIMIT: one would win over the gateway's and stop following the
// budget. The container's memory limit leaves at least 96Mi above the soft
// limit the kit's settings give (it is soft: a burst past it slows the GC).
func TestMemorySizedFromTheBudget(t *testing.T) {
	budget := mib(t, "k8s/configmap.yaml", regexp.MustCompile(`(?m)^\s*GATEWAY_MAX_BUFFERED_BYTES:\s*(\d+)MiB`))
	rescueMax := mib(t, "k8s/configmap.yaml", regexp.MustCompile(`(?m)^\s*JOB_RESCUE_MAX_BYTES:\s*(\d+)MiB`))
	backend := match(t, "k8s/secret.template.yaml", regexp.MustCompile(`(?m)^\s*JOB_RESCUE:\s*(\S+)`))
	limit := mib(t, "k8s/deployment.yaml", regexp.MustCompile(`(?s)limits:\s+cpu: [^\n]+\s+memory: (\d+)Mi\b`))
	for _, file := range []string{"../Dockerfile", "k8s/deployment.yaml"} {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		assert.NotRegexp(t, `(?m)^\s*(ENV GOMEMLIMIT|- name: GOMEMLIMIT)`, string(b),
			"%s sets GOMEMLIMIT: it would win over the limit the gateway sizes from its budget", file)
	}
	cfg := config.Config{MaxBufferedBytes: config.ByteSize(budget) << 20, JobRescueMaxBytes: config.ByteSize(rescueMax) << 20,
		JobRescue: secret.Secret(backend)}
	soft := int(cfg.MemoryLimit() >> 20)
	assert.GreaterOrEqual(t, limit, soft+96, "memory limit %dMi leaves less than 96Mi above the gateway's soft limit %dMiB", limit, soft)
	// Even a replica switched to JOB_RESCUE=memory fits.
	cfg.JobRescue = "memory"
	memSoft := int(cfg.MemoryLimit() >> 20)
	assert.GreaterOrEqual(t, limit, memSoft, "memory limit %dMi below the soft limit %dMiB with JOB_RESCUE=memory", limit, memSoft)
}

// The image and the manifest start goroutines at the smallest stack
// (GODEBUG=adaptivestackstart=0, which Go 1.26 does not accept as a
// //go:debug default in the binary): the manifest's GODEBUG replaces the
// image's, so it must carry the same setting.
func TestSmallGoroutineStacks(t *testing.T) {
	docker := match(t, "../Dockerfile", regexp.MustCompile(`(?m)^ENV GODEBUG=(\S+)$`))
	manifest := match(t, "k8s/deployment.yaml", regexp.MustCompile(`(?m)name: GODEBUG\s+value: "?([^"\s]+)`))
	assert.Contains(t, strings.Split(docker, ","), "adaptivestackstart=0", "Dockerfile GODEBUG=%s lacks adaptivestackstart=0", docker)
	assert.Equal(t, docker, manifest, "manifest GODEBUG=%s, Dockerfile %s", manifest, docker)
}
