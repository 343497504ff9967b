package emulator

import (
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Options configure one emulated region. Zero values are usable except Key.
type Options struct {
	// Name labels the region in logs (e.g. "westus2"); empty means "emulator".
	Name string
	// Key is the only Ocp-Apim-Subscription-Key the region accepts. Required
	// unless BearerTokens is set.
	Key string
	// BearerTokens, if set, makes the region behave like a resource with
	// key auth disabled (disableLocalAuth): every call needs
	// "Authorization: Bearer <token>" with a token BearerTokens accepts
	// (TokenIssuer.Valid), and a subscription key is refused.
	BearerTokens func(token string) bool
	// Clock drives every job lifecycle and timestamp; nil means real time.
	Clock Clock
	// JobDuration is how long a runtime job takes: notStarted for the first
	// third, running for the rest, then succeeded or failed. Zero finishes
	// jobs at once.
	JobDuration time.Duration
	// AuthoringJobDuration is JobDuration for export, import, train, deploy,
	// swap, delete and load-snapshot jobs. Zero finishes them at once.
	AuthoringJobDuration time.Duration
	// PageSize is the most documents one page of a runtime job result
	// holds (Azure's is 20; a top asks for fewer); zero means 20.
	PageSize int
	// ListPageSize is the page size of authoring lists when the client sends
	// no maxpagesize; zero means 50.
	ListPageSize int
	// AuthoringPostsPerMinute emulates Azure's authoring POST rate limit
	// (10/min for custom NER): further POSTs within a minute get a
	// front-door 429 with Retry-After. Zero turns the limit off.
	AuthoringPostsPerMinute int
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// Seeds are seeded (Seed) before Start serves a single request, so no
	// client ever sees the region without them; nil seeds nothing.
	Seeds []SeedProject
	// Documents, if set, is the blob storage training reads documents
	// from and Seed and PutDocument write to; nil keeps them in memory.
	Documents Documents
	// Rand returns a number in [0, 1) to decide whether a fault with a
	// FailureRate applies; it must be safe for concurrent use. Nil uses
	// math/rand/v2.
	Rand func() float64
	// ModifiedAfterDeploy, if set, moves a project's lastModifiedDateTime
	// this long after each deployment ends, with no label edit, as Azure
	// was recorded doing (datemove.go). Zero moves it only on import.
	ModifiedAfterDeploy time.Duration
}

// Emulator is one emulated Azure AI Language region: an http.Handler
// serving the runtime and authoring calls of custom NER, plus the test-only
// admin API under /_emulator/. It is safe for concurrent use and starts no
// goroutines: job states are derived from the Clock on each request.
type Emulator struct {
	opts   Options
	clock  Clock
	log    *slog.Logger
	rand   func() float64
	routes []route
	admin  http.Handler
	// regionDisplayName is the x-ms-region Azure would send for opts.Name.
	regionDisplayName string

	mu         sync.Mutex
	storage    storage
	projects   map[string]*project
	jobs       map[string]*runtimeJob
	jobOrder   []*runtimeJob // jobs in creation order, so settle expires them without scanning
	authJobs   map[string]*authJob
	faults     []Fault
	calls      map[string]int
	postTimes  []time.Time // accepted authoring POSTs, for the rate limit
	refuseHook func(on bool)
}

// New validates opts, fills in defaults and returns an empty region.
func New(opts Options) (*Emulator, error) {
	if opts.Key == "" && opts.BearerTokens == nil {
		return nil, errors.New("emulator: Options.Key (or BearerTokens) is required")
	}
	if opts.JobDuration < 0 || opts.AuthoringJobDuration < 0 || opts.ModifiedAfterDeploy < 0 {
		return nil, errors.New("emulator: job durations must not be negative")
	}
	if opts.PageSize < 0 || opts.ListPageSize < 0 || opts.AuthoringPostsPerMinute < 0 {
		return nil, errors.New("emulator: page sizes and rate limits must not be negative")
	}
	if opts.Name == "" {
		opts.Name = "emulator"
	}
	if opts.PageSize == 0 {
		opts.PageSize = 20
	}
	if opts.ListPageSize == 0 {
		opts.ListPageSize = 50
	}
	e := &Emulator{
		opts:     opts,
		clock:    opts.Clock,
		log:      opts.Logger,
		rand:     opts.Rand,
		storage:  storage{mem: map[string]map[string]string{}, blob: opts.Documents},
		projects: map[string]*project{},
		jobs:     map[string]*runtimeJob{},
		authJobs: map[string]*authJob{},
		calls:    map[string]int{},
	}
	if e.clock == nil {
		e.clock = realClock{}
	}
	if e.log == nil {
		e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e.log = e.log.With("region", opts.Name)
	e.regionDisplayName = opts.Name
	if dn, ok := regionDisplayNames[opts.Name]; ok {
		e.regionDisplayName = dn
	}
	if e.rand == nil {
		e.rand = rand.Float64
	}
	e.routes = e.addRoutes()
	e.admin = e.adminHandler()
	return e, nil
}

// Name is the region's label.
func (e *Emulator) Name() string { return e.opts.Name }

// now is the emulator's time, in UTC as Azure writes it.
func (e *Emulator) now() time.Time { return e.clock.Now().UTC() }
