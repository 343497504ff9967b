package main

import (
	"fmt"
	"net/http"

	"nergateway/api"
	"nergateway/internal/config"
	"nergateway/internal/entra"
)

// regionAuth is how each region's calls carry credentials (PRIMARY_AUTH,
// SECONDARY_AUTH): nil means the region's resource key. The proxy, the
// probes and the worker use the same, so a region sees one identity.
type regionAuth struct {
	primary, secondary api.Authorizer
}

// newRegionAuth builds the Entra ID authorizer when a region needs one;
// both regions share it (one identity, one cached token for the one
// scope). Token requests go through transport, so UPSTREAM_CA_FILE
// applies to the authority too.
func newRegionAuth(cfg *config.Config, transport http.RoundTripper, getenv func(string) string) (regionAuth, error) {
	var ra regionAuth
	if cfg.PrimaryAuth != config.AuthEntra && cfg.SecondaryAuth != config.AuthEntra {
		return ra, nil
	}
	a, err := entra.New(entra.Options{HTTPClient: &http.Client{Transport: transport}, Getenv: getenv})
	if err != nil {
		return ra, fmt.Errorf("PRIMARY_AUTH/SECONDARY_AUTH=entra: %w", err)
	}
	if cfg.PrimaryAuth == config.AuthEntra {
		ra.primary = a
	}
	if cfg.SecondaryAuth == config.AuthEntra {
		ra.secondary = a
	}
	return ra, nil
}
