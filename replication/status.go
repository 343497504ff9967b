package replication

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"nergateway/api"
	hostscrub "nergateway/internal/scrub"
	"nergateway/replication/docsync"
)

// States of a project, as /status shows them.
const (
	// StateUnknown: not checked yet, or the last check could not read
	// both regions and nothing was known before.
	StateUnknown = "unknown"
	// StateInSync: the last check found nothing to copy.
	StateInSync = "in-sync"
	// StateOutOfSync: the last check found drift and no run is copying it
	// (a check-only pass, or a run that was interrupted by shutdown).
	StateOutOfSync = "out-of-sync"
	// StateReplicating: a run is copying the project; Stage and JobID say
	// where it is.
	StateReplicating = "replicating"
	// StateDiverged: the last check's canary found the secondary answering
	// unlike the primary (Canary says where); the next run copies the
	// project again.
	StateDiverged = "diverged"
	// StateFailed: the last run failed; LastError says why. Run retries it
	// after Config.RetryMin, doubling per failure in a row up to Interval.
	StateFailed = "failed"
	// StateRefused: the project's kind is not one the worker replicates
	// (SupportedKinds); LastError (code UnsupportedProjectKind) names it.
	// Nothing is written to the secondary; the next regular check reads
	// the kind again.
	StateRefused = "refused"
)

// Drift verdicts: what the last check or run found about the project
// itself (its labels), as Status shows them. Deployments drift apart from
// this.
const (
	// DriftNone: the primary's lastModifiedDateTime is the one whose
	// content the secondary is known to hold (or older than the
	// secondary's).
	DriftNone = "none"
	// DriftMissing: the secondary lacks the project; it is imported.
	DriftMissing = "secondary-missing"
	// DriftDateMoved: the primary's lastModifiedDateTime moved and a check
	// alone (no run) did not compare the content.
	DriftDateMoved = "date-moved"
	// DriftContentSame: the date moved, but the primary's assets hash like
	// the secondary's: nothing was imported or trained, and the new date
	// is remembered as holding that content.
	DriftContentSame = "date-moved-content-same"
	// DriftContentChanged: the assets differ; the project was imported and
	// trained again.
	DriftContentChanged = "content-changed"
	// DriftCanaryDiverged: the canary found the secondary answering
	// unlike the primary; the project is copied again.
	DriftCanaryDiverged = "canary-diverged"
)

// Stages of a replication run.
const (
	StageExport = "export"
	// StageCompare exports the secondary's project to compare its assets
	// with the primary's, when only the primary's date moved.
	StageCompare = "compare"
	// StageDocuments syncs the training documents (Config.Documents).
	StageDocuments = "documents"
	StageImport    = "import"
	StageTrain     = "train"
	StageDeploy    = "deploy"
)

// ProjectStatus is one project's replication state for /status. Times are
// UTC; pointers are nil when not known yet.
type ProjectStatus struct {
	Project          string `json:"project"`
	SecondaryProject string `json:"secondaryProject"`
	// State is one of the State* constants.
	State string `json:"state"`
	// Stage is the step running (replicating) or the step that failed
	// (failed); empty otherwise, and for a failure while checking.
	Stage string `json:"stage,omitempty"`
	// JobID is Azure's id of the authoring job of Stage.
	JobID                 string     `json:"jobId,omitempty"`
	PrimaryLastModified   *time.Time `json:"primaryLastModified,omitempty"`
	SecondaryLastModified *time.Time `json:"secondaryLastModified,omitempty"`
	// Drift is the last verdict on the project's content (Drift*
	// constants): why it was or was not imported.
	Drift string `json:"drift,omitempty"`
	// AssetsHash is the SHA-256 of the primary's assets in canonical JSON
	// (members sorted by name) as last exported by a run.
	AssetsHash string `json:"assetsHash,omitempty"`
	// LagSeconds is how long the oldest primary change the secondary lacks
	// has been waiting; zero when in sync.
	LagSeconds float64 `json:"lagSeconds"`
	// Documents counts the training documents of the last document sync
	// (Config.Documents): checked, copied, and still missing.
	Documents *docsync.Progress `json:"documents,omitempty"`
	// Canary is the last canary of each replicated deployment.
	Canary      []CanaryStatus `json:"canary,omitempty"`
	LastCheck   *time.Time     `json:"lastCheck,omitempty"`
	LastSuccess *time.Time     `json:"lastSuccess,omitempty"`
	LastError   *StatusError   `json:"lastError,omitempty"`
}

// StatusError is the error of a project's last failed run: Azure's error
// code and message when Azure gave one.
type StatusError struct {
	Code    string    `json:"code"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// Codes for failures that did not come with an Azure error.
const (
	CodeTimeout  = "Timeout"
	CodeCanceled = "Canceled"
	CodeFailed   = "ReplicationFailed"
	// CodeStorage: a storage request failed without a service error code
	// (unreachable, or an answer without one).
	CodeStorage = "StorageUnavailable"
)

// newStatusError turns err into what /status shows: the code and message of
// the innermost Azure error when there is one (errors.As finds it through a
// failed job's *api.JobFailedError), else a generic code and err's text.
func newStatusError(err error, at time.Time) *StatusError {
	var (
		ae *api.Error
		me *docsync.MissingError
		se *docsync.Error
	)
	var uk *UnsupportedKindError
	switch {
	case errors.As(err, &uk):
		return &StatusError{Code: CodeUnsupportedKind, Message: hostscrub.Text(err.Error()), At: at}
	case errors.As(err, &me):
		return &StatusError{Code: docsync.CodeDocumentsMissing, Message: hostscrub.Text(err.Error()), At: at}
	case errors.As(err, &se) && se.Code != "":
		return &StatusError{Code: se.Code, Message: hostscrub.Text(err.Error()), At: at}
	case errors.As(err, &se):
		return &StatusError{Code: CodeStorage, Message: hostscrub.Text(err.Error()), At: at}
	case errors.As(err, &ae):
		return &StatusError{Code: hostscrub.Text(ae.Code), Message: hostscrub.Text(ae.Message), At: at}
	case errors.Is(err, context.DeadlineExceeded):
		return &StatusError{Code: CodeTimeout, Message: hostscrub.Text(err.Error()), At: at}
	case errors.Is(err, context.Canceled):
		return &StatusError{Code: CodeCanceled, Message: hostscrub.Text(err.Error()), At: at}
	}
	return &StatusError{Code: CodeFailed, Message: hostscrub.Text(err.Error()), At: at}
}

// tracker holds one project's status. Its methods are the only writers.
type tracker struct {
	mu sync.Mutex
	st ProjectStatus
	// changedAt is the time of the oldest primary change the secondary
	// lacks; zero when in sync or unknown. Lag is measured from it.
	changedAt time.Time
}

func newTracker(project, secondary string) *tracker {
	return &tracker{st: ProjectStatus{Project: project, SecondaryProject: secondary, State: StateUnknown}}
}

// snapshot returns a copy of the status with the lag as of now.
func (t *tracker) snapshot(now time.Time) ProjectStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.st
	s.PrimaryLastModified = clonePtr(s.PrimaryLastModified)
	s.SecondaryLastModified = clonePtr(s.SecondaryLastModified)
	s.LastCheck = clonePtr(s.LastCheck)
	s.LastSuccess = clonePtr(s.LastSuccess)
	s.Documents = clonePtr(s.Documents)
	s.Canary = slices.Clone(s.Canary)
	if s.LastError != nil {
		e := *s.LastError
		s.LastError = &e
	}
	s.LagSeconds = t.lag(now)
	return s
}

// canaries returns the last canary results; the metric callback reads them.
func (t *tracker) canaries() []CanaryStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.st.Canary)
}

// lagSeconds is the lag as of now; the metric callback reads it.
func (t *tracker) lagSeconds(now time.Time) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lag(now)
}

func (t *tracker) lag(now time.Time) float64 {
	if t.st.State == StateInSync || t.changedAt.IsZero() {
		return 0
	}
	return max(now.Sub(t.changedAt).Seconds(), 0)
}

// checked records what a check found, and the run's verdict so far.
func (t *tracker) checked(at time.Time, d *drift, verdict string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st.LastCheck = ptr(at.UTC())
	t.st.Drift = verdict
	t.st.PrimaryLastModified = timePtr(d.primary.LastModifiedDateTime)
	t.st.SecondaryLastModified = nil
	if d.secondary != nil {
		t.st.SecondaryLastModified = timePtr(d.secondary.LastModifiedDateTime)
	}
	t.st.Stage, t.st.JobID = "", ""
	if d.canaries != nil {
		t.st.Canary = d.canaries
	}
	if d.inSync() {
		t.st.State = StateInSync
		t.changedAt = time.Time{}
		t.st.LastSuccess = ptr(at.UTC())
		t.st.LastError = nil
		return
	}
	t.st.State = StateOutOfSync
	if d.diverged {
		t.st.State = StateDiverged
	}
	t.changedAt = d.changedAt
}

// checkFailed records a check that could not read both regions; what was
// known before stays.
func (t *tracker) checkFailed(at time.Time, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.checkEnded(at, StateFailed, err)
}

// verdict records a run's verdict on the content and the hash it rests on.
func (t *tracker) verdict(verdict, assetsHash string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st.Drift, t.st.AssetsHash = verdict, assetsHash
}

// refused records a project of a kind the worker does not replicate.
func (t *tracker) refused(at time.Time, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.checkEnded(at, StateRefused, err)
	t.changedAt = time.Time{}
}

// checkEnded records a check that ended at at in state, with err and no
// verdict: no step runs. The caller holds t.mu.
func (t *tracker) checkEnded(at time.Time, state string, err error) {
	t.st.LastCheck = ptr(at.UTC())
	t.st.State, t.st.Stage, t.st.JobID = state, "", ""
	t.st.LastError = newStatusError(err, at.UTC())
}

// stage records that a run started a step.
func (t *tracker) stage(stage string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st.State, t.st.Stage, t.st.JobID = StateReplicating, stage, ""
}

// documents records a document sync's counts as they change.
func (t *tracker) documents(p docsync.Progress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st.Documents = &p
}

// job records the authoring job of the running step.
func (t *tracker) job(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.st.State == StateReplicating {
		t.st.JobID = id
	}
}

// failed records a run that failed in the current stage; the stage and job
// id stay so an operator sees which step and job failed.
func (t *tracker) failed(at time.Time, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st.State = StateFailed
	t.st.LastError = newStatusError(err, at.UTC())
}

// interrupted records a run stopped by shutdown: the drift is still there
// but nothing failed.
func (t *tracker) interrupted() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.st.State == StateReplicating {
		t.st.State, t.st.Stage, t.st.JobID = StateOutOfSync, "", ""
	}
}

func ptr[T any](v T) *T { return &v }

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return ptr(t.UTC())
}
