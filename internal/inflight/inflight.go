// Package inflight bounds what the gateway holds while it serves: how many
// requests are past their body (Slots), and how many bytes of request and
// response bodies are buffered (Budget). The gateway buffers each request
// body (to replay it on failover) and each region answer (to rewrite it);
// beyond either bound a client is told to come back (503 with Retry-After
// in Azure's error shape) rather than the process growing until it is
// killed.
package inflight

import (
	"net/http"
	"strconv"

	"nergateway/api"
)

// RetryAfterSeconds is the Retry-After sent with a 503 beyond a bound: a
// slot or buffer space frees as soon as any one request finishes, so a
// short wait is enough, and Azure's SDKs honour it.
const RetryAfterSeconds = 1

// Slots bounds how many requests are served at once. A nil *Slots has no
// bound.
type Slots struct{ ch chan struct{} }

// NewSlots lets at most max requests hold a slot at once; max <= 0 means
// no bound (a nil *Slots).
func NewSlots(max int) *Slots {
	if max <= 0 {
		return nil
	}
	return &Slots{ch: make(chan struct{}, max)}
}

// TryAcquire takes a slot if one is free; it never waits (a queue would
// hold its connection and memory all the same).
func (s *Slots) TryAcquire() bool {
	if s == nil {
		return true
	}
	select {
	case s.ch <- struct{}{}:
		return true
	default:
		return false
	}
}

// Release returns a slot taken by TryAcquire.
func (s *Slots) Release() {
	if s != nil {
		<-s.ch
	}
}

// WriteBusy answers 503 with Retry-After and Azure's error body; why ends
// the message ("The gateway is serving its maximum number of concurrent
// requests.").
func WriteBusy(w http.ResponseWriter, why string) {
	w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
	api.WriteError(w, http.StatusServiceUnavailable, api.Error{
		Code:    api.CodeServiceUnavailable,
		Message: why + " Please retry after the time in Retry-After.",
	})
}
