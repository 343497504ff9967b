// Package region holds what the gateway knows about one Azure Language
// region: where it is, its credential (the resource key, or an Entra ID
// token through an Authorizer), its circuit breaker and the breaker's
// metrics, which of its quotas a 429 parked, since when it has been down
// (the outage clock job rescue reads), and its recent history for /status;
// and the rulebook (Region.Judge) that judges every answer a region gives.
// It sits below both the proxy and the health prober so that client calls
// and probes feed the same breaker through the same rules.
package region

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"nergateway/api"
	"nergateway/internal/secret"
)

// Roles a region plays.
const (
	RolePrimary   = "primary"
	RoleSecondary = "secondary"
)

// State is a breaker state as /status, metrics and traces spell it.
type State string

// Breaker states.
const (
	StateClosed   State = "closed"
	StateHalfOpen State = "half-open"
	StateOpen     State = "open"
)

// Value is the number the breaker-state metric reports: 0 closed, 1
// half-open, 2 open.
func (s State) Value() int64 {
	switch s {
	case StateHalfOpen:
		return 1
	case StateOpen:
		return 2
	}
	return 0
}

// ErrBreakerOpen is returned by Begin when the region's breaker refuses the
// call (open, or half-open with its trial already taken).
var ErrBreakerOpen = errors.New("region breaker open")

// errNotRegionFault is reported to the breaker for calls whose outcome says
// nothing about the region's health (the client went away, a 429).
var errNotRegionFault = errors.New("outcome not attributable to the region")

// errRegionFault is reported to the breaker for failed calls.
var errRegionFault = errors.New("region fault")

// DefaultMaxPark is REGION_MAX_PARK's default: the shortest cap among
// peers. A capped park costs one fast 429 per period when a quota really
// is exhausted; an uncapped one lets a single answer take a region out for
// days.
const DefaultMaxPark = 60 * time.Second

// recentLimit bounds the failures kept for /status.
const recentLimit = 10

// Config describes one region. Zero values take the defaults of docs/DESIGN.md.
type Config struct {
	// Name labels the region in status, metrics and traces ("westus2").
	Name string
	// Role is RolePrimary or RoleSecondary.
	Role string
	// Endpoint is the absolute base URL of the Language resource.
	Endpoint *url.URL
	// Key is the resource key sent as Ocp-Apim-Subscription-Key. Required
	// unless Authorizer is set.
	Key secret.Secret
	// Authorizer, if set, authorizes each call instead of the key (a
	// Microsoft Entra ID token, internal/entra).
	Authorizer api.Authorizer
	// ConsecutiveFailures opens the breaker; zero means 5.
	ConsecutiveFailures uint32
	// OpenTimeout is how long the breaker stays open before a half-open
	// trial; zero means 30s.
	OpenTimeout time.Duration
	// MaxPark caps how long a 429 parks a quota scope (REGION_MAX_PARK),
	// whatever its Retry-After says; zero means DefaultMaxPark.
	MaxPark time.Duration
	// OnStateChange, if set, is called on every breaker transition (for
	// span events and logs). It must not block.
	OnStateChange func(region string, from, to State)
	// Metrics, if set, counts the breaker's transitions and reports its
	// state (NewMetrics).
	Metrics *Metrics
}

// Region is one configured region. It is safe for concurrent use.
type Region struct {
	name     string
	role     string
	endpoint *url.URL
	origin   string // the endpoint's scheme://host, for OwnsURL
	key      secret.Secret
	keyValue []string // the key as a header value, made once: every call reads it
	// authorizer, if set, replaces the key.
	authorizer api.Authorizer
	maxPark    time.Duration
	breaker    *gobreaker.TwoStepCircuitBreaker[struct{}]

	mu          sync.Mutex
	parkedUntil [numScopes]time.Time
	openedAt    time.Time // when the breaker last opened
	openUntil   time.Time // when the open breaker lets a trial through
	recent      []Failure // newest last, at most recentLimit
	lastProbe   *ProbeResult

	out outage // since when it is down, as this replica sees it
}

// Failure is one recent failure, kept for /status.
type Failure struct {
	At time.Time `json:"at"`
	// Reason is the attempt's Outcome label.
	Reason Outcome `json:"reason"`
	// Status is the region's HTTP status, when an answer arrived.
	Status int `json:"status,omitempty"`
	// Probe marks a failure seen by a health probe.
	Probe bool `json:"probe,omitempty"`
}

// ProbeResult is the outcome of one active health probe.
type ProbeResult struct {
	At      time.Time     `json:"at"`
	Healthy bool          `json:"healthy"`
	Status  int           `json:"status,omitempty"`
	Latency time.Duration `json:"-"`
	// LatencyMS is Latency for JSON readers.
	LatencyMS float64 `json:"latencyMs"`
	// Outcome is the rulebook's verdict on the probe.
	Outcome Outcome `json:"outcome,omitempty"`
	// Error says why the probe failed, without hostnames or keys.
	Error string `json:"error,omitempty"`
	// Skipped is true when the breaker was open and the probe waited for
	// the open timeout to pass.
	Skipped bool `json:"skipped,omitempty"`
}

// New validates cfg and builds the region.
func New(cfg Config) (*Region, error) {
	if cfg.Name == "" {
		return nil, errors.New("region: name is empty")
	}
	if err := api.CheckEndpoint(cfg.Endpoint); err != nil {
		return nil, fmt.Errorf("region %s: endpoint %w", cfg.Name, err)
	}
	if cfg.Key == "" && cfg.Authorizer == nil {
		return nil, fmt.Errorf("region %s: key is empty", cfg.Name)
	}
	if cfg.ConsecutiveFailures == 0 {
		cfg.ConsecutiveFailures = 5
	}
	if cfg.OpenTimeout == 0 {
		cfg.OpenTimeout = 30 * time.Second
	}
	if cfg.MaxPark < 0 {
		return nil, fmt.Errorf("region %s: MaxPark must not be negative", cfg.Name)
	}
	if cfg.MaxPark == 0 {
		cfg.MaxPark = DefaultMaxPark
	}
	r := &Region{name: cfg.Name, role: cfg.Role, endpoint: cfg.Endpoint, key: cfg.Key, authorizer: cfg.Authorizer, maxPark: cfg.MaxPark,
		keyValue: []string{cfg.Key.Reveal()}, origin: cfg.Endpoint.Scheme + "://" + cfg.Endpoint.Host}
	threshold := cfg.ConsecutiveFailures
	onChange, metrics := cfg.OnStateChange, cfg.Metrics
	openTimeout := cfg.OpenTimeout
	r.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        cfg.Name,
		MaxRequests: 1, // one trial in half-open; one success closes
		Timeout:     cfg.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
		IsExcluded:  func(err error) bool { return errors.Is(err, errNotRegionFault) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			// The region counts as down from its breaker opening until it
			// closes (half-open trials do not end the outage).
			switch now := time.Now(); to {
			case gobreaker.StateOpen:
				r.mu.Lock()
				r.openedAt, r.openUntil = now, now.Add(openTimeout)
				r.mu.Unlock()
				r.Down(now)
			case gobreaker.StateClosed:
				r.Up(now)
			}
			if metrics != nil {
				metrics.transition(name, stateOf(from), stateOf(to))
			}
			if onChange != nil {
				onChange(name, stateOf(from), stateOf(to))
			}
		},
	})
	if metrics != nil {
		metrics.add(r)
	}
	return r, nil
}

func stateOf(s gobreaker.State) State {
	switch s {
	case gobreaker.StateOpen:
		return StateOpen
	case gobreaker.StateHalfOpen:
		return StateHalfOpen
	}
	return StateClosed
}

// Name is the region's label.
func (r *Region) Name() string { return r.name }

// Role is RolePrimary or RoleSecondary.
func (r *Region) Role() string { return r.role }

// Endpoint is the region's base URL. Callers must not modify it.
func (r *Region) Endpoint() *url.URL { return r.endpoint }

// Key is the region's resource key (empty when an Authorizer replaces it).
func (r *Region) Key() secret.Secret { return r.key }

// Authorize puts the region's credentials on req: its Authorizer's token,
// or else its key in Ocp-Apim-Subscription-Key. Every call to the region
// (client calls and probes) goes through here. An error means no
// credentials could be had (no token): the call is not sent.
func (r *Region) Authorize(req *http.Request) error {
	if r.authorizer != nil {
		return r.authorizer.Authorize(req)
	}
	// The shared value saves an allocation per call; the transport only
	// reads it.
	req.Header[api.SubscriptionKeyHeader] = r.keyValue
	return nil
}

// State is the breaker's state now (an expired open state reads half-open).
func (r *Region) State() State { return stateOf(r.breaker.State()) }

// Park keeps new calls of one quota scope away from the region until
// until, never longer than MaxPark from now. A later deadline wins over an
// earlier one.
func (r *Region) Park(scope Scope, until time.Time) {
	if limit := time.Now().Add(r.maxPark); until.After(limit) {
		until = limit
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if until.After(r.parkedUntil[scope]) {
		r.parkedUntil[scope] = until
	}
}

// unpark ends a scope's parking: the scope just answered a call.
func (r *Region) unpark(scope Scope) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.parkedUntil[scope] = time.Time{}
}

// ParkedUntil is the end of the scope's current 429 parking, or the zero
// time.
func (r *Region) ParkedUntil(scope Scope) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.parkedUntil[scope]
}

// OpenUntil is when an open breaker lets its next trial through (the zero
// time if it never opened), so a 503 can say how long to wait.
func (r *Region) OpenUntil() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.openUntil
}

// OpenedAt is when the breaker last opened (the zero time if it never
// did): how old the news of an open breaker is.
func (r *Region) OpenedAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.openedAt
}

// Attempt is one admitted call to the region. Exactly one of Finish or
// Release must be called; later calls are ignored.
type Attempt struct {
	r    *Region
	done func(error)
	once sync.Once
}

// Begin admits one call through the breaker. It returns an error wrapping
// ErrBreakerOpen when the breaker refuses.
func (r *Region) Begin() (*Attempt, error) {
	done, err := r.breaker.Allow()
	if err != nil {
		return nil, fmt.Errorf("region %s: %w (%w)", r.name, ErrBreakerOpen, err)
	}
	return &Attempt{r: r, done: done}, nil
}

// Finish applies a verdict of Judge to the region: a region fault counts
// against the breaker and is kept for /status; a success closes the
// breaker's count and ends the scope's parking (the quota just answered);
// a 429 parks the scope without charging the breaker; anything else (the
// caller gave up, the gateway had no room, a probe's 4xx) leaves both
// alone.
func (a *Attempt) Finish(v Verdict) {
	a.once.Do(func() {
		switch {
		case v.Outcome.RegionFault():
			a.r.noteFailure(Failure{At: time.Now().UTC(), Reason: v.Outcome, Status: v.Status, Probe: v.Probe})
			a.done(errRegionFault)
		case v.Outcome == OutcomeOK || (v.Outcome == OutcomeClientError && !v.Probe):
			a.r.unpark(v.Scope)
			a.done(nil)
		case v.Outcome == OutcomeStatus429:
			a.r.Park(v.Scope, v.ParkUntil)
			a.done(errNotRegionFault)
		default:
			a.done(errNotRegionFault)
		}
	})
}

// BeginTrial admits one call whatever the breaker says: a caller that has
// evidence the region came back since its breaker opened (it accepted a
// job afterwards, through another replica) tries it once, as the
// breaker's own half-open trial would. The verdict is kept as any other
// (a failure for /status, a 429 parks) but the breaker, which judges only
// the calls it admitted, does not count it.
func (r *Region) BeginTrial() *Attempt {
	return &Attempt{r: r, done: func(error) {}}
}

// Release ends the attempt without judging the region (no request was
// sent after all).
func (a *Attempt) Release() { a.once.Do(func() { a.done(errNotRegionFault) }) }

func (r *Region) noteFailure(f Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.recent) == recentLimit {
		copy(r.recent, r.recent[1:])
		r.recent = r.recent[:recentLimit-1]
	}
	r.recent = append(r.recent, f)
}

// RecordProbe keeps the latest probe result for /status.
func (r *Region) RecordProbe(p ProbeResult) {
	p.LatencyMS = float64(p.Latency.Microseconds()) / 1000
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastProbe = &p
}

// Status is a region's entry in /status. It holds no key and no hostname.
type Status struct {
	Name                string `json:"name"`
	Role                string `json:"role"`
	Breaker             State  `json:"breaker"`
	ConsecutiveFailures uint32 `json:"consecutiveFailures"`
	// Parked lists the quota scopes a 429 parked, with the end of each
	// parking.
	Parked         map[string]time.Time `json:"parked,omitempty"`
	RecentFailures []Failure            `json:"recentFailures"`
	LastProbe      *ProbeResult         `json:"lastProbe,omitempty"`
	// Credential is the state of what the region's calls carry (a key, or
	// an Entra ID token and its renewal).
	Credential CredentialStatus `json:"credential"`
}

// Status reports the region for /status.
func (r *Region) Status() Status {
	s := Status{
		Name:                r.name,
		Role:                r.role,
		Breaker:             r.State(),
		ConsecutiveFailures: r.breaker.Counts().ConsecutiveFailures,
		Credential:          r.Credential(),
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for sc, until := range r.parkedUntil {
		if until.After(now) {
			if s.Parked == nil {
				s.Parked = make(map[string]time.Time)
			}
			s.Parked[Scope(sc).String()] = until.UTC()
		}
	}
	s.RecentFailures = append([]Failure{}, r.recent...)
	if r.lastProbe != nil {
		p := *r.lastProbe
		s.LastProbe = &p
	}
	return s
}
