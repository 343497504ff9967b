package gateway

import (
	"fmt"
	"log/slog"

	"nergateway/api"
	"nergateway/internal/config"
	"nergateway/internal/telemetry"
	"nergateway/replication"
)

// newWorker builds the replication worker with a client per region. A
// canary that will not run is logged once here, for serving and
// replicate --once alike.
func newWorker(cfg *config.Config, up *upstream, tel *telemetry.Telemetry, log *slog.Logger) (*replication.Worker, error) {
	if why := cfg.CanaryOff(); why != "" {
		log.Warn("replication canary off", "reason", why)
	}
	var clients [2]*api.Client
	for i, s := range up.sides {
		c, err := up.client(s, cfg.UpstreamTimeout)
		if err != nil {
			return nil, fmt.Errorf("%s client: %w", s.role, err)
		}
		clients[i] = c
	}
	rc := replication.Config{
		Primary:                 clients[0],
		Secondary:               clients[1],
		PrimaryName:             cfg.PrimaryName,
		SecondaryName:           cfg.SecondaryName,
		Projects:                cfg.Projects,
		ProjectNames:            cfg.ProjectNames,
		DeploymentNames:         cfg.DeploymentNames,
		SecondaryContainer:      cfg.SecondaryContainer,
		Interval:                cfg.ReplicationInterval,
		RetryMin:                cfg.ReplicationRetryMin,
		CallTimeout:             cfg.UpstreamTimeout,
		AuthoringPostsPerMinute: cfg.AuthoringPostsPerMin,
		TracerProvider:          tel.TracerProvider,
		MeterProvider:           tel.MeterProvider,
		Logger:                  log,
	}
	if err := withDocuments(&rc, cfg, clients[0], clients[1]); err != nil {
		return nil, err
	}
	return replication.New(rc)
}
