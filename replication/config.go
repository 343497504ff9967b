package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"nergateway/api"
	"nergateway/replication/docsync"
)

// Authoring is what the worker needs from one region's authoring API. It is
// declared here, not in api, so tests can hand the worker a fake; *api.Client
// satisfies it.
type Authoring interface {
	GetProject(ctx context.Context, name string) (*api.Project, error)
	ListDeployments(ctx context.Context, project string) ([]api.Deployment, error)
	ListModels(ctx context.Context, project string) ([]api.TrainedModel, error)
	Export(ctx context.Context, project string) (*api.Operation, error)
	// ExportFile and ImportFile carry the exported project as bytes, so
	// what the secondary imports is what the primary exported.
	ExportFile(ctx context.Context, resultURL string) ([]byte, error)
	ImportFile(ctx context.Context, project string, file []byte) (*api.Operation, error)
	Train(ctx context.Context, project string, r api.TrainRequest) (*api.Operation, error)
	Deploy(ctx context.Context, project, deployment string, r api.DeployRequest) (*api.Operation, error)
	Wait(ctx context.Context, op *api.Operation, onPoll func(*api.AuthoringJob)) (*api.AuthoringJob, error)
}

var _ Authoring = (*api.Client)(nil)

// Defaults of Config; each applies when its field is zero.
const (
	DefaultInterval                = 24 * time.Hour
	DefaultRetryMin                = time.Minute
	DefaultMaxConcurrentProjects   = 2
	DefaultCallTimeout             = 30 * time.Second
	DefaultStepTimeout             = 2 * time.Hour
	DefaultAuthoringPostsPerMinute = 10
	DefaultTrainingConfigVersion   = "latest"
)

// Config is what New needs. Only Primary and Secondary are required.
type Config struct {
	// Primary is the region projects are copied from; it is only read,
	// apart from starting export jobs.
	Primary Authoring
	// Secondary is the region projects are copied to.
	Secondary Authoring
	// PrimaryName and SecondaryName label the regions in logs, spans and
	// metrics; empty means "primary" and "secondary".
	PrimaryName, SecondaryName string

	// Projects are the primary's project names to keep replicated
	// (PROJECT_NAMES). Empty means there is nothing to do: Run only waits.
	Projects []string
	// ProjectNames maps a primary project name to its name in the secondary
	// (SECONDARY_PROJECT_NAMES); a project not in the map keeps its name.
	ProjectNames map[string]string
	// DeploymentNames maps a primary deployment name to its name in the
	// secondary (SECONDARY_DEPLOYMENT_NAMES); a deployment not in the map
	// keeps its name. It applies to every project.
	DeploymentNames map[string]string
	// SecondaryContainer is written into imported projects as their storage
	// container (SECONDARY_CONTAINER_NAME). Empty keeps the container name
	// of the export, which suits resources sharing one storage account.
	SecondaryContainer string

	// Interval is how often Run checks for drift (REPLICATION_INTERVAL).
	// Zero means DefaultInterval.
	Interval time.Duration
	// RetryMin is how long Run waits before it retries a project whose run
	// failed (REPLICATION_RETRY_MIN); each failure in a row doubles the
	// wait, up to Interval. Zero means DefaultRetryMin.
	RetryMin time.Duration
	// MaxConcurrentProjects bounds how many projects replicate at once.
	// Zero means DefaultMaxConcurrentProjects.
	MaxConcurrentProjects int
	// CallTimeout bounds one authoring call (UPSTREAM_TIMEOUT). Zero means
	// DefaultCallTimeout. The polls inside Authoring.Wait are the region
	// client's to bound: the gateway gives its clients an HTTP timeout of
	// the same value.
	CallTimeout time.Duration
	// StepTimeout bounds one export, import, training or deployment,
	// polling included. Training takes minutes to hours, so zero means
	// DefaultStepTimeout.
	StepTimeout time.Duration
	// AuthoringPostsPerMinute paces the authoring POST/PUTs the worker
	// sends to each region; Azure allows 10 a minute per resource. Zero
	// means DefaultAuthoringPostsPerMinute.
	AuthoringPostsPerMinute int
	// TrainingConfigVersion is used when the primary's model reports none.
	// Empty means DefaultTrainingConfigVersion.
	TrainingConfigVersion string

	// Documents, if set, makes the training documents the export names
	// present in the secondary container before every import and training
	// run (DOCUMENT_SYNC copy or verify); nil leaves storage to the
	// operator. A sync that leaves any missing fails the run before
	// anything is imported or trained.
	Documents *docsync.Syncer

	// PrimaryRuntime and SecondaryRuntime run the canary's analyze-text
	// jobs; *api.Client satisfies Analyzer. Either nil means no canary.
	PrimaryRuntime, SecondaryRuntime Analyzer
	// CanaryDocs is how many documents a canary analyses
	// (REPLICATION_CANARY_DOCS); zero means no canary.
	CanaryDocs int
	// CanaryStore, if set, is the primary's storage: the canary reads the
	// first CanaryDocs .txt documents of the project's container there.
	CanaryStore *docsync.Store
	// CanaryTexts are the canary's documents when CanaryStore is nil
	// (REPLICATION_CANARY_FILE).
	CanaryTexts []string
	// CanaryMinAgreement is the agreement below which a project is
	// diverged and copied again (REPLICATION_CANARY_MIN_AGREEMENT); zero
	// accepts any agreement.
	CanaryMinAgreement float64

	// TracerProvider makes the spans of each run; nil means no tracing.
	TracerProvider trace.TracerProvider
	// MeterProvider makes the lag and runs instruments; nil means no
	// metrics.
	MeterProvider metric.MeterProvider
	// Logger receives one line per run outcome and step; nil discards.
	Logger *slog.Logger
	// Now tells the time for status and lag; nil means time.Now.
	Now func() time.Time
}

// withDefaults validates c and returns a copy with every zero field filled.
func (c Config) withDefaults() (Config, error) {
	if err := c.validate(); err != nil {
		return c, fmt.Errorf("replication config: %w", err)
	}
	if c.PrimaryName == "" {
		c.PrimaryName = "primary"
	}
	if c.SecondaryName == "" {
		c.SecondaryName = "secondary"
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.RetryMin == 0 {
		c.RetryMin = DefaultRetryMin
	}
	c.RetryMin = min(c.RetryMin, c.Interval)
	if c.MaxConcurrentProjects == 0 {
		c.MaxConcurrentProjects = DefaultMaxConcurrentProjects
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.StepTimeout == 0 {
		c.StepTimeout = DefaultStepTimeout
	}
	if c.AuthoringPostsPerMinute == 0 {
		c.AuthoringPostsPerMinute = DefaultAuthoringPostsPerMinute
	}
	if c.TrainingConfigVersion == "" {
		c.TrainingConfigVersion = DefaultTrainingConfigVersion
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// validate reports every setting of c that is out of range, joined.
func (c Config) validate() error {
	var errs []error
	if c.Primary == nil {
		errs = append(errs, errors.New("primary region client is missing"))
	}
	if c.Secondary == nil {
		errs = append(errs, errors.New("secondary region client is missing"))
	}
	for name, d := range map[string]time.Duration{
		"interval": c.Interval, "retry min": c.RetryMin, "call timeout": c.CallTimeout, "step timeout": c.StepTimeout,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", name, d))
		}
	}
	if c.CanaryDocs < 0 || c.CanaryMinAgreement < 0 || c.CanaryMinAgreement > 1 {
		errs = append(errs, fmt.Errorf("canary documents %d or minimum agreement %v out of range", c.CanaryDocs, c.CanaryMinAgreement))
	}
	if c.MaxConcurrentProjects < 0 {
		errs = append(errs, fmt.Errorf("max concurrent projects %d is negative", c.MaxConcurrentProjects))
	}
	if c.AuthoringPostsPerMinute < 0 {
		errs = append(errs, fmt.Errorf("authoring posts per minute %d is negative", c.AuthoringPostsPerMinute))
	}
	errs = append(errs, c.nameErrors()...)
	return errors.Join(errs...)
}

// nameErrors reports project and deployment names that cannot be
// replicated: every project is listed once and has a secondary project of
// its own, and no name is empty.
func (c Config) nameErrors() []error {
	var errs []error
	seen := map[string]bool{}
	targets := map[string]string{}
	for _, p := range c.Projects {
		switch {
		case p == "":
			errs = append(errs, errors.New("a project name is empty"))
			continue
		case seen[p]:
			errs = append(errs, fmt.Errorf("project %q is listed twice", p))
			continue
		}
		seen[p] = true
		to := secondaryName(c.ProjectNames, p)
		if to == "" {
			errs = append(errs, fmt.Errorf("project %q maps to an empty secondary name", p))
		} else if other, dup := targets[to]; dup {
			// Both would import into one secondary project, each replacing
			// the other's on every run.
			errs = append(errs, fmt.Errorf("projects %q and %q both map to secondary project %q", other, p, to))
		}
		targets[to] = p
	}
	for from, to := range c.DeploymentNames {
		if from == "" || to == "" {
			errs = append(errs, fmt.Errorf("deployment mapping %q:%q has an empty name", from, to))
		}
	}
	return errs
}

// secondaryName is name's counterpart in the secondary under mapping m.
func secondaryName(m map[string]string, name string) string {
	if to, ok := m[name]; ok {
		return to
	}
	return name
}
