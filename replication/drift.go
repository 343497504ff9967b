package replication

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"nergateway/api"
)

// drift is what a check found: both projects as read, and what has to be
// copied.
type drift struct {
	primary   *api.Project
	secondary *api.Project // nil: the secondary lacks the project
	// primaryDeployments are all the primary's deployments, as read.
	primaryDeployments []api.Deployment
	// reimport: the project itself must be exported and imported.
	reimport bool
	// dateMoved: reimport only because the primary's lastModifiedDateTime
	// moved; a content comparison may find nothing to import.
	dateMoved bool
	// missing: the secondary lacks the project.
	missing bool
	// file is the primary's export once this run read it.
	file *projectFile
	// canaries are the canary results of this check; nil when none ran.
	canaries []CanaryStatus
	// diverged: a canary agreed less than the minimum.
	diverged bool
	// deployments are the primary deployments to train and deploy in the
	// secondary: all of them after a re-import, else the drifted ones.
	deployments []api.Deployment
	// reasons say why, for logs.
	reasons []string
	// changedAt is the time of the oldest primary change the secondary
	// lacks, for the lag.
	changedAt time.Time
	// primaryState sums up what was read from the primary, so a run can
	// tell whether the primary changed while it copied.
	primaryState string
}

func (d *drift) inSync() bool { return !d.reimport && len(d.deployments) == 0 }

// verdict names what the check found about the project itself, for Status.
func (d *drift) verdict() string {
	switch {
	case d.diverged:
		return DriftCanaryDiverged
	case d.missing:
		return DriftMissing
	case d.dateMoved:
		return DriftDateMoved
	}
	return DriftNone
}

// knownContent is what a project's last import or content comparison
// established: the secondary holds the assets the primary had when its
// lastModifiedDateTime was primaryModified.
type knownContent struct {
	primaryModified time.Time
	// labelsAt is the primary's lastModifiedDateTime of the last import:
	// a secondary model trained before it was trained on older labels.
	// Zero when this process imported nothing.
	labelsAt   time.Time
	assetsHash string
}

// trainingsOf is how many trainings copying deployments takes: one per
// model, however many deployments serve it.
func trainingsOf(deployments []api.Deployment) int {
	models := map[string]bool{}
	for _, d := range deployments {
		models[d.ModelID] = true
	}
	return len(models)
}

// addChange notes a reason and moves changedAt back to t when t is older.
func (d *drift) addChange(t time.Time, reason string) {
	d.reasons = append(d.reasons, reason)
	if !t.IsZero() && (d.changedAt.IsZero() || t.Before(d.changedAt)) {
		d.changedAt = t
	}
}

// holds reports whether k is about the primary project as it is now: the
// secondary is known to hold the assets the primary has at pp's date.
func (k *knownContent) holds(pp *api.Project) bool {
	return k != nil && pp.LastModifiedDateTime.Equal(k.primaryModified)
}

// check reads the project and its deployments in both regions and decides
// what to copy. It only sends GETs. Any failed read is an error: acting on a
// half-read primary could copy the wrong thing, and on a half-read secondary
// could retrain what is already there.
func (w *Worker) check(ctx context.Context, p *project) (*drift, error) {
	d, err := w.readPrimary(ctx, p)
	if err != nil {
		return nil, err
	}
	// What this process learnt the secondary holds. An import is newer
	// than any change made to the primary while it was being exported, and
	// Azure moves lastModifiedDateTime after a deploy with no label edit,
	// so the secondary's date alone can neither clear nor condemn the
	// primary's.
	known := p.known.Load()
	if err := w.projectDrift(ctx, p, d, known); err != nil {
		return nil, err
	}
	if d.reimport {
		// An import replaces the project, models and all: every
		// deployment has to be trained and deployed again.
		d.deployments = d.primaryDeployments
		return d, nil
	}
	// labelsAt is the primary date of labels this process imported, to
	// retrain after an import whose training failed. Without that memory
	// (a restart, `replicate --once`) the deployments' own dates decide: a
	// primary model trained on newer labels is newer than the secondary's.
	var labelsAt time.Time
	if known.holds(d.primary) {
		labelsAt = known.labelsAt
	}
	if err := w.deploymentDrift(ctx, p, d, labelsAt); err != nil {
		return nil, err
	}
	return d, nil
}

// readPrimary reads the primary's project and deployments, and refuses a
// project of a kind the worker does not replicate before anything else is
// read.
func (w *Worker) readPrimary(ctx context.Context, p *project) (*drift, error) {
	pp, err := call(ctx, w.cfg.CallTimeout, func(ctx context.Context) (*api.Project, error) {
		return w.cfg.Primary.GetProject(ctx, p.name)
	})
	if err != nil {
		return nil, fmt.Errorf("read primary project: %w", err)
	}
	pds, err := call(ctx, w.cfg.CallTimeout, func(ctx context.Context) ([]api.Deployment, error) {
		return w.cfg.Primary.ListDeployments(ctx, p.name)
	})
	if err != nil {
		return nil, fmt.Errorf("list primary deployments: %w", err)
	}
	if !supportedKind(pp.ProjectKind) {
		return nil, &UnsupportedKindError{Project: p.name, Kind: pp.ProjectKind}
	}
	return &drift{primary: pp, primaryDeployments: pds, primaryState: primaryState(pp, pds)}, nil
}

// projectDrift reads the secondary's project and decides whether the
// project itself has to be exported and imported: the secondary lacks it,
// or the primary's date moved past what the secondary is known to hold (a
// question the content answers later, see drift.dateMoved).
func (w *Worker) projectDrift(ctx context.Context, p *project, d *drift, known *knownContent) error {
	pp := d.primary
	sp, err := call(ctx, w.cfg.CallTimeout, func(ctx context.Context) (*api.Project, error) {
		return w.cfg.Secondary.GetProject(ctx, p.secondary)
	})
	switch {
	case api.IsNotFound(err):
		d.reimport, d.missing = true, true
		d.addChange(pp.LastModifiedDateTime, "secondary lacks the project")
	case err != nil:
		return fmt.Errorf("read secondary project: %w", err)
	default:
		d.secondary = sp
		if known.holds(pp) {
			break
		}
		if pp.LastModifiedDateTime.After(sp.LastModifiedDateTime) {
			d.reimport, d.dateMoved = true, true
			d.addChange(pp.LastModifiedDateTime, "primary project modified after the last import")
		} else if known != nil {
			d.reimport, d.dateMoved = true, true
			d.addChange(pp.LastModifiedDateTime, "primary project changed since its content was last copied")
		}
	}
	return nil
}

// deploymentDrift reads the secondary's deployments and adds to d the
// primary deployments the secondary lacks or serves older: judged by the
// deployments' dates, and by labelsAt, the primary date of labels this
// process imported (zero: none).
func (w *Worker) deploymentDrift(ctx context.Context, p *project, d *drift, labelsAt time.Time) error {
	sds, err := call(ctx, w.cfg.CallTimeout, func(ctx context.Context) ([]api.Deployment, error) {
		return w.cfg.Secondary.ListDeployments(ctx, p.secondary)
	})
	if err != nil {
		return fmt.Errorf("list secondary deployments: %w", err)
	}
	byName := make(map[string]api.Deployment, len(sds))
	for _, sd := range sds {
		byName[sd.DeploymentName] = sd
	}
	for _, pd := range d.primaryDeployments {
		to := secondaryName(w.cfg.DeploymentNames, pd.DeploymentName)
		sd, ok := byName[to]
		switch {
		case !ok:
			d.addChange(latest(pd.LastTrainedDateTime, pd.LastDeployedDateTime),
				fmt.Sprintf("secondary lacks deployment %q", to))
		case pd.LastTrainedDateTime.After(sd.LastTrainedDateTime):
			d.addChange(pd.LastTrainedDateTime, fmt.Sprintf("deployment %q retrained in the primary", pd.DeploymentName))
		case pd.LastDeployedDateTime.After(sd.LastDeployedDateTime):
			d.addChange(pd.LastDeployedDateTime, fmt.Sprintf("deployment %q redeployed in the primary", pd.DeploymentName))
		case sd.LastTrainedDateTime.Before(labelsAt):
			// The secondary serves a model trained before the labels
			// this process imported: the run that imported them failed
			// to train. The deployments' timestamps alone would call
			// that in sync. (Not the primary's date: Azure moves it
			// after a deploy with the labels unchanged.)
			d.addChange(labelsAt, fmt.Sprintf("deployment %q serves a model older than the primary's labels", to))
		default:
			continue
		}
		d.deployments = append(d.deployments, pd)
	}
	return nil
}

// judgeCanaries records the canaries in d; one below the minimum agreement
// makes the project diverged, to be exported, imported, trained and
// deployed again: the secondary serves something else than the primary,
// whatever its timestamps say.
func (d *drift) judgeCanaries(cs []CanaryStatus, minAgreement float64, now time.Time) {
	d.canaries = cs
	for _, c := range cs {
		if c.Agreement < minAgreement {
			d.diverged, d.reimport = true, true
			d.deployments = d.primaryDeployments
			d.addChange(now, fmt.Sprintf("canary of deployment %q agrees %.2f, below %.2f", c.Deployment, c.Agreement, minAgreement))
		}
	}
}

// primaryState is a fingerprint of the primary's project and deployments.
func primaryState(pp *api.Project, pds []api.Deployment) string {
	parts := []string{pp.LastModifiedDateTime.UTC().Format(time.RFC3339Nano)}
	for _, d := range pds {
		parts = append(parts, d.DeploymentName+"="+d.ModelID+"@"+
			d.LastTrainedDateTime.UTC().Format(time.RFC3339Nano)+"/"+d.LastDeployedDateTime.UTC().Format(time.RFC3339Nano))
	}
	slices.Sort(parts[1:])
	return strings.Join(parts, ";")
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// call runs one authoring call under its own timeout, so a hung connection
// cannot hold a run until the step timeout.
func call[T any](ctx context.Context, timeout time.Duration, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return f(ctx)
}
