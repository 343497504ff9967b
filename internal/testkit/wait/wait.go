// Package wait retries a condition a test waits for: state a process under
// test reaches asynchronously (a probe, a scrape, a listener). It asserts
// nothing about how long that took; the timeout only bounds a test that
// would otherwise hang.
package wait

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Until calls cond every interval until it holds, and fails the test with
// "timed out waiting for <what>" once timeout has passed. cond runs on the
// caller's goroutine, so it may itself call require (unlike
// require.Eventually, which calls it from a goroutine of its own).
func Until(t testing.TB, what string, timeout, interval time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNow(t, "timed out waiting for "+what)
		}
		time.Sleep(interval)
	}
}
