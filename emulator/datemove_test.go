package emulator

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/internal/testkit/recorded"
)

// recordedDateMove is how long after a deploy Azure moved the project's
// lastModifiedDateTime in the recordings: the deployment's
// lastDeployedDateTime, then the project GET two minutes later.
func recordedDateMove(t *testing.T) time.Duration {
	t.Helper()
	last := func(name string, v any) {
		c, err := recorded.Load(name)
		require.NoError(t, err)
		require.NotEmpty(t, c.Entries)
		resp{body: c.Entries[len(c.Entries)-1].ResponseBodyBytes()}.decode(t, v)
	}
	var d api.Deployment
	last("authoring-deploy-2025-05-15-preview", &d)
	var p api.Project
	last("authoring-project-get-2025-05-15-preview", &p)
	require.False(t, d.LastDeployedDateTime.IsZero())
	return p.LastModifiedDateTime.Sub(d.LastDeployedDateTime)
}

func TestModifiedAfterDeployMovesTheDateAsRecorded(t *testing.T) {
	after := recordedDateMove(t)
	require.Equal(t, 30*time.Second, after)
	rg := newRegion(t, Options{ModifiedAfterDeploy: after})
	sp := demoProject()
	sp.ModelLabel, sp.DeploymentName = "m1", "prod"
	require.NoError(t, rg.Seed(sp))
	project := func() api.Project {
		var p api.Project
		r := rg.do(http.MethodGet, q(api.ProjectPath("demo")), nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		r.decode(t, &p)
		return p
	}
	before := project().LastModifiedDateTime

	rg.clock.Advance(time.Minute)
	r := rg.do(http.MethodPut, q(api.DeploymentPath("demo", "prod")), api.DeployRequest{TrainedModelLabel: "m1"})
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	deployedAt := rg.clock.Now()
	rg.clock.Advance(after - time.Second)
	assert.True(t, project().LastModifiedDateTime.Equal(before), "not yet")
	rg.clock.Advance(2 * time.Minute)
	p := project()
	assert.True(t, p.LastModifiedDateTime.Equal(deployedAt.Add(after)), "moved to %v", p.LastModifiedDateTime)
	assert.True(t, p.LastModifiedDateTime.Equal(p.LastDeployedDateTime.Add(after)))
}

func TestModifiedStaysWithoutTheOption(t *testing.T) {
	rg := newRegion(t, Options{})
	sp := demoProject()
	sp.ModelLabel, sp.DeploymentName = "m1", "prod"
	require.NoError(t, rg.Seed(sp))
	var p0, p1 api.Project
	rg.do(http.MethodGet, q(api.ProjectPath("demo")), nil).decode(t, &p0)
	rg.clock.Advance(time.Minute)
	require.Equal(t, http.StatusAccepted, rg.do(http.MethodPut, q(api.DeploymentPath("demo", "prod")), api.DeployRequest{TrainedModelLabel: "m1"}).status)
	rg.clock.Advance(time.Hour)
	rg.do(http.MethodGet, q(api.ProjectPath("demo")), nil).decode(t, &p1)
	assert.True(t, p1.LastModifiedDateTime.Equal(p0.LastModifiedDateTime))
}
