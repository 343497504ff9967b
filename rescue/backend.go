package rescue

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// backend is where sealed bodies and states live. Every method is one round
// trip and atomic on its own; the Store bounds each with a timeout.
type backend interface {
	// put stores a job's sealed body for ttl. A backend that bounds its
	// bytes itself (memory) drops the oldest bodies to make room and says
	// how many.
	put(ctx context.Context, id string, sealed []byte, ttl time.Duration) (evicted int, err error)
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
// a single gateway need. Its bodies hold at most maxBytes: the oldest go
// first, since a fresh job is the one most likely still running when its
// region dies.
type memoryBackend struct {
	now      func() time.Time
	maxBytes int64

	mu     sync.Mutex
	bodies map[string]*heldBody
	order  list.List // of *heldBody, oldest first
	held   int64     // bytes of every body in bodies
	states map[string]expiring[string]
	queues map[string]map[string]time.Time // originals: region → job id → expiry (originals.go)
}

type heldBody struct {
	id     string
	sealed []byte
	exp    time.Time
	el     *list.Element
}

type expiring[T any] struct {
	v   T
	exp time.Time
}

func newMemoryBackend(now func() time.Time, maxBytes int64) *memoryBackend {
	return &memoryBackend{now: now, maxBytes: maxBytes, bodies: map[string]*heldBody{}, states: map[string]expiring[string]{}}
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

// put makes room by dropping the oldest bodies: one list walk from the
// front, never a scan, so a full store costs a submit nothing more. The
// Store refuses a body larger than maxBytes before it gets here.
func (m *memoryBackend) put(_ context.Context, id string, sealed []byte, ttl time.Duration) (evicted int, _ error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.drop(m.bodies[id])
	for m.held+int64(len(sealed)) > m.maxBytes && m.order.Len() > 0 {
		m.drop(m.order.Front().Value.(*heldBody))
		evicted++
	}
	b := &heldBody{id: id, sealed: sealed, exp: m.now().Add(ttl)}
	b.el = m.order.PushBack(b)
	m.bodies[id], m.held = b, m.held+int64(len(sealed))
	return evicted, nil
}

// drop removes b (nil: nothing) from the bodies.
func (m *memoryBackend) drop(b *heldBody) {
	if b == nil {
		return
	}
	m.order.Remove(b.el)
	delete(m.bodies, b.id)
	m.held -= int64(len(b.sealed))
}

// body reads a live body, dropping it if it expired.
func (m *memoryBackend) body(id string, now time.Time) ([]byte, bool) {
	b, ok := m.bodies[id]
	if ok && !now.Before(b.exp) {
		m.drop(b)
		ok = false
	}
	if !ok {
		return nil, false
	}
	return b.sealed, true
}

// heldBytes is the bytes of the bodies held now (/status).
func (m *memoryBackend) heldBytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held
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
	body, ok := m.body(id, now)
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
	m.drop(m.bodies[id])
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
	for _, b := range m.bodies {
		if !now.Before(b.exp) {
			m.drop(b)
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
