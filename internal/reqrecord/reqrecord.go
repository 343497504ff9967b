// Package reqrecord holds the record of one client request that the proxy
// writes and middleware reads (the access log): what was decided, which
// regions were tried and how each answered. It sits below both, so a
// reader of the outcome does not import the proxy.
package reqrecord

import (
	"context"

	"nergateway/internal/region"
)

// Result is what the proxy decided for one client request: the seam for
// access logs and other middleware that wants the outcome without
// re-deriving it. Every field but JobID is a fixed label (no client value).
type Result struct {
	// Route is the route's name ("submit", "job", "unknown").
	Route string
	// Region names the region whose answer the client got, or "none".
	Region string
	// Outcome is the request's outcome in the rulebook's vocabulary.
	Outcome region.Outcome
	// Attempts counts the attempts sent to regions.
	Attempts int
	// Tried lists, in order, each region the call was offered to and what
	// became of it (skipped ones too: breaker_open, parked).
	Tried []Attempt
	// JobID is the job id as the client sees it: the one handed out on a
	// submit, the one sent on a poll or cancel; empty on other routes.
	JobID string
	// Calm is why a poll got a calm answer (200 running, proxy/calm.go):
	// the owner's outcome (breaker_open, parked, connection_error,
	// timeout, status_5xx, status_429); empty for any other answer.
	Calm string
}

// Attempt is one region's part in a call.
type Attempt struct {
	Region  string
	Outcome region.Outcome
	// Status is the region's HTTP status; 0 when it gave none.
	Status int
}

type resultKey struct{}

// With returns a context under which the proxy records its Result into
// the returned value; read it after the proxy's ServeHTTP returned.
func With(ctx context.Context) (context.Context, *Result) {
	res := &Result{}
	return context.WithValue(ctx, resultKey{}, res), res
}

// From is the Result a caller asked for with With, or nil: the proxy
// records nothing when nobody reads it.
func From(ctx context.Context) *Result {
	res, _ := ctx.Value(resultKey{}).(*Result)
	return res
}
