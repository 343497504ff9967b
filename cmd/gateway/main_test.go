package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBinaryLinksNoEmulatorNorTestKit lists what the gateway's binary
// links: the emulator (with its unauthenticated fault API), its blob
// service, net/http/httptest and the test kits belong to cmd/demo and the
// tests, never to the production binary.
func TestBinaryLinksNoEmulatorNorTestKit(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	require.NoError(t, err)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "nergateway/gateway", "the list is of the gateway's binary")
	for _, pkg := range deps {
		assert.NotContains(t, []string{"nergateway/emulator", "net/http/httptest", "nergateway/internal/blobemu"}, pkg, "cmd/gateway links %s", pkg)
		assert.False(t, strings.HasPrefix(pkg, "nergateway/internal/testkit/"), "cmd/gateway links the test kit %s", pkg)
	}
}

// TestDemoFlagSaysWhereTheDemoWent: `gateway -demo` fails (main exits 1)
// with one line naming the demo's command.
func TestDemoFlagSaysWhereTheDemoWent(t *testing.T) {
	for _, args := range [][]string{{"-demo"}, {"--demo"}, {"-demo=true"}} {
		var stdout, stderr strings.Builder
		err := run(t.Context(), args, func(string) string { return "" }, &stdout, &stderr)
		require.Error(t, err, "%v", args)
		assert.Equal(t, "the demo is its own command now: go run ./cmd/demo", err.Error(), "%v", args)
		assert.NotContains(t, err.Error(), "\n", "one line")
		assert.Empty(t, stdout.String(), "%v: no usage", args)
		assert.Empty(t, stderr.String(), "%v: no usage", args)
	}
}
