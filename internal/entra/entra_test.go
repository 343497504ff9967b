package entra

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/emulator"
	"nergateway/internal/region"
	"nergateway/internal/testkit/syncbuf"
)

// fakeCredential is a token authority under the test's control: it hands
// out numbered tokens that live for life, refuses with fail, or, while
// held, keeps every request waiting until it is released or its caller
// gives up.
type fakeCredential struct {
	life time.Duration

	mu      sync.Mutex
	calls   int
	waiting int
	fail    error
	held    chan struct{} // non-nil while held
}

func (f *fakeCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	f.mu.Lock()
	f.calls++
	held := f.held
	if held != nil {
		f.waiting++
	}
	f.mu.Unlock()
	if held != nil {
		select {
		case <-held:
		case <-ctx.Done():
		}
		f.mu.Lock()
		f.waiting--
		f.mu.Unlock()
		if ctx.Err() != nil {
			return azcore.AccessToken{}, fmt.Errorf("server response error: %w", ctx.Err())
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return azcore.AccessToken{}, f.fail
	}
	if len(o.Scopes) != 1 || o.Scopes[0] != Scope {
		return azcore.AccessToken{}, errors.New("wrong scope")
	}
	return azcore.AccessToken{Token: fmt.Sprintf("token-%d", f.calls), ExpiresOn: time.Now().Add(f.life)}, nil
}

func (f *fakeCredential) hold() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held = make(chan struct{})
}

func (f *fakeCredential) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.held)
	f.held = nil
}

func (f *fakeCredential) stats() (calls, waiting int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.waiting
}

// bearer authorizes a request and returns its Authorization header.
func bearer(t *testing.T, a *Authorizer) (string, error) {
	r := httptest.NewRequest(http.MethodGet, "https://region.example/language/analyze-text/jobs/x", nil)
	err := a.Authorize(r)
	return r.Header.Get("Authorization"), err
}

// logLines are the lines of a log that contain substr, trimmed.
func logLines(log *syncbuf.Buffer, substr string) []string {
	var out []string
	for line := range strings.Lines(log.String()) {
		if strings.Contains(line, substr) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// TestRenewerKeepsTheTokenOffTheRequestPath is the renewer's life in a
// synctest bubble (virtual time, exact): the token is renewed at half-life
// in the background; while the authority stops answering after that point
// the held token keeps every call going without any call waiting on the
// authority; past expiry calls fail at once with the credential and the
// reason; the token is back within RetryMax of the authority's return;
// every change of state is logged once, on one line.
func TestRenewerKeepsTheTokenOffTheRequestPath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cred := &fakeCredential{life: time.Hour}
		logs := &syncbuf.Buffer{}
		a := NewWithCredential(cred, Options{Name: "Microsoft Entra ID (PRIMARY_AUTH=entra)", RetryMin: time.Second,
			RetryMax: 10 * time.Second, FetchTimeout: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(logs, nil))})
		_, err := bearer(t, a)
		require.ErrorIs(t, err, region.ErrNoCredential, "no token before the first renewal")

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- a.Run(ctx) }()
		require.NoError(t, a.Wait(t.Context()))
		start := time.Now()
		tok, err := bearer(t, a)
		require.NoError(t, err)
		assert.Equal(t, "Bearer token-1", tok)

		// Half-life: renewed in the background.
		time.Sleep(30*time.Minute + time.Millisecond)
		synctest.Wait()
		tok, _ = bearer(t, a)
		assert.Equal(t, "Bearer token-2", tok)
		assert.Equal(t, start.Add(90*time.Minute).UTC(), a.Credential().ExpiresAt, "token-2 was fetched at half-life")

		// The authority stops answering at the next renewal point (token-2
		// has 30 minutes left): the renewer waits on it, calls do not.
		cred.hold()
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		calls, waiting := cred.stats()
		require.Equal(t, 1, waiting, "the renewer is waiting on the authority")
		for range 100 {
			tok, err := bearer(t, a)
			require.NoError(t, err)
			require.Equal(t, "Bearer token-2", tok)
		}
		after, stillWaiting := cred.stats()
		assert.Equal(t, calls, after, "no call asked the authority")
		assert.Equal(t, 1, stillWaiting, "the calls were served while the only token request was still unanswered")

		// Renewals keep failing (each after FetchTimeout) until the token
		// expires; calls go on with it.
		time.Sleep(29 * time.Minute)
		_, err = bearer(t, a)
		require.NoError(t, err)
		st := a.Credential()
		assert.True(t, st.Up)
		assert.Equal(t, "the identity provider did not answer within 5s", st.Error)

		// Past expiry: calls fail at once, naming the credential and why.
		time.Sleep(time.Minute)
		synctest.Wait()
		_, err = bearer(t, a)
		var nc *region.NoCredentialError
		require.ErrorAs(t, err, &nc)
		assert.ErrorIs(t, err, ErrNoToken)
		assert.Equal(t, "Microsoft Entra ID (PRIMARY_AUTH=entra)", nc.Credential)
		assert.Equal(t, "the identity provider did not answer within 5s", nc.Reason)
		assert.Positive(t, nc.RetryAfter)
		assert.LessOrEqual(t, nc.RetryAfter, 10*time.Second)
		assert.False(t, a.Credential().Up)
		time.Sleep(10 * time.Minute) // down for long: nothing more is logged

		// The authority answers again: a token within RetryMax.
		cred.release()
		back := time.Now()
		for {
			if _, err := bearer(t, a); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		assert.LessOrEqual(t, time.Since(back), 10*time.Second, "back within RetryMax (the probe interval)")
		assert.True(t, a.Credential().Up)
		assert.Empty(t, a.Credential().Error)

		cancel()
		require.NoError(t, <-done)
		changes := logLines(logs, "gateway credential changed")
		require.Len(t, changes, 4, "valid, renewal failing, none, valid: %q", changes)
		for i, want := range []string{"state=valid", "state=renewal_failing", "state=none", "state=valid"} {
			assert.Contains(t, changes[i], want)
		}
		assert.Contains(t, changes[2], `error="the identity provider did not answer within 5s"`)
		assert.NotContains(t, strings.Join(changes, "\n"), "token-")
	})
}

// A renewer stops with its context, even while the authority holds its
// request.
func TestRenewerStopsWhileTheAuthorityHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cred := &fakeCredential{life: time.Hour}
		cred.hold()
		a := NewWithCredential(cred, Options{FetchTimeout: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- a.Run(ctx) }()
		synctest.Wait()
		cancel()
		require.NoError(t, <-done)
	})
}

func TestRefreshTime(t *testing.T) {
	now := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	assert.Equal(t, now.Add(30*time.Minute), refreshTime(azcore.AccessToken{ExpiresOn: now.Add(time.Hour)}, now, time.Second), "half-life")
	assert.Equal(t, now.Add(3*time.Minute), refreshTime(azcore.AccessToken{ExpiresOn: now.Add(6 * time.Minute)}, now, time.Second))
	assert.Equal(t, now.Add(20*time.Minute), refreshTime(azcore.AccessToken{ExpiresOn: now.Add(time.Hour), RefreshOn: now.Add(20 * time.Minute)}, now, time.Second), "refresh_in wins")
	assert.Equal(t, now.Add(time.Second), refreshTime(azcore.AccessToken{ExpiresOn: now.Add(time.Second)}, now, time.Second), "never sooner than the floor")
}

func TestAuthorizeSetsBearerAndDropsKey(t *testing.T) {
	a := NewWithCredential(&fakeCredential{life: time.Hour}, Options{})
	require.NoError(t, a.Renew(t.Context()))
	r := httptest.NewRequest(http.MethodGet, "https://region.example/language/analyze-text/jobs/x", nil)
	r.Header.Set(api.SubscriptionKeyHeader, "stale-key")
	require.NoError(t, a.Authorize(r))
	assert.Equal(t, "Bearer token-1", r.Header.Get("Authorization"))
	assert.Empty(t, r.Header.Get(api.SubscriptionKeyHeader))
}

// TestDefaultChainClientSecretAgainstRegion runs azidentity's real default
// chain: the environment credential's client-secret flow against a local
// authority over TLS with a test CA, then calls an emulated region that
// accepts only that authority's tokens.
func TestDefaultChainClientSecretAgainstRegion(t *testing.T) {
	issuer := emulator.NewTokenIssuer("tenant-e2e", "client-e2e", "client-secret-e2e-1f2e", Scope, time.Hour)
	t.Cleanup(issuer.Close)
	lang, err := emulator.NewServer(emulator.Options{Name: "westus2", BearerTokens: issuer.Valid})
	require.NoError(t, err)
	t.Cleanup(lang.Close)

	t.Setenv("AZURE_AUTHORITY_HOST", issuer.URL)
	t.Setenv("AZURE_TENANT_ID", issuer.TenantID)
	t.Setenv("AZURE_CLIENT_ID", issuer.ClientID)
	t.Setenv("AZURE_CLIENT_SECRET", issuer.ClientSecret)
	t.Setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential") // no developer tools on a CI machine
	pool := x509.NewCertPool()
	pool.AddCert(issuer.Certificate())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	a, err := New(Options{HTTPClient: client, Getenv: func(k string) string {
		if k == "AZURE_AUTHORITY_HOST" {
			return issuer.URL
		}
		return ""
	}})
	require.NoError(t, err)

	call := func(authorize bool) int {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, lang.URL+api.AuthoringProjectsPath+"?api-version=2022-05-01", nil)
		require.NoError(t, err)
		if authorize {
			require.NoError(t, a.Authorize(req))
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.NoError(t, a.Renew(t.Context()))
	assert.Equal(t, http.StatusUnauthorized, call(false), "the region requires a token")
	for range 5 {
		assert.Equal(t, http.StatusOK, call(true))
	}
	assert.Equal(t, 1, issuer.TokenRequests(), "one token, cached")

	// A wrong secret fails with the authority's reason, never the secret
	// or the authority's host.
	t.Setenv("AZURE_CLIENT_SECRET", "wrong-secret-9a8b")
	bad, err := New(Options{HTTPClient: client, Getenv: func(k string) string { return issuer.URL }})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- bad.Run(ctx) }()
	err = bad.Wait(t.Context())
	var nc *region.NoCredentialError
	require.ErrorAs(t, err, &nc)
	assert.Equal(t, "the identity provider refused the gateway's credentials (invalid_client, AADSTS7000215)", nc.Reason)
	assert.Equal(t, nc.Reason, bad.Credential().Error)
	assert.False(t, bad.Credential().Up)
	req, _ := http.NewRequest(http.MethodGet, lang.URL, nil)
	err = bad.Authorize(req)
	require.ErrorIs(t, err, region.ErrNoCredential)
	require.ErrorIs(t, err, ErrNoToken)
	for _, leak := range []string{"wrong-secret-9a8b", strings.TrimPrefix(issuer.URL, "https://")} {
		assert.NotContains(t, err.Error(), leak)
		assert.NotContains(t, nc.Reason, leak)
	}
	cancel()
	require.NoError(t, <-done)
}
