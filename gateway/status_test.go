package gateway

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStatusSectionsAsDocumented pins /status's replication and jobRescue
// sections as docs/DESIGN.md describes them, byte for byte: off, each is
// {"enabled": false} alone; on, its members in this order, canary.off
// only when the canary does not run.
func TestStatusSectionsAsDocumented(t *testing.T) {
	gw := startGateway(t)
	resp, body := gw.ops(t, http.MethodGet, "/status", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Regexp(t, `^\{\n  "ready": (true|false),\n  "draining": false,\n  "startedAt": "[^"]+",\n  "build": \{\n    "version": "dev",\n(    "revision": "[^"]+",\n)?    "goVersion": "go[^"]+"\n  \},\n  "regions": \[\n`, string(body))
	assert.Regexp(t, `\n  \],\n  "replication": \{\n    "enabled": false\n  \},\n  "jobRescue": \{\n    "enabled": false\n  \}\n\}\n$`, string(body))

	gw = startGateway(t, withEnv(append([]string{"PROJECT_NAMES", testProject}, rescueTestEnv("memory")...)...))
	_, body = gw.ops(t, http.MethodGet, "/status", nil)
	assert.Regexp(t, `\n  "replication": \{\n    "canary": \{\n      "enabled": false,\n      "off": "[^"]+"\n    \},\n    "enabled": true,\n    "projects": \[\n      \{\n        "project": "contracts",`, string(body))
	assert.Regexp(t, `\n  "jobRescue": \{\n    "after": "[^"]+",\n    "enabled": true,\n    "store": \{\n      "backend": "memory",\n(.|\n)*\n    \},\n    "ttl": "[^"]+"\n  \}\n\}\n$`, string(body))
}
