package emulator

import (
	"time"

	"nergateway/api"
)

// phase is where a job stands at some instant, derived from the clock
// rather than stored, so no goroutine has to move jobs along.
type phase struct {
	status  string
	updated time.Time // when the job entered status
}

// lifecycle computes the phase of a job created at created that takes d:
// notStarted for the first third, running until created+d, then final
// (succeeded or failed). A cancel before the end shows cancelling for a
// third of d, then cancelled.
func lifecycle(now, created time.Time, d time.Duration, cancelAt time.Time, final string) phase {
	third := d / 3
	end := created.Add(d)
	if !cancelAt.IsZero() && cancelAt.Before(end) {
		done := cancelAt.Add(third)
		if now.Before(done) {
			return phase{api.StatusCancelling, cancelAt}
		}
		return phase{api.StatusCancelled, done}
	}
	switch {
	case now.Before(created.Add(third)):
		return phase{api.StatusNotStarted, created}
	case now.Before(end):
		return phase{api.StatusRunning, created.Add(third)}
	}
	return phase{final, end}
}
