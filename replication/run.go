package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// projectRun is one run of one project: a check, and when the project
// drifted and the run may replicate, the copy, then a check again, which
// verifies that the copy took. It holds what the passes of the run share
// and leaves the run's trace in Status, the log, the span and the metrics.
type projectRun struct {
	w *Worker
	p *project
	// replicate is false for a dry run (Check): passes only record.
	replicate bool
	span      trace.Span
	log       *slog.Logger

	replicated bool   // a pass of this run copied the project
	copied     string // the primary's state the last pass copied
	compared   bool   // this run compared the content once
	verdict    string // what this run found, for Status
}

// runProject checks one project and, when replicate is set and it drifted,
// copies it. The caller holds p's lock.
func (w *Worker) runProject(ctx context.Context, p *project, replicate bool) error {
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-w.sem }()

	name := "replication.run"
	if !replicate {
		name = "replication.check"
	}
	ctx, span := w.tracer.Start(ctx, name, trace.WithAttributes(w.projectAttrs(p)...))
	defer span.End()
	r := &projectRun{w: w, p: p, replicate: replicate, span: span,
		log: w.cfg.Logger.With("project", p.name, "secondary_project", p.secondary)}
	return r.passes(ctx)
}

// passes checks the project and copies what drifted until a check finds
// the regions in sync. Each pass checks; a pass after a replication is the
// verification that the copy took, and it records both regions' fresh
// timestamps.
func (r *projectRun) passes(ctx context.Context) error {
	for passNo := 1; ; passNo++ {
		d, err := r.check(ctx)
		if err != nil {
			return err
		}
		if d.inSync() {
			r.inSync(ctx)
			return nil
		}
		r.log.Info("replication check: out of sync", "reasons", d.reasons,
			"reimport", d.reimport, "deployments", len(d.deployments))
		if !r.replicate {
			return nil
		}
		if d.dateMoved && !r.compared {
			same, err := r.compareContent(ctx, d)
			if err != nil {
				return err
			}
			if same {
				// The deployments still decide: check again.
				continue
			}
		}
		if err := r.copy(ctx, d, passNo); err != nil {
			return err
		}
	}
}

// check reads both regions, runs the canary when the secondary holds the
// primary's labels, and records what it found in Status.
func (r *projectRun) check(ctx context.Context) (*drift, error) {
	d, err := r.w.check(ctx, r.p)
	if err != nil {
		return nil, r.readFailed(ctx, err, "replication check failed", r.p.status.checkFailed)
	}
	if !d.reimport {
		// The secondary holds the primary's labels: prove it serves like
		// the primary. (A re-import is checked by the pass after it.)
		if cs := r.w.canary(ctx, r.p, d.primary, d.primaryDeployments); cs != nil {
			d.judgeCanaries(cs, r.w.cfg.CanaryMinAgreement, r.w.cfg.Now())
		}
	}
	if r.verdict == "" || d.diverged {
		r.verdict = d.verdict()
	}
	r.p.status.checked(r.w.cfg.Now(), d, r.verdict)
	return d, nil
}

// compareContent lets the content decide a drift only the primary's date
// shows: Azure moves the date without a label edit (after a deploy), so
// nothing billed happens before the assets are compared. It reports
// whether they are the same; different, the run copies.
func (r *projectRun) compareContent(ctx context.Context, d *drift) (same bool, err error) {
	r.compared = true
	same, err = r.w.compareContent(ctx, r.p, d, r.log)
	if err != nil {
		return false, r.readFailed(ctx, err, "replication failed", r.p.status.failed)
	}
	if !same {
		r.verdict = DriftContentChanged
		r.p.status.verdict(r.verdict, d.file.assetsHash)
		return false, nil
	}
	r.contentSame(ctx, d)
	return true, nil
}

// contentSame records that the secondary holds what the primary holds at
// its moved date: the date is remembered, so the next check does not ask
// again, and the trainings an import would have cost are counted as
// avoided.
func (r *projectRun) contentSame(ctx context.Context, d *drift) {
	k := &knownContent{primaryModified: d.primary.LastModifiedDateTime, assetsHash: d.file.assetsHash}
	if prev := r.p.known.Load(); prev != nil {
		k.labelsAt = prev.labelsAt
	}
	r.p.known.Store(k)
	r.verdict = DriftContentSame
	r.p.status.verdict(r.verdict, d.file.assetsHash)
	r.w.meters.avoided(ctx, r.p.name, trainingsOf(d.deployments))
	r.log.Info("replication: lastModifiedDateTime moved, assets unchanged; nothing imported or trained")
}

// copy replicates what d found drifted: export, documents, import, train,
// deploy (Worker.replicate). Training is billed: a run never trains twice
// for drift its first copy should have covered, so a second copy happens
// only when the primary changed during the first, and at most
// maxPassesPerRun passes in all.
func (r *projectRun) copy(ctx context.Context, d *drift, passNo int) error {
	changed := d.primaryState != r.copied
	if r.replicated && (!changed || passNo > maxPassesPerRun) {
		// A primary that keeps changing, or region clocks far apart, end
		// here.
		err := fmt.Errorf("still out of sync after replicating (%s)", strings.Join(d.reasons, "; "))
		r.p.status.failed(r.w.cfg.Now(), err)
		return r.fail(ctx, err, "replication did not converge")
	}
	if r.replicated {
		r.log.Info("primary changed during replication; copying again")
	}
	if err := r.w.replicate(ctx, r.p, d, r.log); err != nil {
		return r.readFailed(ctx, err, "replication failed", r.p.status.failed)
	}
	if d.file != nil {
		r.p.status.verdict(r.verdict, d.file.assetsHash)
	}
	r.replicated, r.copied = true, d.primaryState
	return nil
}

// inSync records a run that ends with both regions in sync: replicated by
// this run, or found so.
func (r *projectRun) inSync(ctx context.Context) {
	outcome := outcomeInSync
	if r.replicated {
		outcome = outcomeReplicated
		r.log.Info("replication succeeded")
	} else {
		r.log.Info("replication check: in sync", "drift", r.verdict)
	}
	if r.replicate {
		r.w.meters.run(ctx, r.p.name, outcome)
	}
	r.span.SetAttributes(attribute.String("replication.outcome", outcome))
}

// readFailed ends a run whose reading of the primary failed (its project
// at the check, or its export): a project of a kind the worker does not
// replicate is refused; any other failure is a failed step.
func (r *projectRun) readFailed(ctx context.Context, err error, msg string, record func(time.Time, error)) error {
	var refused *UnsupportedKindError
	if errors.As(err, &refused) {
		return r.refuse(ctx, err)
	}
	return r.stepFailed(ctx, err, msg, record)
}

// stepFailed ends a run whose step failed: record puts the failure in
// Status, unless the run was interrupted, which is no failure.
func (r *projectRun) stepFailed(ctx context.Context, err error, msg string, record func(time.Time, error)) error {
	if ctx.Err() == nil {
		record(r.w.cfg.Now(), err)
	}
	return r.fail(ctx, err, msg)
}

// fail ends a failed run in the log, the span and the metrics; stage and
// job come from a step's error. A run stopped by shutdown is interrupted
// instead.
func (r *projectRun) fail(ctx context.Context, err error, msg string) error {
	if ctx.Err() != nil {
		r.p.status.interrupted()
		r.log.Info("replication interrupted", "error", err)
		return err
	}
	endSpan(r.span, err)
	if r.replicate {
		r.w.meters.run(ctx, r.p.name, outcomeFailed)
	}
	l := r.log
	var se *stepError
	if errors.As(err, &se) {
		l = l.With("stage", se.stage, "job_id", se.jobID)
	}
	l.Error(msg, "error", err)
	return err
}

// refuse ends the run of a project of a kind the worker does not
// replicate.
func (r *projectRun) refuse(ctx context.Context, err error) error {
	r.p.status.refused(r.w.cfg.Now(), err)
	endSpan(r.span, err)
	if r.replicate {
		r.w.meters.run(ctx, r.p.name, outcomeFailed) // so the failed-run alert fires
	}
	r.log.Error("replication refused", "error", err)
	return err
}
