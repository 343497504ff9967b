package deployments

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// match returns the first group of re in file.
func match(t *testing.T, file string, re *regexp.Regexp) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s: %s not found", file, re)
	}
	return string(m[1])
}

// mib reads a size such as 128MiB or 320Mi in MiB.
func mib(t *testing.T, file string, re *regexp.Regexp) int {
	t.Helper()
	n, err := strconv.Atoi(match(t, file, re))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The memory settings are sized from the byte budget: GOMEMLIMIT leaves
// 64MiB above GATEWAY_MAX_BUFFERED_BYTES for the runtime, and the container
// limit leaves headroom above GOMEMLIMIT (a soft limit). The Dockerfile
// ships the same GOMEMLIMIT as the manifest.
func TestMemorySizedFromTheBudget(t *testing.T) {
	budget := mib(t, "k8s/configmap.yaml", regexp.MustCompile(`(?m)^\s*GATEWAY_MAX_BUFFERED_BYTES:\s*(\d+)MiB`))
	goMemLimit := mib(t, "k8s/deployment.yaml", regexp.MustCompile(`(?m)name: GOMEMLIMIT\s+value: "?(\d+)MiB`))
	limit := mib(t, "k8s/deployment.yaml", regexp.MustCompile(`(?s)limits:\s+cpu: [^\n]+\s+memory: (\d+)Mi\b`))
	docker := mib(t, "../Dockerfile", regexp.MustCompile(`(?m)^ENV GOMEMLIMIT=(\d+)MiB`))
	if goMemLimit < budget+64 {
		t.Errorf("GOMEMLIMIT %dMiB leaves less than 64MiB above the %dMiB budget", goMemLimit, budget)
	}
	if limit < goMemLimit+96 {
		t.Errorf("memory limit %dMi leaves less than 96Mi above GOMEMLIMIT %dMiB", limit, goMemLimit)
	}
	if docker != goMemLimit {
		t.Errorf("Dockerfile GOMEMLIMIT %dMiB, manifest %dMiB", docker, goMemLimit)
	}
}

// The image and the manifest start goroutines at the smallest stack
// (GODEBUG=adaptivestackstart=0, which Go 1.26 does not accept as a
// //go:debug default in the binary): the manifest's GODEBUG replaces the
// image's, so it must carry the same setting.
func TestSmallGoroutineStacks(t *testing.T) {
	docker := match(t, "../Dockerfile", regexp.MustCompile(`(?m)^ENV GODEBUG=(\S+)$`))
	manifest := match(t, "k8s/deployment.yaml", regexp.MustCompile(`(?m)name: GODEBUG\s+value: "?([^"\s]+)`))
	if !slices.Contains(strings.Split(docker, ","), "adaptivestackstart=0") {
		t.Errorf("Dockerfile GODEBUG=%s lacks adaptivestackstart=0", docker)
	}
	if manifest != docker {
		t.Errorf("manifest GODEBUG=%s, Dockerfile %s", manifest, docker)
	}
}
