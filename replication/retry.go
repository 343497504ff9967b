package replication

import "time"

// retrySchedule decides when Run tries a failed project again: RetryMin
// after the first failure, doubling with each failure in a row, never later
// than Interval (when the regular check comes anyway). A success forgets
// the project's failures. Only Run's goroutine uses it.
type retrySchedule struct {
	min, max time.Duration
	failures map[*project]int
	at       map[*project]time.Time
}

func newRetrySchedule(minWait, maxWait time.Duration) *retrySchedule {
	return &retrySchedule{min: minWait, max: maxWait, failures: map[*project]int{}, at: map[*project]time.Time{}}
}

// record notes the outcome of one of p's runs that ended at now.
func (s *retrySchedule) record(p *project, err error, now time.Time) {
	if err == nil {
		delete(s.failures, p)
		delete(s.at, p)
		return
	}
	s.failures[p]++
	s.at[p] = now.Add(s.delay(s.failures[p]))
}

// delay is the wait before the retry that follows n failures in a row.
func (s *retrySchedule) delay(n int) time.Duration {
	d := s.min
	for i := 1; i < n && d < s.max; i++ {
		d *= 2
	}
	return min(d, s.max)
}

// due returns the projects whose retry time has come and forgets those
// times; their failure counts stay until a run succeeds.
func (s *retrySchedule) due(now time.Time) []*project {
	var out []*project
	for p, at := range s.at {
		if !at.After(now) {
			out = append(out, p)
			delete(s.at, p)
		}
	}
	return out
}

// next is the earliest pending retry time.
func (s *retrySchedule) next() (time.Time, bool) {
	var first time.Time
	for _, at := range s.at {
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first, !first.IsZero()
}
