package proxy

import (
	"time"

	"nergateway/internal/region"
)

// regionView is what selection needs to know about one region at one
// instant. Keeping it a plain value makes selection a pure function that a
// table test can drive without breakers or clocks.
type regionView struct {
	State       region.State
	ParkedUntil time.Time // zero: not parked
	// OpenUntil is when an open breaker lets its half-open trial through;
	// zero when the region does not say (see Config.OpenRetryAfter).
	OpenUntil time.Time
}

// noOwner marks a call that may go to any region (submit, sync analyze).
const noOwner = -1

// selectRegions returns the indexes of the regions to try, in order (in
// dst's array when it has room), for a call at now. owner is the region
// that must answer (a job's owner, the primary for authoring) or noOwner.
//
// Without an owner, regions are taken in priority order, skipping open and
// parked ones, and also half-open ones: the health probe is the half-open
// trial, so clients do not pay for testing a region that just failed. Only
// when no closed region is available are half-open regions tried, as a last
// resort, because trying beats a certain 503.
//
// With an owner, only the owner can answer: it is tried unless its breaker
// is open or it is parked.
//
// When nothing can be tried, order is empty and retryAfter says when the
// earliest of the considered regions may take calls again (at least 1 s,
// rounded up to whole seconds, as Retry-After carries seconds).
func selectRegions(dst []int, views []regionView, now time.Time, owner int, openRetryAfter time.Duration) (order []int, retryAfter time.Duration) {
	order = dst[:0]
	if owner != noOwner {
		if owner < 0 || owner >= len(views) {
			return nil, time.Second
		}
		if available(views[owner], now) {
			return append(order, owner), 0
		}
		return nil, waitFor(views[owner:owner+1], now, openRetryAfter)
	}
	for i, v := range views {
		if v.State == region.StateClosed && available(v, now) {
			order = append(order, i)
		}
	}
	if len(order) > 0 {
		return order, 0
	}
	for i, v := range views {
		if v.State == region.StateHalfOpen && available(v, now) {
			order = append(order, i)
		}
	}
	if len(order) > 0 {
		return order, 0
	}
	return nil, waitFor(views, now, openRetryAfter)
}

// available reports whether a region may be sent a call at all.
func available(v regionView, now time.Time) bool {
	return v.State != region.StateOpen && !v.ParkedUntil.After(now)
}

// waitFor is the Retry-After for a client when none of views can take a
// call: the time until the first of them may, at least one second.
func waitFor(views []regionView, now time.Time, openRetryAfter time.Duration) time.Duration {
	var best time.Duration = -1
	for _, v := range views {
		var wait time.Duration
		if v.ParkedUntil.After(now) {
			wait = v.ParkedUntil.Sub(now)
		}
		if v.State == region.StateOpen {
			open := openRetryAfter
			if !v.OpenUntil.IsZero() {
				open = v.OpenUntil.Sub(now)
			}
			wait = max(wait, open)
		}
		if best < 0 || wait < best {
			best = wait
		}
	}
	return roundRetryAfter(best)
}

// roundRetryAfter rounds d up to whole seconds, at least one.
func roundRetryAfter(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
