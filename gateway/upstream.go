package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"nergateway/api"
	"nergateway/internal/config"
	"nergateway/internal/entra"
	"nergateway/internal/region"
	"nergateway/internal/secret"
	"nergateway/internal/transport"
)

// side is one region as the configuration describes it, primary or
// secondary: every rule that holds for both is a loop over sides, written
// once.
type side struct {
	role     string // region.RolePrimary or region.RoleSecondary
	prefix   string // "PRIMARY_": the variables' prefix, which check-config's lines name
	name     string // PRIMARY_NAME
	endpoint *url.URL
	key      secret.Secret
	auth     string // PRIMARY_AUTH: config.AuthKey or config.AuthEntra
	// authorizer carries the region's credentials when it is not its key
	// (nil); newUpstream sets it.
	authorizer api.Authorizer

	storageURL, storageKey secret.Secret
	container              string // PRIMARY_CONTAINER_NAME
}

// sides are the two regions of cfg, primary first.
func sides(cfg *config.Config) []side {
	return []side{
		{role: region.RolePrimary, prefix: "PRIMARY_", name: cfg.PrimaryName, endpoint: cfg.PrimaryEndpoint, key: cfg.PrimaryKey,
			auth: cfg.PrimaryAuth, storageURL: cfg.PrimaryStorageURL, storageKey: cfg.PrimaryStorageKey, container: cfg.PrimaryContainer},
		{role: region.RoleSecondary, prefix: "SECONDARY_", name: cfg.SecondaryName, endpoint: cfg.SecondaryEndpoint, key: cfg.SecondaryKey,
			auth: cfg.SecondaryAuth, storageURL: cfg.SecondaryStorageURL, storageKey: cfg.SecondaryStorageKey, container: cfg.SecondaryContainer},
	}
}

// upstream is how every command reaches the regions: one connection pool
// (UPSTREAM_CA_FILE), one credential per region (PRIMARY_AUTH,
// SECONDARY_AUTH), and API clients on both. The proxy, the probes, the
// worker and check-config -probe use the same, so a region sees one
// identity whichever part calls.
type upstream struct {
	cfg       *config.Config
	sides     []side
	transport *http.Transport
	entra     *entra.Authorizer // nil when no region uses Entra ID
}

// newUpstream builds the pool and the credentials. Nothing fetches a token
// until run (or renew) is called.
func newUpstream(cfg *config.Config, getenv func(string) string, log *slog.Logger) (*upstream, error) {
	transport, err := transport.New(cfg.UpstreamCAFile)
	if err != nil {
		return nil, err
	}
	u := &upstream{cfg: cfg, sides: sides(cfg), transport: transport}
	if err := u.withEntra(getenv, log); err != nil {
		transport.CloseIdleConnections()
		return nil, err
	}
	return u, nil
}

// withEntra builds the Entra ID authorizer when a region needs one; both
// regions share it (one identity, one token for the one scope). Token
// requests go through the pool, so UPSTREAM_CA_FILE applies to the
// authority too, each bounded by UPSTREAM_TIMEOUT; after a failed renewal
// the renewer retries within HEALTH_PROBE_INTERVAL at most, so a token is
// back within one probe interval of the authority's return.
func (u *upstream) withEntra(getenv func(string) string, log *slog.Logger) error {
	var uses []string
	for _, s := range u.sides {
		if s.auth == config.AuthEntra {
			uses = append(uses, s.prefix+"AUTH=entra")
		}
	}
	if len(uses) == 0 {
		return nil
	}
	a, err := entra.New(entra.Options{HTTPClient: &http.Client{Transport: u.transport}, Getenv: getenv,
		Name:     "Microsoft Entra ID (" + strings.Join(uses, ", ") + ")",
		RetryMax: u.cfg.HealthProbeInterval, FetchTimeout: u.cfg.UpstreamTimeout, Logger: log})
	if err != nil {
		return fmt.Errorf("PRIMARY_AUTH/SECONDARY_AUTH=entra: %w", err)
	}
	u.entra = a
	for i := range u.sides {
		if u.sides[i].auth == config.AuthEntra {
			u.sides[i].authorizer = a
		}
	}
	return nil
}

// client is an API client for s. Timeout bounds every request it sends,
// the polls inside Wait and the export download included, so a region
// that stops answering fails the call instead of holding it.
func (u *upstream) client(s side, timeout time.Duration) (*api.Client, error) {
	return api.NewClient(s.endpoint.String(), s.key, api.ClientOptions{
		HTTPClient:          &http.Client{Transport: u.transport, Timeout: timeout},
		AuthoringAPIVersion: u.cfg.AuthoringAPIVersion,
		Authorizer:          s.authorizer,
	})
}

// run renews the Entra ID token in the background until ctx is done (at
// once when no region uses Entra ID).
func (u *upstream) run(ctx context.Context) error {
	if u.entra == nil {
		return nil
	}
	return u.entra.Run(ctx)
}

// renew gets a token once, for one-shot commands; its failure shows in
// every call that needs the token, so it is not returned.
func (u *upstream) renew(ctx context.Context) {
	if u.entra != nil {
		_ = u.entra.Renew(ctx)
	}
}

// wait returns once the renewer started by run has tried once: nil when a
// token is held (or none is needed), else why not.
func (u *upstream) wait(ctx context.Context) error {
	if u.entra == nil {
		return nil
	}
	if err := u.entra.Wait(ctx); err != nil {
		return fmt.Errorf("PRIMARY_AUTH/SECONDARY_AUTH=entra: %w", err)
	}
	return nil
}

// close releases the pool's idle connections.
func (u *upstream) close() { u.transport.CloseIdleConnections() }
