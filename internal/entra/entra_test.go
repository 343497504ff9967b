package entra

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/emulator"
)

// fakeCredential hands out numbered tokens that live for life, or fails.
type fakeCredential struct {
	now   func() time.Time
	life  time.Duration
	calls int
	fail  error
}

func (f *fakeCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	f.calls++
	if f.fail != nil {
		return azcore.AccessToken{}, f.fail
	}
	if len(o.Scopes) != 1 || o.Scopes[0] != Scope {
		return azcore.AccessToken{}, errors.New("wrong scope")
	}
	return azcore.AccessToken{Token: "token-" + string(rune('0'+f.calls)), ExpiresOn: f.now().Add(f.life)}, nil
}

func TestTokenCachedAndRefreshedBeforeExpiry(t *testing.T) {
	now := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cred := &fakeCredential{now: clock, life: time.Hour}
	a := NewWithCredential(cred, clock)

	tok, err := a.Token(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "token-1", tok)
	now = now.Add(54 * time.Minute)
	tok, _ = a.Token(t.Context())
	assert.Equal(t, "token-1", tok, "cached while more than 5 minutes remain")
	assert.Equal(t, 1, cred.calls)

	now = now.Add(2 * time.Minute) // 4 minutes left: refresh
	tok, _ = a.Token(t.Context())
	assert.Equal(t, "token-2", tok)

	// The token endpoint fails during the refresh window: the current
	// token, still valid, keeps calls going.
	now = now.Add(56 * time.Minute)
	cred.fail = errors.New("token endpoint down")
	tok, err = a.Token(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "token-2", tok)
	// Once it expired, the failure is the caller's.
	now = now.Add(5 * time.Minute)
	_, err = a.Token(t.Context())
	assert.ErrorContains(t, err, "token endpoint down")
}

func TestRefreshTime(t *testing.T) {
	now := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	assert.Equal(t, now.Add(55*time.Minute), refreshTime(azcore.AccessToken{ExpiresOn: now.Add(time.Hour)}, now))
	assert.Equal(t, now.Add(3*time.Minute), refreshTime(azcore.AccessToken{ExpiresOn: now.Add(6 * time.Minute)}, now), "short-lived: halfway")
	assert.Equal(t, now.Add(30*time.Minute), refreshTime(azcore.AccessToken{ExpiresOn: now.Add(time.Hour), RefreshOn: now.Add(30 * time.Minute)}, now), "refresh_in wins")
}

func TestAuthorizeSetsBearerAndDropsKey(t *testing.T) {
	now := time.Now()
	a := NewWithCredential(&fakeCredential{now: func() time.Time { return now }, life: time.Hour}, nil)
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
	region, err := emulator.NewServer(emulator.Options{Name: "westus2", BearerTokens: issuer.Valid})
	require.NoError(t, err)
	t.Cleanup(region.Close)

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
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, region.URL+api.AuthoringProjectsPath+"?api-version=2022-05-01", nil)
		require.NoError(t, err)
		if authorize {
			require.NoError(t, a.Authorize(req))
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusUnauthorized, call(false), "the region requires a token")
	for range 5 {
		assert.Equal(t, http.StatusOK, call(true))
	}
	assert.Equal(t, 1, issuer.TokenRequests(), "one token, cached")

	// A wrong secret fails with the authority's answer, never the secret.
	t.Setenv("AZURE_CLIENT_SECRET", "wrong-secret-9a8b")
	bad, err := New(Options{HTTPClient: client, Getenv: func(k string) string { return issuer.URL }})
	require.NoError(t, err)
	_, err = bad.Token(t.Context())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "wrong-secret-9a8b")
}
