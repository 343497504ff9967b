// Package sleep waits for a duration or until a context is done, whichever
// comes first: the one way the gateway waits out a backoff, a Retry-After
// or an injected latency. It imports nothing of the module, so the wire
// format (api) may use it.
package sleep

import (
	"context"
	"time"
)

// For waits d, or until ctx is done. It returns ctx.Err() when the wait
// was cut short (or ctx was already done), else nil. d <= 0 does not wait.
func For(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
