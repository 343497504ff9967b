package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"nergateway/api"
	"nergateway/internal/config"
	"nergateway/internal/entra"
)

// regionAuth is how each region's calls carry credentials (PRIMARY_AUTH,
// SECONDARY_AUTH): nil means the region's resource key. The proxy, the
// probes and the worker use the same, so a region sees one identity.
type regionAuth struct {
	primary, secondary api.Authorizer
	entra              *entra.Authorizer // nil when no region uses Entra ID
}

// newRegionAuth builds the Entra ID authorizer when a region needs one;
// both regions share it (one identity, one token for the one scope).
// Token requests go through transport, so UPSTREAM_CA_FILE applies to the
// authority too, each bounded by UPSTREAM_TIMEOUT; after a failed renewal
// the renewer retries within HEALTH_PROBE_INTERVAL at most, so a token is
// back within one probe interval of the authority's return. Nothing
// fetches a token until run (or renew) is called.
func newRegionAuth(cfg *config.Config, transport http.RoundTripper, getenv func(string) string, log *slog.Logger) (regionAuth, error) {
	var ra regionAuth
	var uses []string
	if cfg.PrimaryAuth == config.AuthEntra {
		uses = append(uses, "PRIMARY_AUTH=entra")
	}
	if cfg.SecondaryAuth == config.AuthEntra {
		uses = append(uses, "SECONDARY_AUTH=entra")
	}
	if len(uses) == 0 {
		return ra, nil
	}
	a, err := entra.New(entra.Options{HTTPClient: &http.Client{Transport: transport}, Getenv: getenv,
		Name:     "Microsoft Entra ID (" + strings.Join(uses, ", ") + ")",
		RetryMax: cfg.HealthProbeInterval, FetchTimeout: cfg.UpstreamTimeout, Logger: log})
	if err != nil {
		return ra, fmt.Errorf("PRIMARY_AUTH/SECONDARY_AUTH=entra: %w", err)
	}
	ra.entra = a
	if cfg.PrimaryAuth == config.AuthEntra {
		ra.primary = a
	}
	if cfg.SecondaryAuth == config.AuthEntra {
		ra.secondary = a
	}
	return ra, nil
}

// run renews the Entra ID token in the background until ctx is done (at
// once when no region uses Entra ID).
func (ra regionAuth) run(ctx context.Context) error {
	if ra.entra == nil {
		return nil
	}
	return ra.entra.Run(ctx)
}

// renew gets a token once, for one-shot commands; its failure shows in
// every call that needs the token, so it is not returned.
func (ra regionAuth) renew(ctx context.Context) {
	if ra.entra != nil {
		_ = ra.entra.Renew(ctx)
	}
}

// wait returns once the renewer started by run has tried once: nil when a
// token is held (or none is needed), else why not.
func (ra regionAuth) wait(ctx context.Context) error {
	if ra.entra == nil {
		return nil
	}
	if err := ra.entra.Wait(ctx); err != nil {
		return fmt.Errorf("PRIMARY_AUTH/SECONDARY_AUTH=entra: %w", err)
	}
	return nil
}
