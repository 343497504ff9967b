package rescue

import "time"

// DefaultAfter is how long a job's owner region must have been unavailable
// before the job is rescued (JOB_RESCUE_AFTER): long enough that a blip, a
// deploy or a breaker trial does not double a job, short next to Azure's
// 24h job life and to an SDK poller's patience.
const DefaultAfter = time.Minute

// Region is what rescue reads of a job's owner region: since when it has
// been unavailable as this replica sees it. The region keeps that clock
// beside its breaker (internal/region's Region is one); rescue only
// judges it against After.
type Region interface {
	DownSince() (since time.Time, down bool)
}

// DueIn says when jobs owned by r may be rescued: ok=false while the
// region is not known to be down; otherwise the time left until it has
// been down for After (zero or less: now).
func (s *Store) DueIn(r Region, now time.Time) (wait time.Duration, ok bool) {
	since, ok := r.DownSince()
	if !ok {
		return 0, false
	}
	return since.Add(s.after).Sub(now), true
}

// JobDueIn judges the rescue of one job owned by r, accepted at accepted
// (zero: not known). stale means the job was accepted after this replica
// saw the region go down: the region has come back since, so the caller
// notes it (the region's Up) and tries the region for the job, as a
// half-open trial would, before any rescue. Otherwise wait is the time
// left until the job's own clock, which starts at the later of the
// outage's start and the job's acceptance, reaches After (zero or less:
// now).
func (s *Store) JobDueIn(r Region, accepted, now time.Time) (wait time.Duration, stale bool) {
	since, down := r.DownSince()
	switch {
	case !down:
		return s.after, false // it answered meanwhile: not due
	case accepted.After(since):
		return 0, true
	}
	return since.Add(s.after).Sub(now), false
}
