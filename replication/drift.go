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

// addChange notes a reason and moves changedAt back to t when t is older.
func (d *drift) addChange(t time.Time, reason string) {
	d.reasons = append(d.reasons, reason)
	if !t.IsZero() && (d.changedAt.IsZero() || t.Before(d.changedAt)) {
		d.changedAt = t
	}
}

// check reads the project and its deployments in both regions and decides
// what to copy. It only sends GETs. Any failed read is an error: acting on a
// half-read primary could copy the wrong thing, and on a half-read secondary
// could retrain what is already there.
func (w *Worker) check(ctx context.Context, p *project) (*drift, error) {
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
	d := &drift{primary: pp, primaryDeployments: pds, primaryState: primaryState(pp, pds)}
	// An import is newer than any change made to the primary while it
	// was being exported, so compare with what the last import copied too.
	ex := p.exported.Load()
	changedSinceImport := ex != nil && !pp.LastModifiedDateTime.Equal(*ex)

	sp, err := call(ctx, w.cfg.CallTimeout, func(ctx context.Context) (*api.Project, error) {
		return w.cfg.Secondary.GetProject(ctx, p.secondary)
	})
	switch {
	case api.IsNotFound(err):
		d.reimport = true
		d.addChange(pp.LastModifiedDateTime, "secondary lacks the project")
	case err != nil:
		return nil, fmt.Errorf("read secondary project: %w", err)
	default:
		d.secondary = sp
		if pp.LastModifiedDateTime.After(sp.LastModifiedDateTime) {
			d.reimport = true
			d.addChange(pp.LastModifiedDateTime, "primary project modified after the last import")
		} else if changedSinceImport {
			d.reimport = true
			d.addChange(pp.LastModifiedDateTime, "primary project changed during the last run")
		}
	}
	if d.reimport {
		// An import replaces the project, models and all: every
		// deployment has to be trained and deployed again.
		d.deployments = pds
		return d, nil
	}

	sds, err := call(ctx, w.cfg.CallTimeout, func(ctx context.Context) ([]api.Deployment, error) {
		return w.cfg.Secondary.ListDeployments(ctx, p.secondary)
	})
	if err != nil {
		return nil, fmt.Errorf("list secondary deployments: %w", err)
	}
	byName := make(map[string]api.Deployment, len(sds))
	for _, sd := range sds {
		byName[sd.DeploymentName] = sd
	}
	for _, pd := range pds {
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
		case sd.LastTrainedDateTime.Before(pp.LastModifiedDateTime):
			// The secondary serves a model trained before the primary's
			// current labels: a run imported them and then failed to
			// train. The deployments' timestamps alone would call that
			// in sync.
			d.addChange(pp.LastModifiedDateTime, fmt.Sprintf("deployment %q serves a model older than the primary's labels", to))
		default:
			continue
		}
		d.deployments = append(d.deployments, pd)
	}
	return d, nil
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
