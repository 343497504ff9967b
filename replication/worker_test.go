package replication

import (
	"context"
	"encoding/json"
	"errors"
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
	"nergateway/internal/azurite"
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
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return w
}

func statusOf(t *testing.T, w *Worker, project string) ProjectStatus {
	t.Helper()
	for _, s := range w.Status() {
		if s.Project == project {
			return s
		}
	}
	t.Fatalf("no status for %q", project)
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
			if _, err := New(cfg); err == nil {
				t.Fatal("New accepted a bad config")
			}
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
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, dep := range d.deployments {
				got = append(got, dep.DeploymentName)
			}
			if d.reimport != tt.wantReimport || strings.Join(got, ",") != strings.Join(tt.wantDeployments, ",") {
				t.Fatalf("reimport=%v deployments=%v (reasons %q); want %v %v",
					d.reimport, got, d.reasons, tt.wantReimport, tt.wantDeployments)
			}
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
	if err := w.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	sp := fp.secondary.project("p-dr")
	if sp == nil {
		t.Fatal("secondary lacks p-dr")
	}
	if _, ok := fp.secondary.project("p").deploymentsOrNil()["prod"]; ok {
		t.Fatal("imported under the primary's name")
	}
	if got := sp.meta.StorageInputContainerName; got != "dr-container" {
		t.Errorf("container %q, want dr-container", got)
	}
	for _, d := range []string{"prod-dr", "canary"} {
		if _, ok := sp.deployments[d]; !ok {
			t.Errorf("secondary lacks deployment %q", d)
		}
	}
	imp := fp.secondary.imported[0]
	if imp.Metadata.ProjectName != "p-dr" || string(imp.Extra["futureMember"]) != `{"kept":true}` {
		t.Errorf("import body: name %q extra %s", imp.Metadata.ProjectName, imp.Extra)
	}
	for _, tr := range fp.secondary.trained {
		if tr.TrainingConfigVersion != "2022-05-01" {
			t.Errorf("trained %q with config %q, want the primary's 2022-05-01", tr.ModelLabel, tr.TrainingConfigVersion)
		}
	}
	st := statusOf(t, w, "p")
	if st.State != StateInSync || st.SecondaryProject != "p-dr" || st.LastSuccess == nil || st.LastError != nil {
		t.Fatalf("status %+v", st)
	}

	// A second pass finds nothing to do and sends no POST/PUT.
	if err := w.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"import", "train", "deploy"} {
		want := map[string]int{"import": 1, "train": 2, "deploy": 2}[r]
		if got := fp.secondary.count(r); got != want {
			t.Errorf("%s calls %d, want %d", r, got, want)
		}
	}
	if got := fp.primary.count("export"); got != 1 {
		t.Errorf("export calls %d, want 1", got)
	}
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
			if !errors.As(err, &ae) || ae.Code != "InvalidDocument" {
				t.Fatalf("SyncOnce error %v, want Azure code InvalidDocument", err)
			}
			st := statusOf(t, w, "p")
			if st.State != StateFailed || st.Stage != route || st.LastError == nil || st.LastError.Code != "InvalidDocument" || st.JobID == "" {
				t.Fatalf("status %+v (error %+v)", st, st.LastError)
			}
			if route == "export" && fp.secondary.count("import") != 0 {
				t.Fatal("imported after a failed export")
			}
			delete(region.jobErr, route)
			if err := w.SyncOnce(context.Background()); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if st := statusOf(t, w, "p"); st.State != StateInSync || st.LastError != nil {
				t.Fatalf("after retry: %+v", st)
			}
		})
	}
}

func TestRateLimitedStartIsWaitedOut(t *testing.T) {
	fp := newFakePair("p")
	fp.primary.seed("p", "prod")
	throttled := &api.Error{Code: "429", Message: "rate limit", StatusCode: 429}
	fp.secondary.startErr["import"] = []error{throttled, throttled}
	w := mustNew(t, fp.cfg)
	if err := w.SyncOnce(context.Background()); err != nil {
		t.Fatalf("a 429 failed the run: %v", err)
	}
	if got := fp.secondary.count("import"); got != 3 {
		t.Fatalf("import sent %d times, want 3", got)
	}
}

func TestPrimaryOutageImportsNothing(t *testing.T) {
	fp := newFakePair("p")
	fp.primary.seed("p", "prod")
	down := &api.Error{Code: "ServiceUnavailable", Message: "down", StatusCode: 503}
	fp.primary.startErr["export"] = []error{down}
	w := mustNew(t, fp.cfg)
	if err := w.SyncOnce(context.Background()); err == nil {
		t.Fatal("SyncOnce succeeded during a primary outage")
	}
	if n := fp.secondary.count("import") + fp.secondary.count("train") + fp.secondary.count("deploy"); n != 0 {
		t.Fatalf("%d secondary writes during a primary outage", n)
	}
	if st := statusOf(t, w, "p"); st.State != StateFailed || st.LastError.Code != "ServiceUnavailable" {
		t.Fatalf("status %+v", st)
	}
}

func TestStatusDuringRunAndLag(t *testing.T) {
	fp := newFakePair("p")
	fp.primary.seed("p", "prod")
	gate := make(chan struct{})
	fp.secondary.gate = gate
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	fp.cfg.Now = func() time.Time { return now }
	w := mustNew(t, fp.cfg)

	if err := w.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := statusOf(t, w, "p")
	if st.State != StateOutOfSync || st.PrimaryLastModified == nil || st.SecondaryLastModified != nil {
		t.Fatalf("after check: %+v", st)
	}
	if want := now.Sub(*st.PrimaryLastModified).Seconds(); st.LagSeconds != want {
		t.Fatalf("lag %v, want %v", st.LagSeconds, want)
	}
	if fp.secondary.count("import")+fp.primary.count("export") != 0 {
		t.Fatal("Check wrote something")
	}

	done := make(chan error, 1)
	go func() { done <- w.SyncOnce(context.Background()) }()
	st = waitStatus(t, w, "p", func(s ProjectStatus) bool { return s.State == StateReplicating })
	if st.LagSeconds == 0 {
		t.Fatalf("no lag while replicating: %+v", st)
	}
	for range 3 { // import, train, deploy
		gate <- struct{}{}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, w, "p"); st.State != StateInSync || st.LagSeconds != 0 {
		t.Fatalf("after run: %+v", st)
	}
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
		if time.Now().After(deadline) {
			t.Fatalf("status never matched; last %+v", st)
		}
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
		if st.State != StateReplicating || !strings.HasPrefix(st.JobID, stage+"-job-") {
			t.Fatalf("during %s: %+v", stage, st)
		}
		gate <- struct{}{}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
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
	if n := len(w.trigger); n != 1 {
		t.Fatalf("%d pending triggers, want 1", n)
	}

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
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	// The first run read the primary project twice (check, and the check
	// that verifies the copy); the one coalesced pass once, finding it in
	// sync.
	if got := fp.primary.count("getProject"); got != 3 {
		t.Fatalf("primary project read %d times, want 3 (five schedules coalesced into one pass)", got)
	}
	if got := fp.primary.count("export"); got != 1 {
		t.Fatalf("export %d times, want 1", got)
	}
}

func TestMaxConcurrentProjects(t *testing.T) {
	fp := newFakePair("a", "b", "c")
	for _, p := range []string{"a", "b", "c"} {
		fp.primary.seed(p, "prod")
	}
	fp.cfg.MaxConcurrentProjects = 1
	w := mustNew(t, fp.cfg)
	if err := w.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := fp.primary.waits.peak(); n != 1 {
		t.Fatalf("%d jobs waited at once with MaxConcurrentProjects 1", n)
	}
	for _, st := range w.Status() {
		if st.State != StateInSync {
			t.Fatalf("%+v", st)
		}
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
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if st := statusOf(t, w, "p"); st.State != StateOutOfSync || st.LastError != nil {
		t.Fatalf("after shutdown: %+v", st)
	}
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
			if got := fp.primary.count("export"); got != c.exports {
				t.Fatalf("after %s: %d exports, want %d", c.at, got, c.exports)
			}
		}
		if st := statusOf(t, w, "p"); st.State != StateInSync {
			t.Fatalf("after the retries: %+v", st)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestRetryDelayDoublesUpToInterval(t *testing.T) {
	s := newRetrySchedule(time.Minute, 5*time.Minute)
	var got []time.Duration
	for n := 1; n <= 5; n++ {
		got = append(got, s.delay(n))
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	if !slices.Equal(got, want) {
		t.Fatalf("delays %v, want %v", got, want)
	}
}

func TestStatusJSON(t *testing.T) {
	fp := newFakePair("p")
	w := mustNew(t, fp.cfg)
	b, err := json.Marshal(w.Status())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `[{"project":"p","secondaryProject":"p","state":"unknown","lagSeconds":0}]`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
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
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := fp.primary.count("export"); n != 2 {
		t.Fatalf("%d exports, want 2", n)
	}
	if st := statusOf(t, w, "p"); st.State != StateInSync {
		t.Fatalf("status %+v", st)
	}
}

func TestNoSecondTrainingForDriftThatPersists(t *testing.T) {
	fp := newFakePair("p")
	fp.primary.seed("p", "prod")
	w := mustNew(t, fp.cfg)
	if err := w.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A secondary whose clock runs far behind: whatever it trains looks
	// older than the primary's model.
	fp.primary.mu.Lock()
	d := fp.primary.projects["p"].deployments["prod"]
	d.LastTrainedDateTime = d.LastTrainedDateTime.Add(240 * time.Hour)
	fp.primary.projects["p"].deployments["prod"] = d
	fp.primary.mu.Unlock()

	err := w.SyncOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), "still out of sync") {
		t.Fatalf("SyncOnce: %v, want a not-converged error", err)
	}
	if n := fp.secondary.count("train"); n != 2 {
		t.Fatalf("%d trainings, want 2 (one per run, never two in one run)", n)
	}
	if st := statusOf(t, w, "p"); st.State != StateFailed || st.LastError.Code != CodeFailed {
		t.Fatalf("status %+v", st)
	}
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
		if st.State != StateReplicating && st.State != StateUnknown {
			t.Fatalf("third project ran: %+v", st)
		}
	}
	for range 3 * 4 { // export, import, train, deploy of each project
		gate <- struct{}{}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := fp.primary.waits.peak(); n != 2 {
		t.Fatalf("%d jobs at once, want 2", n)
	}
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
	if err := <-done; err == nil {
		t.Fatal("want the training failure")
	}

	fp.secondary.gate = nil
	delete(fp.secondary.jobErr, "train")
	if err := w.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := fp.primary.count("export"); n != 2 {
		t.Fatalf("%d exports, want 2: the change made during the failed run was lost", n)
	}
}
