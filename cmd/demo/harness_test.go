package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"nergateway/api"
)

// TestMain checks that no goroutine of the demo outlived it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncbuf.Buffer is a goroutine-safe sink for the demo's output.
// entitiesOf returns the custom NER entities of every document of a job.
func entitiesOf(t *testing.T, st api.JobState) map[string][]api.Entity {
	t.Helper()
	out := map[string][]api.Entity{}
	for _, item := range st.Tasks.Items {
		var res api.CustomEntitiesResult
		require.NoError(t, json.Unmarshal(item.Results, &res))
		for _, d := range res.Documents {
			for _, e := range d.Entities {
				e.Extra = nil
				out[d.ID] = append(out[d.ID], e)
			}
		}
	}
	return out
}

// eventually retries cond until it holds or the deadline passes; it
// asserts nothing about how long that took.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
