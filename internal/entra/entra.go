// Package entra authorizes the gateway's calls to Azure AI Language with
// Microsoft Entra ID tokens instead of resource keys, for resources that
// switch key auth off (disableLocalAuth) and trust a managed identity.
//
// Its one seam is Authorizer.Authorize, which sets the Authorization header
// of an outgoing request; the proxy, the health probes and the replication
// worker all call it, so they share one cached token per region.
package entra

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"nergateway/api"
)

// Scope is the token audience of every Azure AI services resource.
const Scope = "https://cognitiveservices.azure.com/.default"

// ErrNoToken marks a call that could not be authorized: the identity got
// no token (the region is not at fault; its credentials are).
var ErrNoToken = errors.New("entra: no token")

// refreshMargin is how long before expiry a token is replaced, unless the
// token endpoint said when to refresh (refresh_in) or the token lives less
// than twice this long.
const refreshMargin = 5 * time.Minute

// Options configure New.
type Options struct {
	// HTTPClient sends the token requests: the gateway's verified-TLS
	// transport, so UPSTREAM_CA_FILE applies to a private authority too.
	// Nil means azcore's default.
	HTTPClient *http.Client
	// Getenv reads AZURE_AUTHORITY_HOST. When it names an authority,
	// instance discovery (a call to login.microsoftonline.com) is skipped:
	// the operator vouches for that authority (private clouds, tests).
	// azidentity itself reads the other AZURE_* variables of the process.
	Getenv func(string) string
}

// Authorizer gets tokens from a credential and keeps the current one until
// shortly before it expires. The zero value is not usable; use New or
// NewWithCredential.
type Authorizer struct {
	cred azcore.TokenCredential
	now  func() time.Time

	mu        sync.Mutex
	token     azcore.AccessToken
	refreshAt time.Time
}

// New builds an Authorizer on azidentity's default chain: environment
// (client secret or certificate), workload identity, managed identity,
// then developer tools.
func New(o Options) (*Authorizer, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	opts := &azidentity.DefaultAzureCredentialOptions{DisableInstanceDiscovery: getenv("AZURE_AUTHORITY_HOST") != ""}
	if o.HTTPClient != nil {
		opts.ClientOptions.Transport = o.HTTPClient
	}
	cred, err := azidentity.NewDefaultAzureCredential(opts)
	if err != nil {
		return nil, fmt.Errorf("entra: credential chain: %w", err)
	}
	return NewWithCredential(cred, nil), nil
}

// NewWithCredential wraps any credential; now, if not nil, replaces the
// clock (tests).
func NewWithCredential(cred azcore.TokenCredential, now func() time.Time) *Authorizer {
	if now == nil {
		now = time.Now
	}
	return &Authorizer{cred: cred, now: now}
}

// Authorize sets "Authorization: Bearer <token>" on r and removes any
// subscription key. Getting a token waits at most as long as r's context
// allows; a token that is due for refresh but not yet expired is used when
// the refresh fails, so a token endpoint blip fails no call.
func (a *Authorizer) Authorize(r *http.Request) error {
	token, err := a.Token(r.Context())
	if err != nil {
		return err
	}
	r.Header.Del(api.SubscriptionKeyHeader)
	r.Header.Set("Authorization", "Bearer "+token)
	return nil
}

// Token returns the current token, getting a new one when due.
func (a *Authorizer) Token(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if a.token.Token != "" && now.Before(a.refreshAt) {
		return a.token.Token, nil
	}
	tok, err := a.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{Scope}})
	if err != nil {
		if a.token.Token != "" && now.Before(a.token.ExpiresOn) {
			return a.token.Token, nil
		}
		return "", fmt.Errorf("%w for %s: %w", ErrNoToken, Scope, err)
	}
	if tok.Token == "" {
		return "", fmt.Errorf("%w: the credential returned an empty one", ErrNoToken)
	}
	a.token, a.refreshAt = tok, refreshTime(tok, now)
	return tok.Token, nil
}

// refreshTime is when tok should be replaced: when the token endpoint said
// (refresh_in), else refreshMargin before expiry, else halfway through a
// short-lived token.
func refreshTime(tok azcore.AccessToken, now time.Time) time.Time {
	if !tok.RefreshOn.IsZero() && tok.RefreshOn.Before(tok.ExpiresOn) {
		return tok.RefreshOn
	}
	life := tok.ExpiresOn.Sub(now)
	if life > 2*refreshMargin {
		return tok.ExpiresOn.Add(-refreshMargin)
	}
	return now.Add(life / 2)
}
