package replication

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// maxPassesPerRun bounds how often one run starts over because the primary
// changed while it was being copied; past it the next check catches up.
const maxPassesPerRun = 3

// Worker keeps the configured projects replicated. Build it with New; run
// it with Run inside a serving gateway, or call SyncOnce for one pass (a
// CronJob). Status is safe to call at any time.
type Worker struct {
	cfg      Config
	projects []*project
	// sem bounds the projects that run at once, across Run and SyncOnce.
	sem chan struct{}
	// trigger carries Trigger's requests to Run; its buffer of one is what
	// coalesces them.
	trigger chan struct{}
	// running makes a second concurrent Run an error instead of a race.
	running atomic.Bool

	// primaryPosts and secondaryPosts pace authoring POST/PUTs per
	// region, shared by every project's run.
	primaryPosts, secondaryPosts *rate.Limiter

	tracer trace.Tracer
	meters *meters
}

// project is one replicated project and its run bookkeeping.
type project struct {
	name, secondary string
	// lock is held (a value sent into it) by the one run of this project.
	lock chan struct{}
	// pending records a request to run while a run held lock; that run
	// does one more pass before it lets go.
	pending atomic.Bool
	// known is what this process last learnt the secondary holds: set by
	// an import and by a content comparison; nil until then.
	known atomic.Pointer[knownContent]
	// labelled are the first labelled documents of the last export this
	// process read, the canary's documents; nil until then.
	labelled atomic.Pointer[[]string]
	status   *tracker
}

func (p *project) tryLock() bool {
	select {
	case p.lock <- struct{}{}:
		return true
	default:
		return false
	}
}

func (p *project) lockCtx(ctx context.Context) error {
	select {
	case p.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *project) unlock() { <-p.lock }

// New validates cfg, fills its defaults and returns a worker that has not
// started anything yet.
func New(cfg Config) (*Worker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cfg.Primary, cfg.Secondary = scrubbing{cfg.Primary}, scrubbing{cfg.Secondary}
	// Even spacing with no burst: the gateway passes users' authoring
	// calls to the primary too, so the worker should not use a minute's
	// budget in one go.
	every := time.Minute / time.Duration(cfg.AuthoringPostsPerMinute)
	w := &Worker{
		cfg:            cfg,
		sem:            make(chan struct{}, cfg.MaxConcurrentProjects),
		trigger:        make(chan struct{}, 1),
		primaryPosts:   rate.NewLimiter(rate.Every(every), 1),
		secondaryPosts: rate.NewLimiter(rate.Every(every), 1),
		tracer:         tracerFrom(cfg.TracerProvider),
	}
	for _, name := range cfg.Projects {
		to := secondaryName(cfg.ProjectNames, name)
		w.projects = append(w.projects, &project{
			name: name, secondary: to,
			lock:   make(chan struct{}, 1),
			status: newTracker(name, to),
		})
	}
	if w.meters, err = newMeters(cfg.MeterProvider, w); err != nil {
		return nil, fmt.Errorf("replication metrics: %w", err)
	}
	return w, nil
}

// Run checks every project at once and then every Interval, or sooner when
// Trigger asks, replicating what drifted. A project whose run failed is
// retried after RetryMin, then twice as long after each failure in a row, up
// to Interval. It returns nil once ctx is done and every run it started has
// stopped; runs in flight are cancelled with ctx, leaving the secondary as it
// was (a cancelled job's old deployment keeps serving).
func (w *Worker) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("replication: Run is already running")
	}
	defer w.running.Store(false)

	// Not errgroup.WithContext: one project's failure must not cancel the
	// others; runs record their errors in Status instead.
	var g errgroup.Group
	defer func() { _ = g.Wait() }()
	results := make(chan runResult)
	retries := newRetrySchedule(w.cfg.RetryMin, w.cfg.Interval)
	tick := time.NewTicker(w.cfg.Interval)
	defer tick.Stop()
	retry := time.NewTimer(0)
	defer retry.Stop()
	<-retry.C
	select { // the first pass below serves a trigger sent before Run
	case <-w.trigger:
	default:
	}
	w.schedule(ctx, &g, w.projects, results)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			w.schedule(ctx, &g, w.projects, results)
		case <-w.trigger:
			w.schedule(ctx, &g, w.projects, results)
		case r := <-results:
			err := r.err
			var refused *UnsupportedKindError
			if errors.As(err, &refused) {
				// No retry fixes a project kind: the next regular
				// check reads it again.
				err = nil
			}
			retries.record(r.p, err, time.Now())
		case <-retry.C:
			w.schedule(ctx, &g, retries.due(time.Now()), results)
		}
		if next, ok := retries.next(); ok {
			retry.Reset(max(time.Until(next), 0))
		} else {
			retry.Stop()
		}
	}
}

// runResult is the outcome of one pass of a project started by Run.
type runResult struct {
	p   *project
	err error
}

// schedule starts a run for every given project that has none; a project
// that is running is asked for one more pass instead. Each pass's outcome
// is sent on results, which Run reads until ctx ends.
func (w *Worker) schedule(ctx context.Context, g *errgroup.Group, projects []*project, results chan<- runResult) {
	for _, p := range projects {
		// Mark first, then try the lock: the holder clears pending only
		// after it let go of the lock, so either it sees the mark or we
		// get the lock.
		p.pending.Store(true)
		if !p.tryLock() {
			continue
		}
		p.pending.Store(false)
		g.Go(func() error {
			for {
				err := w.runProject(ctx, p, true) // recorded in Status and logged
				p.unlock()
				select {
				case results <- runResult{p: p, err: err}:
				case <-ctx.Done():
					return nil
				}
				if !p.pending.Swap(false) || !p.tryLock() {
					return nil
				}
			}
		})
	}
}

// Trigger asks Run to check every project now, as POST
// /admin/replication/sync does. It never blocks; requests made while a
// check is pending are served by that one check, and a project that is
// running gets one more pass when its run ends.
func (w *Worker) Trigger() {
	select {
	case w.trigger <- struct{}{}:
	default:
	}
}

// SyncOnce checks and, where needed, replicates every project once, waiting
// for all of them; it is `gateway replicate --once`. It returns the joined
// errors of the projects that failed, nil when all are in sync afterwards.
func (w *Worker) SyncOnce(ctx context.Context) error {
	return w.pass(ctx, true)
}

// Check reads both regions for every project and records in Status whether
// each is in sync, without replicating anything: a dry run whose only cost
// is the canary's jobs. It returns the joined errors of the projects it could not read.
func (w *Worker) Check(ctx context.Context) error {
	return w.pass(ctx, false)
}

func (w *Worker) pass(ctx context.Context, replicate bool) error {
	errs := make([]error, len(w.projects))
	var g errgroup.Group
	for i, p := range w.projects {
		g.Go(func() error {
			if err := p.lockCtx(ctx); err != nil {
				errs[i] = fmt.Errorf("project %q: %w", p.name, err)
				return nil
			}
			defer p.unlock()
			if err := w.runProject(ctx, p, replicate); err != nil {
				errs[i] = fmt.Errorf("project %q: %w", p.name, err)
			}
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

// Status returns every project's state, in configuration order.
func (w *Worker) Status() []ProjectStatus {
	now := w.cfg.Now()
	out := make([]ProjectStatus, len(w.projects))
	for i, p := range w.projects {
		out[i] = p.status.snapshot(now)
	}
	return out
}

// projectAttrs name a project and the regions on spans. Region names are
// the operator's labels, never hostnames.
func (w *Worker) projectAttrs(p *project) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("replication.project", p.name),
		attribute.String("replication.secondary_project", p.secondary),
		attribute.String("replication.primary_region", w.cfg.PrimaryName),
		attribute.String("replication.secondary_region", w.cfg.SecondaryName),
	}
}

// endSpan marks span failed with Azure's code when there is one.
func endSpan(span trace.Span, err error) {
	if err == nil {
		return
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, newStatusError(err, time.Time{}).Code)
}
