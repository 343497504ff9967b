package telemetry

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: every
// exporter, reader and connection Setup starts must stop at Shutdown.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
