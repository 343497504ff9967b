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
// replica sees it, and when it last showed health. The first sign of
// trouble (its breaker opening, a poll it failed) starts an outage; a sign
// of health (its breaker closing, an answer, a job it accepted) ends the
// outages that began before it, and trouble older than the latest sign of
// health starts none. Each replica keeps its own, as it keeps its own
// breakers.
type outages struct {
	mu    sync.RWMutex
	since map[string]time.Time
	up    map[string]time.Time // the latest sign of health
}

// RegionDown notes that region failed at: its breaker opened, or a call to
// it failed. An outage already running keeps its start; trouble seen before
// the region's latest sign of health is old news.
func (s *Store) RegionDown(region string, at time.Time) {
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	if _, ok := s.out.since[region]; !ok && !at.Before(s.out.up[region]) {
		s.out.since[region] = at
	}
}

// RegionUp notes that region was healthy at: its breaker closed, it
// answered, or it accepted a job (at is then the job's acceptance, which
// may be another replica's). An outage that began before at is over.
func (s *Store) RegionUp(region string, at time.Time) {
	s.out.mu.RLock()
	since, down := s.out.since[region]
	fresh := !s.out.up[region].Before(at)
	s.out.mu.RUnlock()
	if fresh && (!down || !since.Before(at)) {
		return // the usual case, on every answer: no write lock
	}
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	if s.out.up[region].Before(at) {
		s.out.up[region] = at
	}
	if since, ok := s.out.since[region]; ok && since.Before(at) {
		delete(s.out.since, region)
	}
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

// JobDueIn judges the rescue of one job owned by region, accepted at
// accepted (zero: not known). stale means the job was accepted after this
// replica saw the region go down: the region has come back since, so the
// caller notes it (RegionUp) and tries the region for the job, as a
// half-open trial would, before any rescue. Otherwise wait is the time
// left until the job's own clock, which starts at the later of the
// outage's start and the job's acceptance, reaches After (zero or less:
// now).
func (s *Store) JobDueIn(region string, accepted, now time.Time) (wait time.Duration, stale bool) {
	s.out.mu.RLock()
	since, down := s.out.since[region]
	s.out.mu.RUnlock()
	switch {
	case !down:
		return s.after, false // it answered meanwhile: not due
	case accepted.After(since):
		return 0, true
	}
	return since.Add(s.after).Sub(now), false
}
