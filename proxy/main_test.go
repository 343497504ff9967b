package proxy

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: the
// proxy owns none, and every test server and transport is closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
