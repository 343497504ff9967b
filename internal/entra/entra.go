// Package entra authorizes the gateway's calls to Azure AI Language with
// Microsoft Entra ID tokens instead of resource keys, for resources that
// switch key auth off (disableLocalAuth) and trust a managed identity.
//
// A token is never fetched on a request's path. Run, owned by the
// gateway's run, renews the token in the background ahead of its expiry
// (at half its remaining life, or when the authority's refresh_in says),
// retrying with backoff; Authorize only reads the token held, until it
// actually expires. Without a valid token Authorize fails at once with a
// region.NoCredentialError: the gateway's own failure, which never charges
// a region's breaker. The proxy, the health probes and the replication
// worker share one Authorizer, so one token serves every region that uses
// it.
package entra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"nergateway/api"
	"nergateway/internal/region"
	"nergateway/internal/sleep"
)

// Scope is the token audience of every Azure AI services resource.
const Scope = "https://cognitiveservices.azure.com/.default"

// ErrNoToken marks a call that could not be authorized: the identity got
// no token (the region is not at fault; the gateway's credential is).
// Every error of Authorize and Renew wraps it and region.ErrNoCredential.
var ErrNoToken = errors.New("entra: no token")

// Defaults of Options.
const (
	DefaultRetryMin     = time.Second
	DefaultRetryMax     = 30 * time.Second
	DefaultFetchTimeout = 30 * time.Second
)

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
	// Name is how errors, logs and /status name the credential; empty
	// means "Microsoft Entra ID".
	Name string
	// RetryMin and RetryMax bound the wait between failed renewals, which
	// doubles from RetryMin; zero means DefaultRetryMin and
	// DefaultRetryMax. The gateway sets RetryMax to HEALTH_PROBE_INTERVAL,
	// so a token is back within one probe interval of the authority's
	// return.
	RetryMin, RetryMax time.Duration
	// FetchTimeout bounds one token request; zero means
	// DefaultFetchTimeout.
	FetchTimeout time.Duration
	// Logger gets one line per change of the credential's state; nil
	// discards.
	Logger *slog.Logger
}

// state is where the credential stands, for logs and /status.
type state string

const (
	stateNone    state = "none"            // no valid token: calls fail
	stateValid   state = "valid"           // a token, renewed on time
	stateFailing state = "renewal_failing" // a valid token, but its renewal fails
)

// Authorizer holds one credential's token. Use New or NewWithCredential;
// Run renews the token, Authorize reads it.
type Authorizer struct {
	cred         azcore.TokenCredential
	name         string
	retryMin     time.Duration
	retryMax     time.Duration
	fetchTimeout time.Duration
	log          *slog.Logger
	first        chan struct{} // closed once the first renewal ended
	firstOnce    sync.Once

	mu      sync.Mutex
	token   azcore.AccessToken
	renewAt time.Time // the next renewal
	failure string    // why the last renewal failed; "" after a success
	cause   error     // its error, for errors.Is
	state   state     // "" until the first renewal ended
	since   time.Time // when state last changed
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
	return NewWithCredential(cred, o), nil
}

// NewWithCredential wraps any credential (o.HTTPClient and o.Getenv are
// not used).
func NewWithCredential(cred azcore.TokenCredential, o Options) *Authorizer {
	a := &Authorizer{cred: cred, name: o.Name, retryMin: o.RetryMin, retryMax: o.RetryMax, fetchTimeout: o.FetchTimeout,
		log: o.Logger, first: make(chan struct{}), since: time.Now().UTC(), failure: "no token yet"}
	if a.name == "" {
		a.name = "Microsoft Entra ID"
	}
	if a.retryMin <= 0 {
		a.retryMin = DefaultRetryMin
	}
	if a.retryMax <= 0 {
		a.retryMax = DefaultRetryMax
	}
	a.retryMax = max(a.retryMax, a.retryMin)
	if a.fetchTimeout <= 0 {
		a.fetchTimeout = DefaultFetchTimeout
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a
}

// Authorize sets "Authorization: Bearer <token>" on r and removes any
// subscription key. It never waits: without a valid token it returns a
// *region.NoCredentialError (wrapping ErrNoToken) saying why and when the
// next renewal is.
func (a *Authorizer) Authorize(r *http.Request) error {
	a.mu.Lock()
	tok, now := a.token, time.Now()
	if tok.Token == "" || !now.Before(tok.ExpiresOn) {
		err := a.noCredential(now)
		a.mu.Unlock()
		return err
	}
	a.mu.Unlock()
	r.Header.Del(api.SubscriptionKeyHeader)
	r.Header.Set("Authorization", "Bearer "+tok.Token)
	return nil
}

// noCredential is the error of a call made without a valid token. a.mu
// is held.
func (a *Authorizer) noCredential(now time.Time) error {
	reason := a.failure
	if reason == "" {
		reason = "the token expired before it could be renewed"
	}
	cause := ErrNoToken
	if a.cause != nil {
		cause = fmt.Errorf("%w: %w", ErrNoToken, a.cause)
	}
	return &region.NoCredentialError{Credential: a.name, Reason: reason, RetryAfter: max(time.Second, a.renewAt.Sub(now)), Err: cause}
}

// Credential reports the credential's state for /status, readiness and
// gateway_credential_up. It holds no token.
func (a *Authorizer) Credential() region.CredentialStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	st := region.CredentialStatus{Kind: "entra", Up: a.token.Token != "" && now.Before(a.token.ExpiresOn),
		RenewAt: a.renewAt.UTC(), Since: a.since, Error: a.failure}
	if st.Up {
		st.ExpiresAt = a.token.ExpiresOn.UTC()
	}
	return st
}

// Run renews the token until ctx is done: at once, then ahead of each
// token's expiry, and after a failure again with backoff (RetryMin
// doubling up to RetryMax) while the token held, if any, stays in use. It
// returns nil when ctx is done.
func (a *Authorizer) Run(ctx context.Context) error {
	backoff := a.retryMin
	for {
		if err := a.renew(ctx, backoff); err == nil {
			backoff = a.retryMin
		} else {
			backoff = min(2*backoff, a.retryMax)
		}
		if ctx.Err() != nil {
			return nil
		}
		a.mu.Lock()
		next := a.renewAt
		a.mu.Unlock()
		for now := time.Now(); now.Before(next); now = time.Now() {
			// Wake at the token's expiry too, so its loss is logged when
			// it happens.
			wake := next
			a.mu.Lock()
			if exp := a.token.ExpiresOn; exp.After(now) && exp.Before(wake) {
				wake = exp
			}
			a.mu.Unlock()
			if sleep.For(ctx, wake.Sub(now)) != nil {
				return nil
			}
			a.note()
		}
	}
}

// Renew asks the credential for a token once, within FetchTimeout, and
// keeps it. On failure the token held stays in use until it expires.
// One-shot commands (check-config -probe) call it instead of Run.
func (a *Authorizer) Renew(ctx context.Context) error { return a.renew(ctx, a.retryMin) }

// renew is Renew, the next renewal retryIn after a failure.
func (a *Authorizer) renew(ctx context.Context, retryIn time.Duration) error {
	defer a.firstOnce.Do(func() { close(a.first) })
	fctx, cancel := context.WithTimeout(ctx, a.fetchTimeout)
	defer cancel()
	tok, err := a.cred.GetToken(fctx, policy.TokenRequestOptions{Scopes: []string{Scope}})
	now := time.Now()
	if err == nil && (tok.Token == "" || !now.Before(tok.ExpiresOn)) {
		err = errors.New("the credential returned an empty or expired token")
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err() // stopping: says nothing about the credential
	}
	a.mu.Lock()
	if err != nil {
		a.failure, a.cause = describe(err, fctx.Err() != nil, a.fetchTimeout), err
		a.renewAt = now.Add(retryIn)
	} else {
		a.token, a.renewAt, a.failure, a.cause = tok, refreshTime(tok, now, a.retryMin), "", nil
	}
	var out error
	if err != nil {
		out = a.noCredential(now)
	}
	a.mu.Unlock()
	a.note()
	return out
}

// Wait returns once the first renewal ended: nil if a token is held, else
// why not. Commands that need a token before they start (replicate
// --once) call it after starting Run.
func (a *Authorizer) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-a.first:
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if now := time.Now(); a.token.Token == "" || !now.Before(a.token.ExpiresOn) {
		return a.noCredential(now)
	}
	return nil
}

// note logs a change of the credential's state, once, on one line.
func (a *Authorizer) note() {
	a.mu.Lock()
	now := time.Now()
	s := stateValid
	switch {
	case a.token.Token == "" || !now.Before(a.token.ExpiresOn):
		s = stateNone
	case a.failure != "":
		s = stateFailing
	}
	if s == a.state {
		a.mu.Unlock()
		return
	}
	a.state, a.since = s, now.UTC()
	attrs := []slog.Attr{slog.String("credential", a.name), slog.String("state", string(s)), slog.Bool("up", s != stateNone)}
	if s != stateNone {
		attrs = append(attrs, slog.Time("expires_at", a.token.ExpiresOn.UTC()))
	}
	if a.failure != "" {
		attrs = append(attrs, slog.String("error", a.failure))
	}
	attrs = append(attrs, slog.Time("next_renewal", a.renewAt.UTC()))
	a.mu.Unlock()
	level := slog.LevelInfo
	switch s {
	case stateFailing:
		level = slog.LevelWarn
	case stateNone:
		level = slog.LevelError
	}
	a.log.LogAttrs(context.Background(), level, "gateway credential changed", attrs...)
}

// refreshTime is when tok should be replaced: when the token endpoint said
// (refresh_in), else halfway through its remaining life, never sooner than
// floor from now.
//
// azidentity answers from its own cache until five minutes before expiry
// (or refresh_in), so for an hour-long token the asks at half-life return
// the token held, each at half the remaining life, until azidentity
// fetches anew: the authority is first asked five minutes before the
// token expires, and a failure there leaves those five minutes, retried
// with backoff.
func refreshTime(tok azcore.AccessToken, now time.Time, floor time.Duration) time.Time {
	at := now.Add(tok.ExpiresOn.Sub(now) / 2)
	if !tok.RefreshOn.IsZero() && tok.RefreshOn.Before(tok.ExpiresOn) {
		at = tok.RefreshOn
	}
	return maxTime(at, now.Add(floor))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// oauthCode and aadstsCode find the authority's error code and Entra's
// AADSTS number in azidentity's error text (which also carries the
// authority's URL and troubleshooting links, never shown).
var (
	oauthCode  = regexp.MustCompile(`"error":\s*"([a-z_]+)"`)
	aadstsCode = regexp.MustCompile(`AADSTS\d+`)
)

// describe says why a renewal failed in words safe for clients and logs:
// no secret, no host.
func describe(err error, timedOut bool, timeout time.Duration) string {
	var afe *azidentity.AuthenticationFailedError
	text := err.Error()
	switch {
	case timedOut || errors.Is(err, context.DeadlineExceeded):
		return "the identity provider did not answer within " + timeout.String()
	case errors.As(err, &afe) && afe.RawResponse != nil:
		var codes []string
		if m := oauthCode.FindStringSubmatch(text); m != nil {
			codes = append(codes, m[1])
		}
		if m := aadstsCode.FindString(text); m != "" {
			codes = append(codes, m)
		}
		why := fmt.Sprintf("the identity provider answered %d", afe.RawResponse.StatusCode)
		if s := afe.RawResponse.StatusCode; s == http.StatusBadRequest || s == http.StatusUnauthorized || s == http.StatusForbidden {
			why = "the identity provider refused the gateway's credentials"
		}
		if len(codes) > 0 {
			why += " (" + strings.Join(codes, ", ") + ")"
		}
		return why
	case strings.Contains(text, "credential") && strings.Contains(text, "unavailable"):
		return "no credential of azidentity's chain is configured (AZURE_* variables, workload or managed identity)"
	}
	return "the token request failed"
}
