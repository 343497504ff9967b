package emulator

import (
	"net/http"
	"sort"
	"strings"
	"time"

	"nergateway/api"
)

// authoringJobLifetime is how long an authoring job stays visible (the
// reference's examples expire them after 7 days).
const authoringJobLifetime = 7 * 24 * time.Hour

// Kinds of authoring jobs; each has its own status URL.
const (
	jobExport       = "export"
	jobImport       = "import"
	jobTrain        = "train"
	jobDeploy       = "deploy" // deploy and delete deployment share a URL
	jobSwap         = "swap"
	jobDeletion     = "deletion"
	jobLoadSnapshot = "loadSnapshot"
)

// authJob is an authoring long-running operation. Its effect on the region
// (import the project, add the model, ...) runs once, the first time a
// request arrives after the job's end (see settle), so what the job does is
// visible exactly when its status says succeeded.
type authJob struct {
	id         string
	kind       string
	project    string
	target     string // deployment or model name in the status URL
	apiVersion string
	created    time.Time
	cancelAt   time.Time
	effect     func(j *authJob, at time.Time) *api.Error // nil once run
	failed     *api.Error
	exported   []byte // export result
	train      *api.TrainRequest
	warnings   []api.Warning
}

func (j *authJob) end(d time.Duration) time.Time { return j.created.Add(d) }

func (j *authJob) cancelled(d time.Duration) bool {
	return !j.cancelAt.IsZero() && j.cancelAt.Before(j.end(d))
}

// settle brings the region up to now: it runs the effects of the authoring
// jobs that have ended, in the order they ended, and forgets expired jobs.
// Every request calls it under e.mu before it reads any state.
func (e *Emulator) settle(now time.Time) {
	d := e.opts.AuthoringJobDuration
	var due []*authJob
	for id, j := range e.authJobs {
		if !now.Before(j.created.Add(authoringJobLifetime)) {
			delete(e.authJobs, id)
			continue
		}
		if j.effect != nil && !now.Before(j.end(d)) && !j.cancelled(d) {
			due = append(due, j)
		}
	}
	sort.Slice(due, func(a, b int) bool {
		if !due[a].created.Equal(due[b].created) {
			return due[a].created.Before(due[b].created)
		}
		return due[a].id < due[b].id
	})
	for _, j := range due {
		j.failed = j.effect(j, j.end(d))
		j.effect = nil
	}
	e.settleModified(now)
	// Jobs are created in clock order, so the expired ones are at the front:
	// a busy region pays for the jobs that expire, not for every job it
	// holds. A clock set backwards only delays forgetting (lookupJob checks
	// the lifetime itself).
	for len(e.jobOrder) > 0 && !now.Before(e.jobOrder[0].created.Add(runtimeJobLifetime)) {
		delete(e.jobs, e.jobOrder[0].id)
		e.jobOrder[0] = nil
		e.jobOrder = e.jobOrder[1:]
	}
}

// startJob registers an authoring job whose effect runs when it ends and
// returns its 202. With no AuthoringJobDuration the effect runs when the
// next request arrives, which is before anyone can observe it.
func (e *Emulator) startJob(c *call, kind, projectName, target string, effect func(j *authJob, at time.Time) *api.Error) (*authJob, reply) {
	j := &authJob{id: authoringJobID(c.now), kind: kind, project: projectName, target: target,
		apiVersion: c.apiVersion, created: c.now, effect: effect}
	e.authJobs[j.id] = j
	return j, accepted(c.url(e.jobPath(j), nil))
}

// jobPath is the status path of j (reference section 2's table).
func (e *Emulator) jobPath(j *authJob) string {
	p := api.ProjectPath(j.project)
	switch j.kind {
	case jobExport:
		return p + "/export/jobs/" + j.id
	case jobImport:
		return p + "/import/jobs/" + j.id
	case jobTrain:
		return p + "/train/jobs/" + j.id
	case jobDeploy:
		return api.DeploymentPath(j.project, j.target) + "/jobs/" + j.id
	case jobSwap:
		return p + "/deployments/swap/jobs/" + j.id
	case jobLoadSnapshot:
		return p + "/models/" + j.target + "/load-snapshot/jobs/" + j.id
	default: // jobDeletion
		return api.AuthoringProjectsPath + "/global/deletion-jobs/" + j.id
	}
}

// lookupAuthJob finds the job of the status URL being read; the kind,
// project and target must match the URL the job was given.
func (e *Emulator) lookupAuthJob(c *call, kind string) (*authJob, reply, bool) {
	id := c.vars["jobId"]
	j, ok := e.authJobs[id]
	if !ok {
		j, ok = e.authJobs[strings.ToLower(id)]
	}
	target := c.vars["deployment"] + c.vars["model"]
	if !ok || j.kind != kind || (kind != jobDeletion && j.project != c.vars["project"]) || j.target != target {
		return nil, failure(http.StatusNotFound, api.CodeNotFound, "The specified job '"+id+"' was not found."), false
	}
	return j, reply{}, true
}

// onProject makes effect the end of a job on its project: a job whose
// project was deleted before the job ended fails with ProjectNotFound.
func (e *Emulator) onProject(effect func(j *authJob, p *project, at time.Time) *api.Error) func(*authJob, time.Time) *api.Error {
	return func(j *authJob, at time.Time) *api.Error {
		p, ok := e.projects[j.project]
		if !ok {
			return errProjectNotFound(j.project)
		}
		return effect(j, p, at)
	}
}

// handleAuthJob serves the status URL of authoring jobs of kind.
func (e *Emulator) handleAuthJob(kind string) func(*call) reply {
	return func(c *call) reply {
		j, rep, found := e.lookupAuthJob(c, kind)
		if !found {
			return rep
		}
		return respond(e.jobState(c, j))
	}
}

// jobState renders j at c.now as Azure does (internal/testkit/recorded): job dates
// in whole seconds, no warnings or errors members until there is something
// to say, except warnings: [] on a finished training job.
func (e *Emulator) jobState(c *call, j *authJob) api.AuthoringJob {
	d := e.opts.AuthoringJobDuration
	final := api.StatusSucceeded
	if j.failed != nil {
		final = api.StatusFailed
	}
	ph := lifecycle(c.now, j.created, d, j.cancelAt, final)
	st := api.AuthoringJob{
		JobID:               j.id,
		CreatedDateTime:     wholeSeconds(j.created),
		LastUpdatedDateTime: wholeSeconds(ph.updated),
		ExpirationDateTime:  wholeSeconds(j.created.Add(authoringJobLifetime)),
		Status:              ph.status,
	}
	if len(j.warnings) > 0 || (j.kind == jobTrain && api.Terminal(ph.status)) {
		st.Warnings = append([]api.Warning{}, j.warnings...)
	}
	if ph.status == api.StatusFailed {
		st.Errors = []api.Error{*j.failed}
	}
	if j.kind == jobExport && ph.status == api.StatusSucceeded {
		st.ResultURL = c.url(e.jobPath(j)+"/result", nil)
	}
	if j.kind == jobTrain {
		st.Result = trainResult(j, ph, d, c.now)
	}
	return st
}

// wholeSeconds is t as Azure writes job and project dates.
func wholeSeconds(t time.Time) time.Time { return t.Truncate(time.Second) }

// trainResult is a training job's result member: training runs in the
// first half of the running phase and evaluation in the second, times have
// seven fractional digits, and estimatedEndDateTime is there only while
// the job runs (as recorded, authoring-train-2025-05-15-preview).
func trainResult(j *authJob, ph phase, d time.Duration, now time.Time) *api.TrainResult {
	version := j.train.TrainingConfigVersion
	if version == "latest" {
		version = latestTrainingConfigVersion
	}
	started := j.created.Add(d / 3)
	evaluating := started.Add(j.end(d).Sub(started) / 2)
	res := &api.TrainResult{
		ModelLabel:            j.train.ModelLabel,
		TrainingConfigVersion: version,
	}
	ticks := func(t time.Time) api.TicksTime { return api.TicksTime{Time: t} }
	ts := &api.SubTaskStatus{Status: ph.status, StartDateTime: ticks(started)}
	es := &api.SubTaskStatus{Status: api.StatusNotStarted}
	switch ph.status {
	case api.StatusNotStarted:
		ts.StartDateTime = api.TicksTime{}
	case api.StatusRunning:
		res.EstimatedEndDateTime = ticks(j.end(d))
		if now.Before(evaluating) {
			ts.PercentComplete = int(100 * now.Sub(started) / max(evaluating.Sub(started), 1))
			break
		}
		ts.PercentComplete, ts.Status, ts.EndDateTime = 100, api.StatusSucceeded, ticks(evaluating)
		es.Status = api.StatusRunning
		es.PercentComplete = int(100 * now.Sub(evaluating) / max(j.end(d).Sub(evaluating), 1))
	case api.StatusSucceeded:
		ts.PercentComplete, ts.Status, ts.EndDateTime = 100, api.StatusSucceeded, ticks(evaluating)
		es.PercentComplete, es.Status, es.StartDateTime, es.EndDateTime = 100, api.StatusSucceeded, ticks(evaluating), ticks(ph.updated)
	default:
		ts.EndDateTime = ticks(ph.updated)
	}
	res.TrainingStatus, res.EvaluationStatus = ts, es
	return res
}

// cancelJob asks j to stop; a job that already ended is left alone.
func (e *Emulator) cancelJob(c *call, j *authJob) {
	if j.effect != nil && j.cancelAt.IsZero() && c.now.Before(j.end(e.opts.AuthoringJobDuration)) {
		j.cancelAt = c.now
	}
}
