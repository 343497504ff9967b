package replication

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"nergateway/api"
	"nergateway/emulator"
)

// trainingsAvoided reads replication.trainings.avoided for project.
func trainingsAvoided(t *testing.T, reader *sdkmetric.ManualReader, project string) (int64, bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if m.Name != "replication.trainings.avoided" || !ok {
				continue
			}
			for _, dp := range sum.DataPoints {
				if v, _ := dp.Attributes.Value("project"); v.AsString() == project {
					return dp.Value, true
				}
			}
		}
	}
	return 0, false
}

func waitOp(t *testing.T, c *api.Client) func(*api.Operation, error) {
	return func(op *api.Operation, err error) {
		t.Helper()
		require.NoError(t, err)
		_, err = c.Wait(context.Background(), op, nil)
		require.NoError(t, err)
	}
}

// Azure moved a project's lastModifiedDateTime about 30 s after a deploy,
// with no label edit (recorded). A worker that copied the project in
// between must see that the content did not change: nothing imported, no
// training billed. A label edit still imports and trains.
func TestEmulatorDateMovedAfterDeployTrainsNothing(t *testing.T) {
	clock := emulator.NewManualClock(time.Date(2026, 2, 2, 23, 0, 0, 0, time.UTC))
	touching := emulator.Options{Clock: clock, ModifiedAfterDeploy: 30 * time.Second}
	rp := newRegionPairWith(t, pairOptions{secondary: touching}, touching, primaryDocs, drDocs, true)
	reader := sdkmetric.NewManualReader()
	rp.cfg.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	w := mustNew(t, rp.cfg)
	ctx := context.Background()

	// The user deploys in the primary; the worker copies the project
	// before Azure moves the date.
	waitOp(t, rp.pc)(rp.pc.Deploy(ctx, projectName, deployment, api.DeployRequest{TrainedModelLabel: modelLabel}))
	copied, err := rp.pc.GetProject(ctx, projectName)
	require.NoError(t, err)
	clock.Advance(5 * time.Second)
	require.NoError(t, w.SyncOnce(ctx))
	require.Equal(t, 1, rp.secondary.Calls("import"))
	require.Equal(t, 1, rp.secondary.Calls("train"))

	clock.Advance(time.Minute)
	moved, err := rp.pc.GetProject(ctx, projectName)
	require.NoError(t, err)
	require.True(t, moved.LastModifiedDateTime.After(copied.LastModifiedDateTime), "the emulator moved the date")
	exports := rp.primary.Calls("export")

	require.NoError(t, w.SyncOnce(ctx))
	assert.Equal(t, 1, rp.secondary.Calls("import"), "a moved date alone imports nothing")
	assert.Equal(t, 1, rp.secondary.Calls("train"), "a moved date alone trains nothing")
	assert.Equal(t, 1, rp.secondary.Calls("deploy"))
	assert.Equal(t, exports+1, rp.primary.Calls("export"), "the primary's content is read to compare")
	assert.Zero(t, rp.secondary.Calls("export"), "the secondary's content is known from the import")
	st := statusOf(t, w, projectName)
	assert.Equal(t, StateInSync, st.State)
	assert.Equal(t, DriftContentSame, st.Drift)
	require.NotNil(t, st.PrimaryLastModified)
	assert.True(t, st.PrimaryLastModified.Equal(moved.LastModifiedDateTime), "the new date is recorded")
	avoided, ok := trainingsAvoided(t, reader, projectName)
	assert.True(t, ok)
	assert.EqualValues(t, 1, avoided)

	// The new date is remembered: the next check costs GETs only.
	require.NoError(t, w.SyncOnce(ctx))
	assert.Equal(t, exports+1, rp.primary.Calls("export"))

	// A label edit: import and training, as before.
	relabel(t, rp, func(ep *api.ExportedProject) {
		ep.Assets.Entities = append(ep.Assets.Entities, api.EntityType{Category: "Country"})
	})
	clock.Advance(time.Second)
	require.NoError(t, w.SyncOnce(ctx))
	assert.Equal(t, 2, rp.secondary.Calls("import"))
	assert.Equal(t, 2, rp.secondary.Calls("train"))
	st = statusOf(t, w, projectName)
	assert.Equal(t, StateInSync, st.State)
	assert.Equal(t, DriftContentChanged, st.Drift)
	avoided, _ = trainingsAvoided(t, reader, projectName)
	assert.EqualValues(t, 1, avoided)
	sp, err := rp.sc.GetProject(ctx, drProject)
	require.NoError(t, err)
	exported := exportAssets(t, rp.sc, drProject)
	assert.Contains(t, exported, `"Country"`, "the secondary holds the edit (%s)", sp.ProjectName)
}

// A worker with no memory (a restart, `gateway replicate --once`) asks the
// secondary: it exports both projects and compares their assets.
func TestEmulatorDescriptionEditTrainsNothingInAFreshWorker(t *testing.T) {
	rp := newRegionPair(t, pairOptions{})
	ctx := context.Background()
	require.NoError(t, mustNew(t, rp.cfg).SyncOnce(ctx))

	req, err := http.NewRequest(http.MethodPatch, rp.primary.URL+api.ProjectPath(projectName)+"?api-version="+api.DefaultAuthoringAPIVersion,
		strings.NewReader(`{"description":"Support tickets, relabelled nothing"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/merge-patch+json")
	req.Header.Set(api.SubscriptionKeyHeader, primaryKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	pp, err := rp.pc.GetProject(ctx, projectName)
	require.NoError(t, err)
	sp, err := rp.sc.GetProject(ctx, drProject)
	require.NoError(t, err)
	require.True(t, pp.LastModifiedDateTime.After(sp.LastModifiedDateTime), "the primary looks newer by date")

	w := mustNew(t, rp.cfg)
	require.NoError(t, w.SyncOnce(ctx))
	assert.Equal(t, 1, rp.secondary.Calls("import"))
	assert.Equal(t, 1, rp.secondary.Calls("train"))
	assert.Equal(t, 1, rp.secondary.Calls("export"), "the secondary's assets are read back")
	st := statusOf(t, w, projectName)
	assert.Equal(t, StateInSync, st.State)
	assert.Equal(t, DriftContentSame, st.Drift)
}

// exportAssets exports project from c and returns the file as text.
func exportAssets(t *testing.T, c *api.Client, project string) string {
	t.Helper()
	ctx := context.Background()
	op, err := c.Export(ctx, project)
	require.NoError(t, err)
	job, err := c.Wait(ctx, op, nil)
	require.NoError(t, err)
	b, err := c.ExportFile(ctx, job.ResultURL)
	require.NoError(t, err)
	return string(b)
}
