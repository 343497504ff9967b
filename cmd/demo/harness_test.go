package main

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"nergateway/internal/testkit/wait"
)

// TestMain checks that no goroutine of the demo outlived it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// eventually retries cond until it holds or 10 s pass; it asserts nothing
// about how long that took.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, what, 10*time.Second, 10*time.Millisecond, cond)
}
