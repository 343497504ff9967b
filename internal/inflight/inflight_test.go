package inflight

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
)

// blocking is a handler that holds every request until release is closed,
// counting how many it holds at once.
type blocking struct {
	entered      chan struct{}
	release      chan struct{}
	now, maxSeen atomic.Int64
}

func newBlocking() *blocking {
	return &blocking{entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (b *blocking) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := b.now.Add(1)
	for {
		m := b.maxSeen.Load()
		if n <= m || b.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	b.entered <- struct{}{}
	<-b.release
	b.now.Add(-1)
	w.WriteHeader(http.StatusNoContent)
}

func TestLimitRejectsBeyondMaxWithAzureShaped503(t *testing.T) {
	const max = 3
	next := newBlocking()
	h := Limit(max)(next)

	var wg sync.WaitGroup
	codes := make([]int, max)
	for i := range max {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			codes[i] = rec.Code
		})
	}
	for range max {
		<-next.entered
	}

	// Every slot is taken: the next request is refused at once.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	var body api.ErrorResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	assert.Equal(t, api.CodeServiceUnavailable, body.Error.Code)
	assert.NotEmpty(t, body.Error.Message)

	close(next.release)
	wg.Wait()
	for _, c := range codes {
		assert.Equal(t, http.StatusNoContent, c)
	}
	assert.Equal(t, int64(max), next.maxSeen.Load())

	// Slots are given back: a request after the others passes.
	next.release = make(chan struct{})
	close(next.release)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusNoContent, rec.Code)
}

func TestLimitNeverExceedsMaxUnderLoad(t *testing.T) {
	const max, clients = 4, 64
	var now, peak atomic.Int64
	h := Limit(max)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := now.Add(1)
		defer now.Add(-1)
		for {
			m := peak.Load()
			if n <= m || peak.CompareAndSwap(m, n) {
				break
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range 50 {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
				switch rec.Code {
				case http.StatusOK:
					ok.Add(1)
				case http.StatusServiceUnavailable:
					refused.Add(1)
				default:
					t.Errorf("status %d", rec.Code)
				}
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, peak.Load(), int64(max))
	assert.Equal(t, int64(clients*50), ok.Load()+refused.Load())
	assert.Positive(t, ok.Load())
}

func TestLimitZeroMeansUnlimited(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, max := range []int{0, -1} {
		rec := httptest.NewRecorder()
		Limit(max)(next).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		assert.Equal(t, http.StatusTeapot, rec.Code)
	}
}

// A panic in the next handler must not leak the slot (the gateway's
// Recoverer turns the panic into a 500; the slot must come back).
func TestLimitReleasesOnPanic(t *testing.T) {
	var panicking atomic.Bool
	panicking.Store(true)
	h := Limit(1)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if panicking.Load() {
			panic("boom")
		}
		w.WriteHeader(http.StatusOK)
	}))
	for range 3 {
		func() {
			defer func() { _ = recover() }()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		}()
	}
	panicking.Store(false)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusOK, rec.Code, "the slot came back after the panics")
}
