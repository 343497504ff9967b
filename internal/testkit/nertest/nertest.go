// Package nertest reads what a custom NER job found, for tests that compare
// the entities of a job run through the gateway or the demo with the
// entities they expect.
package nertest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"nergateway/api"
)

// Entities returns the custom NER entities of every document of a job, by
// document id, without their extra fields (which regions fill differently).
func Entities(t testing.TB, st api.JobState) map[string][]api.Entity {
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
