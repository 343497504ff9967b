package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nergateway/internal/testkit/loopback"
	"nergateway/internal/testkit/syncbuf"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncbuf.Buffer is a bytes.Buffer safe to read while run writes to it.
func TestRunServesASeededRegion(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "seed.json")
	require.NoError(t, os.WriteFile(seed, []byte(`[{"name":"demo","documents":[{"name":"a.txt","text":"Anna in Köln","labels":[{"category":"City","offset":8,"length":4}]}],"deploymentName":"production"}]`), 0o600))
	addr := loopback.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", addr, "-name", "westus2", "-seed", seed, "-log-format", "json"},
			func(k string) string { return map[string]string{"EMULATOR_KEY": "k1"}[k] }, &stdout, &stderr)
	}()

	var res *http.Response
	require.Eventually(t, func() bool {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/language/authoring/analyze-text/projects/demo/deployments/production?api-version=2022-05-01", nil)
		req.Header.Set("Ocp-Apim-Subscription-Key", "k1")
		var err error
		res, err = http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		res.Body.Close()
		return true
	}, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, stdout.String(), "westus2 listening on http://"+addr)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		require.FailNow(t, "run did not return")
	}
	assert.Contains(t, stderr.String(), `"route":"getDeployment"`)
	assert.NotContains(t, stderr.String(), "k1", "the key is never logged")
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{}, {"-key", "k", "extra"}, {"-key", "k", "-log-format", "xml"}, {"-nope"}} {
		err := run(context.Background(), args, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
		assert.Error(t, err, strings.Join(args, " "))
	}
}
