package replication

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"nergateway/api"
)

// fakeRegion is a hand-written in-memory region for the worker's unit
// tests: projects, deployments and models with timestamps from a clock that
// ticks on every write, so "newer" is always strict. Operations take effect
// when Wait is called; gate, when set, holds Wait until it receives (or ctx
// ends), so a test can look at a run in the middle.
type fakeRegion struct {
	mu       sync.Mutex
	clock    *tickClock
	projects map[string]*fakeProject
	calls    map[string]int
	// startErr makes the start call of a route (export, import, train,
	// deploy) fail; each entry is used once.
	startErr map[string][]error
	// jobErr makes the job of a route fail.
	jobErr map[string]error
	gate   chan struct{}
	// waits counts Waits in progress, shared by the regions of a pair,
	// for concurrency assertions.
	waits   *waitGauge
	ops     map[string]func() error
	nextJob int
	// exported is the last export's body; imported and trained record
	// what the worker sent.
	exported []byte
	imported []api.ExportedProject
	// importedFiles are the import bodies as sent.
	importedFiles [][]byte
	trained       []api.TrainRequest
}

type fakeProject struct {
	meta        api.Project
	assets      api.ProjectAssets
	models      map[string]api.TrainedModel
	deployments map[string]api.Deployment
}

// waitGauge counts Waits in progress and the most seen at once.
type waitGauge struct {
	mu       sync.Mutex
	now, max int
}

func (g *waitGauge) add(d int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now += d
	g.max = max(g.max, g.now)
}

func (g *waitGauge) peak() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.max
}

// tickClock is a clock shared by fake regions that moves one second on
// every reading, so every write gets a distinct, later time.
type tickClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTickClock() *tickClock {
	return &tickClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *tickClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func newFakeRegion(clock *tickClock, waits *waitGauge) *fakeRegion {
	return &fakeRegion{
		clock:    clock,
		waits:    waits,
		projects: map[string]*fakeProject{},
		calls:    map[string]int{},
		startErr: map[string][]error{},
		jobErr:   map[string]error{},
		ops:      map[string]func() error{},
	}
}

// seed creates a project with one model per deployment (label "m-"+name).
func (f *fakeRegion) seed(name string, deployments ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	p := &fakeProject{
		meta: api.Project{ProjectName: name, ProjectKind: api.ProjectKindCustomNER, Language: "en",
			StorageInputContainerName: name + "-container", CreatedDateTime: now, LastModifiedDateTime: now},
		assets: api.ProjectAssets{ProjectKind: api.ProjectKindCustomNER,
			Entities:  []api.EntityType{{Category: "City"}},
			Documents: []api.LabeledDocument{{Location: "a.txt", Entities: []api.LabeledRegion{}}}},
		models:      map[string]api.TrainedModel{},
		deployments: map[string]api.Deployment{},
	}
	f.projects[name] = p
	for _, d := range deployments {
		f.trainLocked(p, "m-"+d, "2022-05-01")
		f.deployLocked(p, d, "m-"+d)
	}
}

func (f *fakeRegion) trainLocked(p *fakeProject, label, cfg string) {
	now := f.clock.Now()
	// modelIds deliberately do not start with the label: the worker must
	// look labels up, not parse ids.
	f.nextJob++
	p.models[label] = api.TrainedModel{Label: label, ModelID: fmt.Sprintf("id%d-%s", f.nextJob, now.Format("150405")),
		LastTrainedDateTime: now, ModelTrainingConfigVersion: cfg}
	p.meta.LastTrainedDateTime = now
}

func (f *fakeRegion) deployLocked(p *fakeProject, name, label string) {
	now := f.clock.Now()
	m := p.models[label]
	p.deployments[name] = api.Deployment{DeploymentName: name, ModelID: m.ModelID,
		LastTrainedDateTime: m.LastTrainedDateTime, LastDeployedDateTime: now,
		ModelTrainingConfigVersion: m.ModelTrainingConfigVersion}
	p.meta.LastDeployedDateTime = now
}

// modify edits a project's labels (a new entity type) and moves its
// lastModifiedDateTime, as a label edit does.
func (f *fakeRegion) modify(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.projects[name]
	p.assets.Entities = append(slices.Clone(p.assets.Entities), api.EntityType{Category: fmt.Sprintf("Edit%d", len(p.assets.Entities))})
	p.meta.LastModifiedDateTime = f.clock.Now()
}

// touch moves a project's lastModifiedDateTime and nothing else, as Azure
// does some time after a deploy.
func (f *fakeRegion) touch(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.projects[name].meta.LastModifiedDateTime = f.clock.Now()
}

// retrain retrains and redeploys a deployment's model.
func (f *fakeRegion) retrain(project, deployment string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.projects[project]
	label := "m-" + deployment
	f.trainLocked(p, label, p.models[label].ModelTrainingConfigVersion)
	f.deployLocked(p, deployment, label)
}

func (f *fakeRegion) count(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[route]
}

func (f *fakeRegion) project(name string) *fakeProject {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.projects[name]
}

func notFound(what string) error {
	return &api.Error{Code: api.CodeProjectNotFound, Message: what + " not found", StatusCode: 404}
}

func (f *fakeRegion) GetProject(_ context.Context, name string) (*api.Project, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["getProject"]++
	p, ok := f.projects[name]
	if !ok {
		return nil, notFound(name)
	}
	m := p.meta
	return &m, nil
}

func (f *fakeRegion) ListDeployments(_ context.Context, project string) ([]api.Deployment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["listDeployments"]++
	p, ok := f.projects[project]
	if !ok {
		return nil, notFound(project)
	}
	var out []api.Deployment
	for _, d := range p.deployments {
		out = append(out, d)
	}
	return out, nil
}

func (f *fakeRegion) ListModels(_ context.Context, project string) ([]api.TrainedModel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["listModels"]++
	p, ok := f.projects[project]
	if !ok {
		return nil, notFound(project)
	}
	var out []api.TrainedModel
	for _, m := range p.models {
		out = append(out, m)
	}
	return out, nil
}

// start counts route, applies a scripted start error, and registers effect
// to run when the job is waited for.
func (f *fakeRegion) start(route string, effect func() error) (*api.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[route]++
	if errs := f.startErr[route]; len(errs) > 0 {
		f.startErr[route] = errs[1:]
		return nil, errs[0]
	}
	f.nextJob++
	id := fmt.Sprintf("%s-job-%d", route, f.nextJob)
	jobErr := f.jobErr[route]
	f.ops[id] = func() error {
		if jobErr != nil {
			return jobErr
		}
		return effect()
	}
	return &api.Operation{URL: "fake://" + id, JobID: id}, nil
}

func (f *fakeRegion) Export(_ context.Context, project string) (*api.Operation, error) {
	return f.start("export", func() error {
		p, ok := f.projects[project]
		if !ok {
			return notFound(project)
		}
		ep := api.ExportedProject{ProjectFileVersion: "2022-05-01", StringIndexType: api.StringIndexUTF16,
			Metadata: api.ProjectMetadata{ProjectKind: p.meta.ProjectKind, ProjectName: p.meta.ProjectName,
				StorageInputContainerName: p.meta.StorageInputContainerName, Language: p.meta.Language},
			Assets: &p.assets,
			Extra:  api.Extra{"futureMember": json.RawMessage(`{"kept":true}`)}}
		var err error
		f.exported, err = json.Marshal(ep)
		return err
	})
}

func (f *fakeRegion) ExportFile(_ context.Context, resultURL string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["exportResult"]++
	return slices.Clone(f.exported), nil
}

func (f *fakeRegion) ImportFile(_ context.Context, project string, body []byte) (*api.Operation, error) {
	body = slices.Clone(body)
	return f.start("import", func() error {
		f.importedFiles = append(f.importedFiles, body)
		now := f.clock.Now()
		var in api.ExportedProject
		if err := json.Unmarshal(body, &in); err != nil {
			return err
		}
		f.imported = append(f.imported, in)
		old := f.projects[project]
		p := &fakeProject{
			meta: api.Project{ProjectName: in.Metadata.ProjectName, ProjectKind: in.Metadata.ProjectKind,
				Language: in.Metadata.Language, StorageInputContainerName: in.Metadata.StorageInputContainerName,
				CreatedDateTime: now, LastModifiedDateTime: now},
			assets: *in.Assets, models: map[string]api.TrainedModel{}, deployments: map[string]api.Deployment{},
		}
		if old != nil { // deployments keep serving across an import
			p.deployments = old.deployments
			p.models = old.models
		}
		f.projects[project] = p
		return nil
	})
}

func (f *fakeRegion) Train(_ context.Context, project string, r api.TrainRequest) (*api.Operation, error) {
	return f.start("train", func() error {
		p, ok := f.projects[project]
		if !ok {
			return notFound(project)
		}
		f.trained = append(f.trained, r)
		f.trainLocked(p, r.ModelLabel, r.TrainingConfigVersion)
		return nil
	})
}

func (f *fakeRegion) Deploy(_ context.Context, project, deployment string, r api.DeployRequest) (*api.Operation, error) {
	return f.start("deploy", func() error {
		p, ok := f.projects[project]
		if !ok {
			return notFound(project)
		}
		if _, ok := p.models[r.TrainedModelLabel]; !ok {
			return &api.Error{Code: api.CodeNotFound, Message: "no model " + r.TrainedModelLabel}
		}
		f.deployLocked(p, deployment, r.TrainedModelLabel)
		return nil
	})
}

func (f *fakeRegion) Wait(ctx context.Context, op *api.Operation, onPoll func(*api.AuthoringJob)) (*api.AuthoringJob, error) {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	f.waits.add(1)
	defer f.waits.add(-1)
	if onPoll != nil {
		onPoll(&api.AuthoringJob{JobID: op.JobID, Status: api.StatusRunning})
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for job %s: %w", op.JobID, ctx.Err())
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	effect := f.ops[op.JobID]
	delete(f.ops, op.JobID)
	job := &api.AuthoringJob{JobID: op.JobID, Status: api.StatusSucceeded, ResultURL: "fake://result"}
	if err := effect(); err != nil {
		job.Status = api.StatusFailed
		var ae *api.Error
		if e, ok := err.(*api.Error); ok {
			ae = e
		} else {
			ae = &api.Error{Code: "Failed", Message: err.Error()}
		}
		return job, &api.JobFailedError{JobID: op.JobID, Status: job.Status, Errors: []api.Error{*ae}}
	}
	return job, nil
}
