package rescue

import (
	"context"
	"sync"
	"time"
)

// backend is where sealed bodies and states live. Every method is one round
// trip and atomic on its own; the Store bounds each with a timeout.
type backend interface {
	// put stores a job's sealed body for ttl.
	put(ctx context.Context, id string, sealed []byte, ttl time.Duration) error
	// state reads a job's state, "" when it has none.
	state(ctx context.Context, id string) (string, error)
	// claim, atomically: when the job has a state, returns it (won false);
	// when its body is missing, records gone for goneTTL and returns that;
	// otherwise records claimed for lease and returns the body (won true).
	claim(ctx context.Context, id, claimed string, lease time.Duration, gone string, goneTTL time.Duration) (won bool, state string, body []byte, err error)
	// setState records a state for ttl, whatever was there.
	setState(ctx context.Context, id, state string, ttl time.Duration) error
	// release deletes the state if it still is claimed (this holder's).
	release(ctx context.Context, id, claimed string) error
	// forget deletes the body and, unless the job has a state already,
	// records finished for ttl.
	forget(ctx context.Context, id, finished string, ttl time.Duration) error
	// ping checks the backend answers.
	ping(ctx context.Context) error
	// sweep drops what expired, for backends that do not expire on their
	// own.
	sweep(now time.Time)
	close() error
	originalsBackend // originals.go
}

// memoryBackend keeps records in this process: one replica only (a second
// replica would not see the first one's jobs), which is what the demo and
// a single gateway need.
type memoryBackend struct {
	now func() time.Time

	mu     sync.Mutex
	bodies map[string]expiring[[]byte]
	states map[string]expiring[string]
	queues map[string]map[string]time.Time // originals: region → job id → expiry (originals.go)
}

type expiring[T any] struct {
	v   T
	exp time.Time
}

func newMemoryBackend(now func() time.Time) *memoryBackend {
	return &memoryBackend{now: now, bodies: map[string]expiring[[]byte]{}, states: map[string]expiring[string]{}}
}

// live reads m[id], dropping it if it expired.
func live[T any](m map[string]expiring[T], id string, now time.Time) (T, bool) {
	e, ok := m[id]
	if ok && !now.Before(e.exp) {
		delete(m, id)
		ok = false
	}
	return e.v, ok
}

func (m *memoryBackend) put(_ context.Context, id string, sealed []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bodies[id] = expiring[[]byte]{sealed, m.now().Add(ttl)}
	return nil
}

func (m *memoryBackend) state(_ context.Context, id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, _ := live(m.states, id, m.now())
	return s, nil
}

func (m *memoryBackend) claim(_ context.Context, id, claimed string, lease time.Duration, gone string, goneTTL time.Duration) (bool, string, []byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if s, ok := live(m.states, id, now); ok {
		return false, s, nil, nil
	}
	body, ok := live(m.bodies, id, now)
	if !ok {
		m.states[id] = expiring[string]{gone, now.Add(goneTTL)}
		return false, gone, nil, nil
	}
	m.states[id] = expiring[string]{claimed, now.Add(lease)}
	return true, claimed, body, nil
}

func (m *memoryBackend) setState(_ context.Context, id, state string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states[id] = expiring[string]{state, m.now().Add(ttl)}
	return nil
}

func (m *memoryBackend) release(_ context.Context, id, claimed string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := live(m.states, id, m.now()); ok && s == claimed {
		delete(m.states, id)
	}
	return nil
}

func (m *memoryBackend) forget(_ context.Context, id, finished string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.bodies, id)
	now := m.now()
	if _, ok := live(m.states, id, now); !ok {
		m.states[id] = expiring[string]{finished, now.Add(ttl)}
	}
	return nil
}

func (m *memoryBackend) ping(context.Context) error { return nil }

func (m *memoryBackend) sweep(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, e := range m.bodies {
		if !now.Before(e.exp) {
			delete(m.bodies, id)
		}
	}
	for id, e := range m.states {
		if !now.Before(e.exp) {
			delete(m.states, id)
		}
	}
}

func (m *memoryBackend) close() error { return nil }

// size is how many bodies and states are held (tests, benchmarks).
func (m *memoryBackend) size() (bodies, states int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.bodies), len(m.states)
}
