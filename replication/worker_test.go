package replication

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"

	"nergateway/api"
	"nergateway/internal/testkit/azurite"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	code := m.Run()
	azurite.StopShared() // before the leak check: its process has a reaper
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// fakePair is a primary and a secondary fake sharing one clock.
type fakePair struct {
	clock              *tickClock
	primary, secondary *fakeRegion
	cfg                Config
}

func newFakePair(projects ...string) *fakePair {
	c := newTickClock()
	g := &waitGauge{}
	fp := &fakePair{clock: c, primary: newFakeRegion(c, g), secondary: newFakeRegion(c, g)}
	fp.cfg = Config{
		Primary: fp.primary, Secondary: fp.secondary,
		Projects:                projects,
		AuthoringPostsPerMinute: 600000, // pacing is not what these tests look at
		Now:                     func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) },
	}
	return fp
}

func mustNew(t *testing.T, cfg Config) *Worker {
	t.Helper()
	w, err := New(cfg)
	require.NoError(t, err, "New")
	return w
}

func statusOf(t *testing.T, w *Worker, project string) ProjectStatus {
	t.Helper()
	for _, s := range w.Status() {
		if s.Project == project {
			return s
		}
	}
	require.Fail(t, fmt.Sprintf("no status for %q", project))
	return ProjectStatus{}
}

func TestNewRejectsBadConfig(t *testing.T) {
	fp := newFakePair("a")
	for name, mutate := range map[string]func(*Config){
		"no primary":           func(c *Config) { c.Primary = nil },
		"no secondary":         func(c *Config) { c.Secondary = nil },
		"negative interval":    func(c *Config) { c.Interval = -time.Second },
		"negative timeout":     func(c *Config) { c.StepTimeout = -time.Second },
		"negative posts":       func(c *Config) { c.AuthoringPostsPerMinute = -1 },
		"empty project":        func(c *Config) { c.Projects = []string{""} },
		"duplicate project":    func(c *Config) { c.Projects = []string{"a", "a"} },
		"two map to one":       func(c *Config) { c.Projects = []string{"a", "b"}; c.ProjectNames = map[string]string{"a": "b"} },
		"empty mapping":        func(c *Config) { c.ProjectNames = map[string]string{"a": ""} },
		"empty deploy map":     func(c *Config) { c.DeploymentNames = map[string]string{"x": ""} },
		"negative concurrency": func(c *Config) { c.MaxConcurrentProjects = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := fp.cfg
			mutate(&cfg)
			_, err := New(cfg)
			require.Error(t, err, "New accepted a bad config")
		})
	}
}

func TestCheckFindsDrift(t *testing.T) {
	tests := []struct {
		name            string
		setup           func(fp *fakePair)
		wantReimport    bool
		wantDeployments []string
		// imported: the worker remembers importing the primary's current
		// labels (the run that imported them is this process's).
		imported bool
	}{
		{"secondary lacks the project", func(fp *fakePair) {}, true, []string{"prod"}, false},
		{"in sync", func(fp *fakePair) { syncFake(fp) }, false, nil, false},
		{"primary modified", func(fp *fakePair) { syncFake(fp); fp.primary.modify("p") }, true, []string{"prod"}, false},
		{"primary retrained", func(fp *fakePair) { syncFake(fp); fp.primary.retrain("p", "prod") }, false, []string{"prod"}, false},
		{"primary redeployed", func(fp *fakePair) {
			syncFake(fp)
			p := fp.primary.project("p")
			fp.primary.mu.Lock()
			fp.primary.deployLocked(p, "prod", "m-prod")
			fp.primary.mu.Unlock()
		}, false, []string{"prod"}, false},
		{"secondary lacks a deployment", func(fp *fakePair) {
			syncFake(fp)
			fp.primary.mu.Lock()
			p := fp.primary.projects["p"]
			fp.primary.trainLocked(p, "m-canary", "2022-05-01")
			fp.primary.deployLocked(p, "canary", "m-canary")
			fp.primary.mu.Unlock()
		}, false, []string{"canary"}, false},
		{"secondary deployment older than its import", func(fp *fakePair) {
			syncFake(fp)
			fp.primary.modify("p")
			// an import that was not followed by training
			fp.secondary.mu.Lock()
			fp.secondary.projects["p"].meta.LastModifiedDateTime = fp.clock.Now()
			fp.secondary.mu.Unlock()
		}, false, []string{"prod"}, true},
		{"secondary deployment older than an import of another process", func(fp *fakePair) {
			syncFake(fp)
			fp.primary.modify("p")
			fp.secondary.mu.Lock()
			fp.secondary.projects["p"].meta.LastModifiedDateTime = fp.clock.Now()
			fp.secondary.mu.Unlock()
			// Without the memory, the primary's deployment (not retrained
			// since) and the secondary's serve models of the same labels.
		}, false, nil, false},
		{"primary date moved with nothing else", func(fp *fakePair) { syncFake(fp); fp.primary.touch("p") }, true, []string{"prod"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp := newFakePair("p")
			fp.primary.seed("p", "prod")
			tt.setup(fp)
			w := mustNew(t, fp.cfg)
			if tt.imported {
				at := fp.primary.project("p").meta.LastModifiedDateTime
				w.projects[0].known.Store(&knownContent{primaryModified: at, labelsAt: at})
			}
			d, err := w.check(context.Background(), w.projects[0])
			require.NoError(t, err)
			var got []string
			for _, dep := range d.deployments {
				got = append(got, dep.DeploymentName)
			}
			require.Equal(t, tt.wantReimport, d.reimport, "reimport=%v deployments=%v (reasons %q); want %v %v", d.reimport, got, d.reasons, tt.wantReimport, tt.wantDeployments)
			require.Equal(t, strings.Join(tt.wantDeployments, ","), strings.Join(got, ","), "reimport=%v deployments=%v (reasons %q); want %v %v", d.reimport, got, d.reasons, tt.wantReimport, tt.wantDeployments)
		})
	}
}

// syncFake makes the secondary a replica of the primary through a worker.
func syncFake(fp *fakePair) {
	w, err := New(fp.cfg)
	if err != nil {
		panic(err)
	}
	if err := w.SyncOnce(context.Background()); err != nil {
		panic(err)
	}
}

func TestSyncOnceCopiesWithMappedNames(t *testing.T) {
	fp := newFakePair("p")
	fp.primary.seed("p", "prod", "canary")
	fp.cfg.ProjectNames = map[string]string{"p": "p-dr"}
	fp.cfg.DeploymentNames = map[string]string{"prod": "prod-dr"}
	fp.cfg.SecondaryContainer = "dr-container"
	w := mustNew(t, fp.cfg)
	require.NoError(t, w.SyncOnce(context.Background()))
	sp := fp.secondary.project("p-dr")
	require.NotNil(t, sp, "secondary lacks p-dr")
	_, ok := fp.secondary.project("p").deploymentsOrNil()["prod"]
	require.False(t, ok, "imported under the primary's name")
	got := sp.meta.StorageInputContainerName
	assert.Equal(t, "dr-container", got, "container, want dr-container")
	for _, d := range []string{"prod-dr", "canary"} {
		_, ok := sp.deployments[d]
		assert.True(t, ok, "secondary lacks deployment %q", d)
	}
	imp := fp.secondary.imported[0]
	assert.Equal(t, "p-dr", imp.Metadata.ProjectName, "import body: name %q extra %s", imp.Metadata.ProjectName, imp.Extra)
	assert.Equal(t, `{"kept":true}`, string(imp.Extra["futureMember"]), "import body: name %q extra %s", imp.Metadata.ProjectName, imp.Extra)
	for _, tr := range fp.secondary.trained {
		assert.Equal(t, "2022-05-01", tr.TrainingConfigVersion, "trained %q with config %q, want the primary's 2022-05-01", tr.ModelLabel, tr.TrainingConfigVersion)
	}
	st := statusOf(t, w, "p")
	require.Equal(t, StateInSync, st.State, "status %+v", st)
	require.Equal(t, "p-dr", st.SecondaryProject, "status %+v", st)
	require.NotNil(t, st.LastSuccess, "status %+v", st)
	require.Nil(t, st.LastError, "status %+v", st)

	// A second pass finds nothing to do and sends no POST/PUT.
	require.NoError(t, w.SyncOnce(context.Background()))
	for _, r := range []string{"import", "train", "deploy"} {
		want := map[string]int{"import": 1, "train": 2, "deploy": 2}[r]
		got := fp.secondary.count(r)
		assert.Equal(t, want, got, "%s calls %d, want %d", r, got, want)
	}
	assert.Equal(t, 1, fp.primary.count("export"), "export calls")
}

func (p *fakeProject) deploymentsOrNil() map[string]api.Deployment {
	if p == nil {
		return nil
	}
	return p.deployments
}

func TestFailedStepRecordsAzureCodeAndRetries(t *testing.T) {
	for _, route := range []string{"export", "import", "train", "deploy"} {
		t.Run(route, func(t *testing.T) {
			fp := newFakePair("p")
			fp.primary.seed("p", "prod")
			region := fp.secondary
			if route == "export" {
				region = fp.primary
			}
			region.jobErr[route] = &api.Error{Code: "InvalidDocument", Message: route + " broke"}
			w := mustNew(t, fp.cfg)
			err := w.SyncOnce(context.Background())
			var ae *api.Error
			require.ErrorAs(t, err, &ae, "SyncOnce error, want Azure code InvalidDocument")
			require.Equal(t, "InvalidDocument", ae.Code, "SyncOnce error, want Azure code InvalidDocument")
			st := statusOf(t, w, "p")
			require.Equal(t, StateFailed, st.State, "status %+v (error %+v)", st, st.LastError)
			require.Equal(t, route, st.Stage, "status %+v (error %+v)", st, st.LastError)
			require.NotNil(t, st.LastError, "status %+v (error %+v)", st, st.LastError)
			require.Equal(t, "InvalidDocument", st.LastError.Code, "status %+v (error %+v)", st, st.LastError)
			require.NotEqual(t, "", st.JobID, "status %+v (error %+v)", st, st.LastError)
			require.False(t, route == "export" && fp.secondary.count("import") != 0, "imported after a failed export")
			delete(region.jobErr, route)
			require.NoError(t, w.SyncOnce(context.Background()), "retry")
			st = statusOf(t, w, "p")
			require.Equal(t, StateInSync, st.State, "after retry: %+v", st)
			require.Nil(t, st.LastError, "after retry: %+v", st)
		})
	}
}

func TestRateLimitedStartIsWaitedOut(t *testing.T) {
	fp := newFakePair("p")
	fp.primary.seed("p", "prod")
	throttled := &api.Error{Code: "429", Message: "rate limit", StatusCode: 429}
	fp.secondary.startErr["import"] = []error{throttled, throttled}
	w := mustNew(t, fp.cfg)
	require.NoError(t, w.SyncOnce(context.Background()), "a 429 failed the run")
	got := fp.secondary.count("import")
	require.Equal(t, 3, got, "import sent times, want 3")
}

func TestPrimaryOutageImportsNothing(t *testing.T) {
	fp := newFakePair("p")
	fp.primary.seed("p", "prod")
	down := &api.Error{Code: "ServiceUnavailable", Message: "down", StatusCode: 503}
	fp.primary.startErr["export"] = []error{down}
	w := mustNew(t, fp.cfg)
	require.Error(t, w.SyncOnce(context.Background()), "SyncOnce succeeded during a primary outage")
	n := fp.secondary.count("import") + fp.secondary.count("train") + fp.secondary.count("deploy")
	require.Equal(t, 0, n, "secondary writes during a primary outage")
	st := statusOf(t, w, "p")
	require.Equal(t, StateFailed, st.State, "status %+v", st)
	require.Equal(t, "ServiceUnavailable", st.LastError.Code, "status %+v", st)
}

func TestStatusDuringRunAndLag(t *testing.T) {
	fp := newFakePair("p")
	fp.primary.seed("p", "prod")
	gate := make(chan struct{})
	fp.secondary.gate = gate
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	fp.cfg.Now = func() time.Time { return now }
	w := mustNew(t, fp.cfg)

	require.NoError(t, w.Check(context.Background()))
	st := statusOf(t, w, "p")
	require.Equal(t, StateOutOfSync, st.State, "after check: %+v", st)
	require.NotNil(t, st.PrimaryLastModified, "after check: %+v", st)
	require.Nil(t, st.SecondaryLastModified, "after check: %+v", st)
	want := now.Sub(*st.PrimaryLastModified).Seconds()
	require.Equal(t, want, st.LagSeconds, "lag")
	require.Equal(t, 0, fp.secondary.count("import")+fp.primary.count("export"), "Check wrote something")

	done := make(chan error, 1)
	go func() { done <- w.SyncOnce(context.Background()) }()
	st = waitStatus(t, w, "p", func(s ProjectStatus) bool { return s.State == StateReplicating })
	require.NotEqualValues(t, 0, st.LagSeconds, "no lag while replicating: %+v", st)
	for range 3 { // import, train, deploy
		gate <- struct{}{}
	}
	require.NoError(t, <-done)
	st = statusOf(t, w, "p")
	require.Equal(t, StateInSync, st.State, "after run: %+v", st)
	require.EqualValues(t, 0, st.LagSeconds, "after run: %+v", st)
}

// waitStatus polls Status until cond holds; the worker changes state on
// its own goroutines and there is no event to wait on.
func waitStatus(t *testing.T, w *Worker, project string, cond func(ProjectStatus) bool) ProjectStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := statusOf(t, w, project)
		if cond(st) {
			return st
		}
		require.False(t, time.Now().After(deadline), "status never matched; last %+v", st)
		time.Sleep(time.Millisecond)
	}
}

func TestStatusShowsStageAndJob(t *testing.T) {
	fp := newFakePair("p")
	fp.primary.seed("p", "prod")
	gate := make(chan struct{})
	fp.primary.gate = gate
	fp.secondary.gate = gate
	w := mustNew(t, fp.cfg)
	done := make(chan error, 1)
	go func() { done <- w.SyncOnce(context.Background()) }()
	for _, stage := range []string{StageExport, StageImport, StageTrain, StageDeploy} {
		st := waitStatus(t, w, "p", func(s ProjectStatus) bool { return s.Stage == stage && s.JobID != "" })
		require.Equal(t, StateReplicating, st.State, "during %s: %+v", stage, st)
		require.True(t, strings.HasPrefix(st.JobID, stage+"-job-"), "during %s: %+v", stage, st)
		gate <- struct{}{}
	}
	require.NoError(t, <-done)
}

func TestTriggersCoalesce(t *testing.T) {
	fp := newFakePair("p")
	fp.primary.seed("p", "prod")
	gate := make(chan struct{})
	fp.primary.gate = gate
	fp.secondary.gate = gate
	w := mustNew(t, fp.cfg)

	// Trigger never blocks and keeps at most one request for Run.
	for range 5 {
		w.Trigger()
	}
	n := len(w.trigger)
	require.Equal(t, 1, n, "pending triggers, want 1")

	// What Run does on each trigger: schedule. While the project runs,
	// further schedules become one more pass.
	var g errgroup.Group
	ctx := context.Background()
	results := make(chan runResult, 10) // Run would read them
	w.schedule(ctx, &g, w.projects, results)
	waitStatus(t, w, "p", func(s ProjectStatus) bool { return s.Stage == StageExport && s.JobID != "" })
	for range 5 {
		w.schedule(ctx, &g, w.projects, results)
	}
	for range 4 { // export, import, train, deploy of the first run
		gate <- struct{}{}
	}
	require.NoError(t, g.Wait())
	// The first run read the primary project twice (check, and the check
	// that verifies the copy); the one coalesced pass once, finding it in
	// sync.
	got := fp.primary.count("getProject")
	require.Equal(t, 3, got, "primary project read times, want 3 (five schedules coalesced into one pass)")
	got = fp.primary.count("export")
	require.Equal(t, 1, got, "export times, want 1")
}

func TestMaxConcurrentProjects(t *testing.T) {
	fp := newFakePair("a", "b", "c")
	for _, p := range []string{"a", "b", "c"} {
		fp.primary.seed(p, "prod")
	}
	fp.cfg.MaxConcurrentProjects = 1
	w := mustNew(t, fp.cfg)
	require.NoError(t, w.SyncOnce(context.Background()))
	n := fp.primary.waits.peak()
	require.Equal(t, 1, n, "jobs waited at once with MaxConcurrentProjects 1")
	for _, st := range w.Status() {
		require.Equal(t, StateInSync, st.State, "%+v", st)
	}
}

func TestRunStopsOnCancelMidStep(t *testing.T) {
	fp := newFakePair("p", "q")
	fp.primary.seed("p", "prod")
	fp.primary.seed("q", "prod")
	fp.secondary.gate = make(chan struct{}) // never opened
	w := mustNew(t, fp.cfg)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(ctx) }()
	waitStatus(t, w, "p", func(s ProjectStatus) bool { return s.Stage == StageImport })
	cancel()
	select {
	case err := <-runDone:
		require.NoError(t, err, "Run")
	case <-time.After(5 * time.Second):
		require.Fail(t, "Run did not return after cancel")
	}
	st := statusOf(t, w, "p")
	require.Equal(t, StateOutOfSync, st.State, "after shutdown: %+v", st)
	require.Nil(t, st.LastError, "after shutdown: %+v", st)
}

// A failed run is retried after RetryMin, then after twice as long for each
// failure in a row, long before the 24h interval.
func TestFailedRunIsRetriedWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fp := newFakePair("p")
		fp.primary.seed("p", "prod")
		cut := &api.Error{Code: "InternalServerError", Message: "export cut short", StatusCode: 500}
		fp.primary.startErr["export"] = []error{cut, cut, cut}
		fp.cfg.Interval = 24 * time.Hour
		fp.cfg.RetryMin = time.Minute
		w := mustNew(t, fp.cfg)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- w.Run(ctx) }()

		// Failures at 0s, 60s and 180s; the fourth export, at 420s, works.
		for _, c := range []struct {
			at      time.Duration
			exports int
		}{{59 * time.Second, 1}, {61 * time.Second, 2}, {179 * time.Second, 2}, {181 * time.Second, 3},
			{419 * time.Second, 3}, {421 * time.Second, 4}} {
			time.Sleep(time.Until(start.Add(c.at)))
			synctest.Wait()
			got := fp.primary.count("export")
			require.Equal(t, c.exports, got, "after %s: %d exports, want %d", c.at, got, c.exports)
		}
		st := statusOf(t, w, "p")
		require.Equal(t, StateInSync, st.State, "after the retries: %+v", st)
		cancel()
		require.NoError(t, <-done)
	})
}

func TestRetryDelayDoublesUpToInterval(t *testing.T) {
	s := newRetrySchedule(time.Minute, 5*time.Minute)
	var got []time.Duration
	for n := 1; n <= 5; n++ {
		got = append(got, s.delay(n))
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	require.True(t, slices.Equal(got, want), "delays %v, want %v", got, want)
}

func TestStatusJSON(t *testing.T) {
	fp := newFakePair("p")
	w := mustNew(t, fp.cfg)
	b, err := json.Marshal(w.Status())
	require.NoError(t, err)
	got, want := string(b), `[{"project":"p","secondaryProject":"p","state":"unknown","lagSeconds":0}]`
	require.Equal(t, want, got)
}

func TestPrimaryChangedDuringRunIsCopiedAgain(t *testing.T) {
	fp := newFakePair("p")
	fp.primary.seed("p", "prod")
	gate := make(chan struct{})
	fp.secondary.gate = gate
	w := mustNew(t, fp.cfg)
	done := make(chan error, 1)
	go func() { done <- w.SyncOnce(context.Background()) }()

	waitStatus(t, w, "p", func(s ProjectStatus) bool { return s.Stage == StageImport && s.JobID != "" })
	// A label edit after the export: the import that follows is newer
	// than it, so only the run's memory of what it exported can tell.
	fp.primary.modify("p")
	for range 3 { // import, train, deploy of the first pass
		gate <- struct{}{}
	}
	for range 3 { // and of the second
		gate <- struct{}{}
	}
	require.NoError(t, <-done)
	n := fp.primary.count("export")
	require.Equal(t, 2, n, "exports, want 2")
	st := statusOf(t, w, "p")
	require.Equal(t, StateInSync, st.State, "status %+v", st)
}

func TestNoSecondTrainingForDriftThatPersists(t *testing.T) {
	fp := newFakePair("p")
	fp.primary.seed("p", "prod")
	w := mustNew(t, fp.cfg)
	require.NoError(t, w.SyncOnce(context.Background()))
	// A secondary whose clock runs far behind: whatever it trains looks
	// older than the primary's model.
	fp.primary.mu.Lock()
	d := fp.primary.projects["p"].deployments["prod"]
	d.LastTrainedDateTime = d.LastTrainedDateTime.Add(240 * time.Hour)
	fp.primary.projects["p"].deployments["prod"] = d
	fp.primary.mu.Unlock()

	err := w.SyncOnce(context.Background())
	require.Error(t, err, "SyncOnce, want a not-converged error")
	require.Contains(t, err.Error(), "still out of sync", "SyncOnce, want a not-converged error")
	n := fp.secondary.count("train")
	require.Equal(t, 2, n, "trainings, want 2 (one per run, never two in one run)")
	st := statusOf(t, w, "p")
	require.Equal(t, StateFailed, st.State, "status %+v", st)
	require.Equal(t, CodeFailed, st.LastError.Code, "status %+v", st)
}

func TestAtMostMaxConcurrentProjectsRun(t *testing.T) {
	fp := newFakePair("a", "b", "c")
	for _, p := range []string{"a", "b", "c"} {
		fp.primary.seed(p, "prod")
	}
	gate := make(chan struct{})
	fp.primary.gate, fp.secondary.gate = gate, gate
	fp.cfg.MaxConcurrentProjects = 2
	w := mustNew(t, fp.cfg)
	done := make(chan error, 1)
	go func() { done <- w.SyncOnce(context.Background()) }()

	// Two projects reach their export; the third waits its turn unchecked.
	waitFor(t, func() bool {
		n := 0
		for _, st := range w.Status() {
			if st.State == StateReplicating {
				n++
			}
		}
		return n == 2
	})
	for _, st := range w.Status() {
		require.False(t, st.State != StateReplicating && st.State != StateUnknown, "third project ran: %+v", st)
	}
	for range 3 * 4 { // export, import, train, deploy of each project
		gate <- struct{}{}
	}
	require.NoError(t, <-done)
	n := fp.primary.waits.peak()
	require.Equal(t, 2, n, "jobs at once, want 2")
}

func TestChangeDuringFailedRunIsNotLost(t *testing.T) {
	fp := newFakePair("p")
	fp.primary.seed("p", "prod")
	gate := make(chan struct{})
	fp.secondary.gate = gate
	fp.secondary.jobErr["train"] = &api.Error{Code: "InvalidRequest", Message: "document missing"}
	w := mustNew(t, fp.cfg)
	done := make(chan error, 1)
	go func() { done <- w.SyncOnce(context.Background()) }()
	waitStatus(t, w, "p", func(s ProjectStatus) bool { return s.Stage == StageImport && s.JobID != "" })
	fp.primary.modify("p") // after the export, before the import ends
	gate <- struct{}{}     // import
	gate <- struct{}{}     // train, which fails
	require.Error(t, <-done, "want the training failure")

	fp.secondary.gate = nil
	delete(fp.secondary.jobErr, "train")
	require.NoError(t, w.SyncOnce(context.Background()))
	n := fp.primary.count("export")
	require.Equal(t, 2, n, "exports, want 2: the change made during the failed run was lost")
}
