package rescue

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"nergateway/internal/secret"
)

// Defaults of Config; each applies when its field is zero.
const (
	DefaultTTL = 24 * time.Hour
	// DefaultOpTimeout bounds one store call: what a slow store can add to
	// a submit or a poll. A Redis next to the gateway answers in about a
	// millisecond.
	DefaultOpTimeout = 100 * time.Millisecond
	// DefaultLease is how long a claim holds before another replica may
	// take it over; it must outlast the resubmit of the replica that holds
	// it (a few upstream attempts).
	DefaultLease = time.Minute
	// DefaultPingInterval is how often Run checks a store marked down.
	DefaultPingInterval = time.Second
	// DefaultSweepInterval is how often Run drops expired records of the
	// memory backend.
	DefaultSweepInterval = time.Minute
	// DefaultMaxBytes bounds the sealed bodies (JOB_RESCUE_MAX_BYTES): about
	// 50,000 one-document submits of 1 KB, 2,400 of 25 documents.
	DefaultMaxBytes = 64 << 20
	// downAfterFailures is how many calls in a row must fail before the
	// store is marked down.
	downAfterFailures = 3
	// rescuedCacheSize bounds the rescued states a replica remembers, so
	// polls of a rescued job keep reading it while the store is down.
	rescuedCacheSize = 1 << 16
)

// Backend kinds, as /status and metrics name them.
const (
	BackendMemory = "memory"
	BackendRedis  = "redis"
)

// ErrUnavailable is returned while the store is marked down: the call was
// not attempted, so it cost nothing. Run marks it up again.
var ErrUnavailable = errors.New("rescue: store unavailable")

// ErrFull is returned when Redis refused a write at its maxmemory: the
// store answers (it is not marked down), it has no room for more.
var ErrFull = errors.New("rescue: store full")

// Reasons an accepted job has no rescue cover, as
// gateway_rescue_uncovered_total{reason} and /status name them.
const (
	// ReasonEvicted: the memory store was full and dropped this job's
	// body, the oldest it held, to keep a newer one.
	ReasonEvicted = "evicted"
	// ReasonTooLarge: the sealed body alone is larger than MaxBytes.
	ReasonTooLarge = "too_large"
	// ReasonFull: Redis answered OOM (its maxmemory, under noeviction).
	ReasonFull = "full"
	// ReasonUnavailable: the store was down or the write failed.
	ReasonUnavailable = "unavailable"
)

// Config configures a Store. Backend and Keys are required.
type Config struct {
	// Backend is "memory" (this process only) or a redis:// or rediss://
	// URL (JOB_RESCUE); a password and TLS come from the URL. It is a
	// Secret because the URL may hold a password.
	Backend secret.Secret
	// Keys are the AES-256 keys (sealkey.Parse): the first seals, every one
	// opens.
	Keys [][]byte
	// TTL is how long a body is kept without a final state
	// (JOB_RESCUE_TTL); zero means DefaultTTL.
	TTL time.Duration
	// MaxBytes bounds the sealed bodies (JOB_RESCUE_MAX_BYTES): the memory
	// backend holds at most this many bytes of them, dropping the oldest
	// first; a larger body is kept by neither backend. Zero means
	// DefaultMaxBytes.
	MaxBytes int64
	// OpTimeout bounds every store call; zero means DefaultOpTimeout.
	OpTimeout time.Duration
	// After is how long a job's owner must have been down before the job
	// is rescued (JOB_RESCUE_AFTER); zero means DefaultAfter.
	After time.Duration
	// Lease is how long a claim holds; zero means DefaultLease.
	Lease time.Duration
	// PingInterval is how often Run checks a store marked down; zero
	// means DefaultPingInterval.
	PingInterval time.Duration
	// Now is the clock of the memory backend's expiry; nil means time.Now.
	Now func() time.Time
	// MeterProvider makes the store's instruments; nil means no metrics.
	MeterProvider metric.MeterProvider
	// Logger receives store outages (Warn), recoveries and rescues (Info);
	// never document text or the URL's password. Nil discards.
	Logger *slog.Logger
}

// Store keeps rescue records for every replica that shares its backend. It
// is safe for concurrent use; Run must run for a store marked down to come
// back.
type Store struct {
	b            backend
	kind         string
	seal         *sealer
	ttl, lease   time.Duration
	maxBytes     int64
	after        time.Duration
	opTimeout    time.Duration
	pingInterval time.Duration
	now          func() time.Time
	log          *slog.Logger
	holder       string // this replica, in its claims
	claims       atomic.Uint64

	up        atomic.Bool
	failures  atomic.Int32 // calls failed in a row
	mu        sync.Mutex   // guards lastError, changedAt
	lastError string
	changedAt time.Time

	rescued rescuedCache

	full      atomic.Bool // the last Put found no room
	uncovered struct{ evicted, tooLarge, full, unavailable atomic.Int64 }

	mRescued   metric.Int64Counter
	mErrors    metric.Int64Counter
	mUncovered metric.Int64Counter
}

// ParseBackend checks a JOB_RESCUE value that turns rescue on and names
// its backend: "memory", or a redis:// or rediss:// URL that go-redis
// accepts. Errors never quote the URL (it may hold a password).
func ParseBackend(raw secret.Secret) (kind string, err error) {
	v := raw.Reveal()
	switch {
	case v == BackendMemory:
		return BackendMemory, nil
	case strings.HasPrefix(v, "redis://") || strings.HasPrefix(v, "rediss://"):
		if _, err := redis.ParseURL(v); err != nil {
			return "", parseError(err)
		}
		return BackendRedis, nil
	}
	return "", errors.New("rescue: JOB_RESCUE must be off, memory, or a redis:// or rediss:// URL")
}

// Open validates cfg and builds the Store. A Redis that does not answer
// yet is not an error: the store starts down, serving goes on without
// rescue, and Run brings it up.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s := &Store{
		ttl:          cmp.Or(cfg.TTL, DefaultTTL),
		maxBytes:     cmp.Or(cfg.MaxBytes, DefaultMaxBytes),
		lease:        cmp.Or(cfg.Lease, DefaultLease),
		after:        cmp.Or(cfg.After, DefaultAfter),
		opTimeout:    cmp.Or(cfg.OpTimeout, DefaultOpTimeout),
		pingInterval: cmp.Or(cfg.PingInterval, DefaultPingInterval),
		now:          cfg.Now,
		log:          cfg.Logger,
		rescued:      newRescuedCache(rescuedCacheSize),
	}
	if s.ttl < 0 || s.lease < 0 || s.after < 0 || s.opTimeout < 0 || s.pingInterval < 0 || s.maxBytes < 0 {
		return nil, errors.New("rescue: TTL, After, Lease, OpTimeout, PingInterval and MaxBytes must not be negative")
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if s.seal, err = newSealer(cfg.Keys); err != nil {
		return nil, err
	}
	if s.kind, err = ParseBackend(cfg.Backend); err != nil {
		return nil, err
	}
	if s.kind == BackendMemory {
		s.b = newMemoryBackend(s.now, s.maxBytes)
	} else if s.b, err = newRedisBackend(cfg.Backend.Reveal(), s.opTimeout); err != nil {
		return nil, err
	}
	var nonce [6]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("rescue: replica id: %w", err)
	}
	s.holder = hex.EncodeToString(nonce[:])
	if err := s.instruments(cfg.MeterProvider); err != nil {
		_ = s.b.close()
		return nil, err
	}
	s.changedAt = s.now()
	s.check(ctx)
	return s, nil
}

func (s *Store) instruments(mp metric.MeterProvider) error {
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	m := mp.Meter("nergateway/rescue")
	var err, e error
	s.mRescued, e = m.Int64Counter("gateway.jobs.rescued",
		metric.WithDescription("Jobs resubmitted to another region because their owner region was down, by from and to region."))
	err = errors.Join(err, e)
	s.mUncovered, e = m.Int64Counter("gateway.rescue.uncovered",
		metric.WithDescription("Accepted jobs left without rescue cover, by reason: evicted (the memory store dropped its oldest body for a newer one), too_large, full (Redis at maxmemory), unavailable (store down or write failed)."))
	err = errors.Join(err, e)
	s.mErrors, e = m.Int64Counter("gateway.rescue.store.errors",
		metric.WithDescription("Rescue store calls that failed, by operation; each marks the store down until it answers again."))
	err = errors.Join(err, e)
	_, e = m.Int64ObservableGauge("gateway.rescue.store.up",
		metric.WithDescription("1 while the rescue store answers, 0 while it is down (rescue is off then)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			v := int64(0)
			if s.up.Load() {
				v = 1
			}
			o.Observe(v, metric.WithAttributes(attribute.String("backend", s.kind)))
			return nil
		}))
	err = errors.Join(err, e)
	if err != nil {
		return fmt.Errorf("rescue: creating instruments: %w", err)
	}
	return nil
}

// Run pings the store while it is down, until it answers, and drops
// expired records of the memory backend. It returns when ctx is done.
func (s *Store) Run(ctx context.Context) error {
	ping := time.NewTicker(s.pingInterval)
	defer ping.Stop()
	sweep := time.NewTicker(DefaultSweepInterval)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ping.C:
			if !s.up.Load() {
				s.check(ctx)
			}
		case <-sweep.C:
			s.b.sweep(s.now())
		}
	}
}

// Close releases the store's connections; call it once Run has returned.
func (s *Store) Close() { _ = s.b.close() }

// check pings the store and marks it up or down.
func (s *Store) check(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.opTimeout)
	defer cancel()
	if err := s.b.ping(ctx); err != nil {
		s.markDown("ping", err)
		return
	}
	if !s.up.Swap(true) {
		s.mu.Lock()
		s.lastError, s.changedAt = "", s.now()
		s.mu.Unlock()
		s.log.Info("rescue store up", "backend", s.kind)
	}
}

// failed counts a failed call and marks the store down once
// downAfterFailures calls in a row have failed: one slow answer must not
// switch rescue off for every request of the next second.
func (s *Store) failed(op string, err error) {
	s.mErrors.Add(context.Background(), 1, metric.WithAttributes(attribute.String("op", op)))
	if s.failures.Add(1) >= downAfterFailures {
		s.markDown(op, err)
	}
}

func (s *Store) markDown(op string, err error) {
	s.failures.Store(0)
	wasUp := s.up.Swap(false)
	s.mu.Lock()
	first := s.lastError == ""
	s.lastError = err.Error()
	if wasUp {
		s.changedAt = s.now()
	}
	s.mu.Unlock()
	if wasUp || first {
		s.log.Warn("rescue store down: jobs accepted now cannot be rescued until it answers again",
			"backend", s.kind, "op", op, "error", err.Error())
	}
}

// do runs one store call under the store's timeout, unless the store is
// down; failures in a row mark it down.
func (s *Store) do(ctx context.Context, op string, f func(ctx context.Context) error) error {
	if !s.up.Load() {
		return ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		if isFull(err) {
			s.failures.Store(0) // it answered: reads, claims and deletes still work
			return fmt.Errorf("%w: %s: %w", ErrFull, op, err)
		}
		s.failed(op, err)
		return fmt.Errorf("rescue: %s: %w", op, err)
	}
	s.failures.Store(0)
	return nil
}

// Put keeps an accepted job's request for the job's life (one write). id
// is the job id the client was given.
//
// A full store never fails or slows the submit: the memory backend drops
// its oldest bodies to make room, a body larger than MaxBytes is not
// kept, and a Redis at maxmemory keeps nothing new; each such job is
// counted (gateway_rescue_uncovered_total) and Put returns nil for it. An
// error means the store is down or the write failed (also counted).
func (s *Store) Put(ctx context.Context, id string, job Job) error {
	sealed, err := s.seal.seal(id, job.encode())
	if err != nil {
		return err
	}
	if int64(len(sealed)) > s.maxBytes {
		s.uncover(ctx, ReasonTooLarge, 1)
		return nil
	}
	var evicted int
	err = s.do(ctx, "put", func(ctx context.Context) (err error) {
		evicted, err = s.b.put(ctx, id, sealed, s.ttl)
		return err
	})
	switch {
	case errors.Is(err, ErrFull):
		s.uncover(ctx, ReasonFull, 1)
		s.setFull(true)
		return nil
	case err != nil:
		s.uncover(ctx, ReasonUnavailable, 1)
		return err
	}
	s.uncover(ctx, ReasonEvicted, evicted)
	s.setFull(evicted > 0 || s.full.Load() && !s.roomy())
	return nil
}

// roomy reports whether a store that was full has room again: for the
// memory backend a quarter of its bound free (so bodies of mixed sizes do
// not flip it at every submit), for Redis any write that went through.
func (s *Store) roomy() bool {
	if m, ok := s.b.(*memoryBackend); ok {
		return m.heldBytes() <= s.maxBytes/4*3
	}
	return true
}

// uncover counts n jobs left without rescue cover for reason.
func (s *Store) uncover(ctx context.Context, reason string, n int) {
	if n == 0 {
		return
	}
	c := &s.uncovered.unavailable
	switch reason {
	case ReasonEvicted:
		c = &s.uncovered.evicted
	case ReasonTooLarge:
		c = &s.uncovered.tooLarge
	case ReasonFull:
		c = &s.uncovered.full
	}
	c.Add(int64(n))
	s.mUncovered.Add(ctx, int64(n), metric.WithAttributes(attribute.String("reason", reason)))
}

// setFull records whether the store had room for the last body, logging
// each change once (a full store would otherwise log every submit).
func (s *Store) setFull(full bool) {
	if s.full.Swap(full) == full {
		return
	}
	if full {
		s.log.Warn("rescue store full: the oldest jobs lose their rescue cover first (JOB_RESCUE_MAX_BYTES, or Redis's maxmemory)",
			"backend", s.kind, "max_bytes", s.maxBytes)
		return
	}
	s.log.Info("rescue store has room again", "backend", s.kind)
}

// State reads a job's rescue state (one read; none for a job never
// claimed). A rescued state this replica has seen is answered from memory,
// so a rescued job stays served while the store is down.
func (s *Store) State(ctx context.Context, id string) (State, error) {
	if st, ok := s.rescued.get(id); ok {
		return st, nil
	}
	var raw string
	if err := s.do(ctx, "state", func(ctx context.Context) (err error) {
		raw, err = s.b.state(ctx, id)
		return err
	}); err != nil {
		return State{}, err
	}
	st, err := decodeState(raw)
	if err == nil && st.Phase == PhaseRescued {
		s.rescued.put(id, st)
	}
	return st, err
}

// Forget drops a job's body once a poll saw its final state, so it is
// never resubmitted, and marks it finished for every replica (PhaseFinished)
// for the TTL. A rescued job keeps its rescued state: later polls must
// keep reading the rescued job.
func (s *Store) Forget(ctx context.Context, id string) error {
	finished := State{Phase: PhaseFinished}.encode()
	return s.do(ctx, "forget", func(ctx context.Context) error { return s.b.forget(ctx, id, finished, s.ttl) })
}

// Claim is the right, held by one replica, to resubmit one job.
type Claim struct {
	s      *Store
	id     string
	holder string
	// Job is the accepted submit, decrypted.
	Job Job
}

// Claim tries to take the job's rescue. Exactly one caller across every
// replica wins (until the lease runs out): it gets a Claim holding the job.
// Every other caller gets nil and the job's state: claimed (someone is on
// it), rescued (follow it) or gone (no body: never rescue).
func (s *Store) Claim(ctx context.Context, id string) (*Claim, State, error) {
	holder := s.holder + "-" + strconv.FormatUint(s.claims.Add(1), 36)
	claimed := State{Phase: PhaseClaimed, Holder: holder}.encode()
	gone := State{Phase: PhaseGone}.encode()
	var (
		won    bool
		raw    string
		sealed []byte
	)
	if err := s.do(ctx, "claim", func(ctx context.Context) (err error) {
		won, raw, sealed, err = s.b.claim(ctx, id, claimed, s.lease, gone, s.ttl)
		return err
	}); err != nil {
		return nil, State{}, err
	}
	if !won {
		st, err := decodeState(raw)
		if err == nil && st.Phase == PhaseRescued {
			s.rescued.put(id, st)
		}
		return nil, st, err
	}
	plain, err := s.seal.open(id, sealed)
	var job Job
	if err == nil {
		job, err = decodeJob(plain)
	}
	if err != nil {
		// Sealed under a key no longer configured, or altered: it can
		// never be resubmitted, so say so once for every replica.
		s.log.Warn("rescue record unreadable: the job will not be rescued", "error", err.Error())
		_ = s.do(ctx, "claim", func(ctx context.Context) error { return s.b.setState(ctx, id, gone, s.ttl) })
		return nil, State{Phase: PhaseGone}, nil
	}
	return &Claim{s: s, id: id, holder: claimed, Job: job}, State{Phase: PhaseClaimed, Holder: holder}, nil
}

// Rescued records that the job now runs in region to as upstreamID (its
// first copy is original), for every replica and the rest of the TTL, and
// queues the first copy for its cancel (Originals); it counts the rescue,
// adds a rescue event to the span in ctx and logs it.
func (c *Claim) Rescued(ctx context.Context, original Original, to, upstreamID string) error {
	s := c.s
	from := original.Region
	st := State{Phase: PhaseRescued, Region: to, UpstreamID: upstreamID,
		From: from, FromID: original.UpstreamID, APIVersion: original.APIVersion}
	s.rescued.put(c.id, st)
	s.mRescued.Add(ctx, 1, metric.WithAttributes(attribute.String("from", from), attribute.String("to", to)))
	trace.SpanFromContext(ctx).AddEvent("rescue", trace.WithAttributes(
		attribute.String("gateway.rescue.from", from), attribute.String("gateway.rescue.to", to)))
	s.log.InfoContext(ctx, "job rescued: resubmitted to another region because its owner was down", "from", from, "to", to)
	if err := s.do(ctx, "rescued", func(ctx context.Context) error { return s.b.setState(ctx, c.id, st.encode(), s.ttl) }); err != nil {
		return err
	}
	return s.keepOriginal(ctx, c.id, original)
}

// Release gives the claim up (the resubmit failed), so a later poll on any
// replica can try again.
func (c *Claim) Release(ctx context.Context) error {
	return c.s.do(ctx, "release", func(ctx context.Context) error { return c.s.b.release(ctx, c.id, c.holder) })
}

// Status is the store's part of /status.
type Status struct {
	Backend string    `json:"backend"`
	Up      bool      `json:"up"`
	Since   time.Time `json:"since"`
	// LastError is why the store is down; empty while it is up.
	LastError string `json:"lastError,omitempty"`
	// MaxBytes is JOB_RESCUE_MAX_BYTES; HeldBytes what the memory backend
	// holds now (absent for Redis, which keeps its own count).
	MaxBytes  int64  `json:"maxBytes"`
	HeldBytes *int64 `json:"heldBytes,omitempty"`
	// Full is true from a body that found no room (oldest dropped, or
	// Redis at maxmemory) until there is room again (memory: a quarter of
	// MaxBytes free; Redis: a body kept).
	Full bool `json:"full"`
	// Uncovered counts accepted jobs without rescue cover since the start,
	// as gateway_rescue_uncovered_total does.
	Uncovered Uncovered `json:"uncovered"`
}

// Uncovered counts jobs without rescue cover by reason (Reason*).
type Uncovered struct {
	Evicted     int64 `json:"evicted"`
	TooLarge    int64 `json:"tooLarge"`
	Full        int64 `json:"full"`
	Unavailable int64 `json:"unavailable"`
}

// Status reports whether rescue works now and how much it covers.
func (s *Store) Status() Status {
	st := Status{Backend: s.kind, Up: s.up.Load(), MaxBytes: s.maxBytes, Full: s.full.Load(),
		Uncovered: Uncovered{Evicted: s.uncovered.evicted.Load(), TooLarge: s.uncovered.tooLarge.Load(),
			Full: s.uncovered.full.Load(), Unavailable: s.uncovered.unavailable.Load()}}
	if m, ok := s.b.(*memoryBackend); ok {
		held := m.heldBytes()
		st.HeldBytes = &held
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Since = s.changedAt
	if !st.Up {
		st.LastError = s.lastError
	}
	return st
}

// rescuedCache remembers rescued states, which never change once written;
// the oldest is forgotten first.
type rescuedCache struct {
	mu    sync.Mutex
	m     map[string]State
	order []string
	next  int
}

func newRescuedCache(size int) rescuedCache {
	return rescuedCache{m: map[string]State{}, order: make([]string, size)}
}

func (c *rescuedCache) get(id string) (State, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.m[id]
	return st, ok
}

func (c *rescuedCache) put(id string, st State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; ok {
		return
	}
	if old := c.order[c.next]; old != "" {
		delete(c.m, old)
	}
	c.order[c.next], c.m[id] = id, st
	c.next = (c.next + 1) % len(c.order)
}
