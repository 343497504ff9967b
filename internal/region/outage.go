package region

import (
	"sync"
	"time"
)

// outage is the region's outage clock: since when it has been unavailable
// as this replica sees it, and when it last showed health. The first sign
// of trouble (its breaker opening, a poll it failed) starts an outage; a
// sign of health (its breaker closing, an answer, a job it accepted) ends
// the outage if it began before that sign, and trouble older than the
// latest sign of health starts none. Each replica keeps its own, as it
// keeps its own breakers; job rescue reads it (DownSince).
type outage struct {
	mu    sync.RWMutex
	since time.Time // zero: not down
	up    time.Time // the latest sign of health
}

// Down notes that the region failed at: its breaker opened (the region
// notes that itself), or a call to it failed. An outage already running
// keeps its start; trouble seen before the region's latest sign of health
// is old news.
func (r *Region) Down(at time.Time) {
	o := &r.out
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.since.IsZero() && !at.Before(o.up) {
		o.since = at
	}
}

// Up notes that the region was healthy at: its breaker closed (the region
// notes that itself), it answered, or it accepted a job (at is then the
// job's acceptance, which may be another replica's). An outage that began
// before at is over.
func (r *Region) Up(at time.Time) {
	o := &r.out
	o.mu.RLock()
	since := o.since
	fresh := !o.up.Before(at)
	o.mu.RUnlock()
	if fresh && (since.IsZero() || !since.Before(at)) {
		return // the usual case, on every answer: no write lock
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.up.Before(at) {
		o.up = at
	}
	if !o.since.IsZero() && o.since.Before(at) {
		o.since = time.Time{}
	}
}

// DownSince is when the region's current outage began; down is false
// while it is not known to be down.
func (r *Region) DownSince() (since time.Time, down bool) {
	r.out.mu.RLock()
	defer r.out.mu.RUnlock()
	return r.out.since, !r.out.since.IsZero()
}
