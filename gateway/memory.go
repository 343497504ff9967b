package gateway

import (
	"log/slog"
	"runtime/debug"

	"nergateway/internal/config"
)

// setMemoryLimit gives the Go runtime the soft memory limit the
// configuration sizes (config.MemoryLimit), so memory stays bounded by
// construction whatever starts the binary; a GOMEMLIMIT in the
// environment wins (the runtime applied it itself at start). It logs the
// limit in force and returns what restores the previous one: the limit is
// the process's, and run may not be the whole process (tests).
func setMemoryLimit(cfg *config.Config, getenv func(string) string, log *slog.Logger) (restore func()) {
	if getenv("GOMEMLIMIT") != "" {
		log.Info("soft memory limit from GOMEMLIMIT", "bytes", debug.SetMemoryLimit(-1))
		return func() {}
	}
	limit := cfg.MemoryLimit()
	prev := debug.SetMemoryLimit(limit)
	log.Info("soft memory limit set: GATEWAY_MAX_BUFFERED_BYTES + JOB_RESCUE_MAX_BYTES (JOB_RESCUE=memory only) + 64MiB",
		"bytes", limit, "mib", limit>>20)
	return func() { debug.SetMemoryLimit(prev) }
}
