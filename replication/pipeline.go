package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"nergateway/api"
	"nergateway/internal/sleep"
)

// stepError is a failed step: which one, which Azure job, and why.
type stepError struct {
	stage, jobID string
	err          error
}

func (e *stepError) Error() string {
	if e.jobID != "" {
		return fmt.Sprintf("%s (job %s): %v", e.stage, e.jobID, e.err)
	}
	return fmt.Sprintf("%s: %v", e.stage, e.err)
}

func (e *stepError) Unwrap() error { return e.err }

// replicate copies what d found drifted: export and import when the project
// changed, then training and deployment.
func (w *Worker) replicate(ctx context.Context, p *project, d *drift, log *slog.Logger) error {
	if d.reimport || (w.cfg.Documents != nil && len(d.deployments) > 0) {
		// Training reads the documents the project names, and only the
		// export names them: a retrain alone exports too when documents
		// are synced. A content comparison of this run already exported.
		file := d.file
		if file == nil {
			var err error
			if file, err = w.export(ctx, p, log); err != nil {
				return err
			}
			d.file = file
		}
		if err := w.syncDocuments(ctx, p, file, log); err != nil {
			return err
		}
		if !d.reimport {
			return w.trainAndDeploy(ctx, p, d.deployments, log)
		}
		if err := w.importProject(ctx, p, file, log); err != nil {
			return err
		}
		// What the check read before exporting: if the primary changed
		// in between, the next check compares the content once more than
		// needed, never once fewer.
		at := d.primary.LastModifiedDateTime
		p.known.Store(&knownContent{primaryModified: at, labelsAt: at, assetsHash: file.assetsHash})
	}
	return w.trainAndDeploy(ctx, p, d.deployments, log)
}

// compareContent decides a moved lastModifiedDateTime by content: it
// exports the primary project (kept in d for the import that may follow)
// and reports whether its assets hash like those the secondary holds. This
// process knows that hash after an import or a comparison; otherwise (a
// restart, `replicate --once`) the secondary's project is exported too, so
// nothing has to be kept between runs. Exports are not billed; the
// training an import forces is.
func (w *Worker) compareContent(ctx context.Context, p *project, d *drift, log *slog.Logger) (same bool, err error) {
	pf, err := w.export(ctx, p, log)
	if err != nil {
		return false, err
	}
	d.file = pf
	held := ""
	if k := p.known.Load(); k != nil {
		held = k.assetsHash
	}
	if held == "" {
		sf, err := w.exportFile(ctx, p, w.onSecondary(StageCompare), p.secondary, log)
		if err != nil {
			return false, err
		}
		held = sf.assetsHash
	}
	log.Info("replication content compared", "primary_assets", pf.assetsHash, "secondary_assets", held)
	return pf.assetsHash == held, nil
}

// export exports the primary project and downloads it whole. Any failure
// stops the run before the secondary is touched.
func (w *Worker) export(ctx context.Context, p *project, log *slog.Logger) (*projectFile, error) {
	f, err := w.exportFile(ctx, p, w.onPrimary(StageExport), p.name, log)
	if err != nil {
		return nil, err
	}
	p.labelled.Store(ptr(f.firstLabelled(w.cfg.CanaryDocs)))
	return f, nil
}

// exportFile runs an export step s of project in s's region and reads the
// file it produced. A kind the worker does not replicate is refused here
// too, in case the project was recreated since the check read it.
func (w *Worker) exportFile(ctx context.Context, p *project, s stepSpec, project string, log *slog.Logger) (*projectFile, error) {
	var file *projectFile
	s.start = func(ctx context.Context) (*api.Operation, error) { return s.region.Export(ctx, project) }
	s.done = func(ctx context.Context, job *api.AuthoringJob) error {
		if job.ResultURL == "" {
			return errors.New("export job succeeded without a resultUrl")
		}
		// The download gets the rest of the step's time, not one call's:
		// a large project is a large body.
		raw, err := s.region.ExportFile(ctx, job.ResultURL)
		if err != nil {
			return err
		}
		f, err := parseProjectFile(raw)
		if err != nil {
			return err
		}
		if !supportedKind(f.kind) {
			return &UnsupportedKindError{Project: project, Kind: f.kind}
		}
		file = f
		return nil
	}
	return file, w.step(ctx, p, s, log)
}

// syncDocuments makes every document f names present in the secondary
// container with the primary's content (Config.Documents), before anything
// is imported or trained.
func (w *Worker) syncDocuments(ctx context.Context, p *project, f *projectFile, log *slog.Logger) (err error) {
	if w.cfg.Documents == nil {
		return nil
	}
	from := f.container
	to := firstNonEmpty(w.cfg.SecondaryContainer, from)
	names := f.documents
	ctx, span := w.tracer.Start(ctx, "replication."+StageDocuments, trace.WithAttributes(append(w.projectAttrs(p),
		attribute.Bool("replication.documents.copy", w.cfg.Documents.Copy),
		attribute.Int("replication.documents.named", len(names)))...))
	defer span.End()
	p.status.stage(StageDocuments)
	log = log.With("stage", StageDocuments, "copy", w.cfg.Documents.Copy)
	s := *w.cfg.Documents
	s.OnProgress = p.status.documents
	progress, err := s.Sync(ctx, from, to, names)
	span.SetAttributes(attribute.Int("replication.documents.checked", progress.Checked),
		attribute.Int("replication.documents.copied", progress.Copied),
		attribute.Int("replication.documents.missing", progress.Missing))
	if err != nil {
		err = &stepError{stage: StageDocuments, err: scrub(err)}
		endSpan(span, err)
		log.Warn("replication step failed", "error", err)
		return err
	}
	log.Info("replication step succeeded", "checked", progress.Checked, "copied", progress.Copied)
	return nil
}

// importProject imports the exported file into the secondary under its
// mapped name and container. Only those two members are rewritten; every
// other byte is imported as exported.
func (w *Worker) importProject(ctx context.Context, p *project, f *projectFile, log *slog.Logger) error {
	body, err := f.forImport(p.secondary, w.cfg.SecondaryContainer)
	if err != nil {
		return &stepError{stage: StageImport, err: err}
	}
	s := w.onSecondary(StageImport)
	s.start = func(ctx context.Context) (*api.Operation, error) {
		return w.cfg.Secondary.ImportFile(ctx, p.secondary, body)
	}
	return w.step(ctx, p, s, log)
}

// trainAndDeploy trains, in the secondary, the model behind each given
// primary deployment and deploys it under the mapped deployment name. A
// model that backs several deployments is trained once.
func (w *Worker) trainAndDeploy(ctx context.Context, p *project, deployments []api.Deployment, log *slog.Logger) error {
	if len(deployments) == 0 {
		return nil
	}
	models, err := call(ctx, w.cfg.CallTimeout, func(ctx context.Context) ([]api.TrainedModel, error) {
		return w.cfg.Primary.ListModels(ctx, p.name)
	})
	if err != nil {
		return &stepError{stage: StageTrain, err: fmt.Errorf("list primary models: %w", err)}
	}
	// A deployment names its model only by modelId; the label is found
	// through the models, never parsed out of the id.
	byID := make(map[string]api.TrainedModel, len(models))
	for _, m := range models {
		byID[m.ModelID] = m
	}
	trained := map[string]bool{}
	for _, pd := range deployments {
		m, ok := byID[pd.ModelID]
		if !ok {
			return &stepError{stage: StageTrain, err: fmt.Errorf(
				"primary deployment %q serves model %q, which the primary's model list lacks", pd.DeploymentName, pd.ModelID)}
		}
		if !trained[m.Label] {
			if err := w.train(ctx, p, m, pd, log); err != nil {
				return err
			}
			trained[m.Label] = true
		}
		if err := w.deploy(ctx, p, pd, m.Label, log); err != nil {
			return err
		}
	}
	return nil
}

// train trains the primary's model label in the secondary with the same
// training config version. Evaluation options are left to Azure's default
// (percentage 80/20): the primary's choice is not readable.
func (w *Worker) train(ctx context.Context, p *project, m api.TrainedModel, pd api.Deployment, log *slog.Logger) error {
	req := api.TrainRequest{
		ModelLabel:            m.Label,
		TrainingConfigVersion: firstNonEmpty(m.ModelTrainingConfigVersion, pd.ModelTrainingConfigVersion, w.cfg.TrainingConfigVersion),
	}
	s := w.onSecondary(StageTrain)
	s.attrs = []attribute.KeyValue{
		attribute.String("replication.model_label", req.ModelLabel),
		attribute.String("replication.training_config_version", req.TrainingConfigVersion),
	}
	s.start = func(ctx context.Context) (*api.Operation, error) { return w.cfg.Secondary.Train(ctx, p.secondary, req) }
	return w.step(ctx, p, s, log.With("model_label", m.Label))
}

// deploy deploys label under the mapped name of the primary deployment pd,
// replacing what that deployment served.
func (w *Worker) deploy(ctx context.Context, p *project, pd api.Deployment, label string, log *slog.Logger) error {
	to := secondaryName(w.cfg.DeploymentNames, pd.DeploymentName)
	s := w.onSecondary(StageDeploy)
	s.attrs = []attribute.KeyValue{
		attribute.String("replication.deployment", to),
		attribute.String("replication.model_label", label),
	}
	s.start = func(ctx context.Context) (*api.Operation, error) {
		return w.cfg.Secondary.Deploy(ctx, p.secondary, to, api.DeployRequest{TrainedModelLabel: label})
	}
	return w.step(ctx, p, s, log.With("deployment", to, "model_label", label))
}

// stepSpec is one long-running authoring operation of a run.
type stepSpec struct {
	stage      string
	region     Authoring
	regionName string
	posts      *rate.Limiter // the region's POST/PUT pacing
	attrs      []attribute.KeyValue
	// start sends the POST/PUT that starts the operation.
	start func(context.Context) (*api.Operation, error)
	// done, if not nil, finishes the step with the succeeded job.
	done func(context.Context, *api.AuthoringJob) error
}

func (w *Worker) onPrimary(stage string) stepSpec {
	return stepSpec{stage: stage, region: w.cfg.Primary, regionName: w.cfg.PrimaryName, posts: w.primaryPosts}
}

func (w *Worker) onSecondary(stage string) stepSpec {
	return stepSpec{stage: stage, region: w.cfg.Secondary, regionName: w.cfg.SecondaryName, posts: w.secondaryPosts}
}

// step runs s under the step timeout and its own span: pace, start, record
// the job id, wait, then done.
func (w *Worker) step(ctx context.Context, p *project, s stepSpec, log *slog.Logger) (err error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.StepTimeout)
	defer cancel()
	attrs := append(w.projectAttrs(p), attribute.String("replication.region", s.regionName))
	ctx, span := w.tracer.Start(ctx, "replication."+s.stage, trace.WithAttributes(append(attrs, s.attrs...)...))
	defer span.End()
	p.status.stage(s.stage)
	log = log.With("stage", s.stage, "region", s.regionName)

	var jobID string
	defer func() {
		if err != nil {
			err = &stepError{stage: s.stage, jobID: jobID, err: err}
			endSpan(span, err)
		}
	}()

	op, err := w.startPaced(ctx, s.posts, s.start)
	if err != nil {
		return err
	}
	jobID = op.JobID
	span.SetAttributes(attribute.String("azure.job_id", jobID))
	p.status.job(jobID)
	log.Info("replication step started", "job_id", jobID)

	job, err := s.region.Wait(ctx, op, func(j *api.AuthoringJob) {
		if j.JobID != "" && j.JobID != jobID {
			jobID = j.JobID
			span.SetAttributes(attribute.String("azure.job_id", jobID))
			p.status.job(jobID)
		}
	})
	if err != nil {
		log.Warn("replication step failed", "job_id", jobID, "error", err)
		return err
	}
	if s.done != nil {
		if err := s.done(ctx, job); err != nil {
			return err
		}
	}
	log.Info("replication step succeeded", "job_id", jobID)
	return nil
}

// startPaced waits for the region's POST budget and starts an operation. The
// client already waits out a 429's Retry-After a few times; a 429 that
// outlives those retries is waited out here too, for as long as the step
// may take, because a busy resource is not a failed replication.
func (w *Worker) startPaced(ctx context.Context, posts *rate.Limiter,
	start func(context.Context) (*api.Operation, error)) (*api.Operation, error) {
	backoff := time.Minute / time.Duration(w.cfg.AuthoringPostsPerMinute)
	for {
		if err := posts.Wait(ctx); err != nil {
			return nil, fmt.Errorf("waiting for the authoring rate limit: %w", err)
		}
		op, err := call(ctx, w.cfg.CallTimeout, start)
		var ae *api.Error
		if err == nil || !errors.As(err, &ae) || ae.StatusCode != http.StatusTooManyRequests {
			return op, err
		}
		if err := sleep.For(ctx, backoff); err != nil {
			return nil, fmt.Errorf("waiting out 429 (%w): %w", ae, err)
		}
		backoff = min(2*backoff, time.Minute)
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
