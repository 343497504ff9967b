package rescue

import (
	"sync"
	"time"
)

// DefaultAfter is how long a job's owner region must have been unavailable
// before the job is rescued (JOB_RESCUE_AFTER): long enough that a blip, a
// deploy or a breaker trial does not double a job, short next to Azure's
// 24h job life and to an SDK poller's patience.
const DefaultAfter = time.Minute

// outages tracks, per region, since when it has been unavailable as this
// replica sees it. The first sign of trouble (its breaker opening, a poll
// it failed) starts an outage; the first sign of health (its breaker
// closing, a poll it answered) ends it. Each replica keeps its own, as it
// keeps its own breakers.
type outages struct {
	mu    sync.RWMutex
	since map[string]time.Time
}

// RegionDown notes that region failed at: its breaker opened, or a call to
// it failed. An outage already running keeps its start.
func (s *Store) RegionDown(region string, at time.Time) {
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	if _, ok := s.out.since[region]; !ok {
		s.out.since[region] = at
	}
}

// RegionUp ends region's outage: its breaker closed, or it answered.
func (s *Store) RegionUp(region string) {
	s.out.mu.RLock()
	_, down := s.out.since[region]
	s.out.mu.RUnlock()
	if !down {
		return // the usual case, on every answer: no write lock
	}
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	delete(s.out.since, region)
}

// DueIn says when jobs owned by region may be rescued: ok=false while the
// region is not known to be down; otherwise the time left until it has
// been down for After (zero or less: now).
func (s *Store) DueIn(region string, now time.Time) (wait time.Duration, ok bool) {
	s.out.mu.RLock()
	since, ok := s.out.since[region]
	s.out.mu.RUnlock()
	if !ok {
		return 0, false
	}
	return since.Add(s.after).Sub(now), true
}
