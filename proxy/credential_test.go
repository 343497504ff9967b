package proxy

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/internal/region"
)

// entraAuth stands for an Entra ID authorizer whose token is held (up) or
// expired unrenewed; the fake regions take their key as the token.
type entraAuth struct {
	up  atomic.Bool
	key string
}

func (a *entraAuth) Authorize(r *http.Request) error {
	if !a.up.Load() {
		return &region.NoCredentialError{Credential: "Microsoft Entra ID (PRIMARY_AUTH=entra)",
			Reason: "the identity provider did not answer within 10s", RetryAfter: 7 * time.Second}
	}
	r.Header.Set(api.SubscriptionKeyHeader, a.key)
	return nil
}

func (a *entraAuth) Credential() region.CredentialStatus {
	return region.CredentialStatus{Kind: "entra", Up: a.up.Load()}
}

// A region the gateway holds no valid credential for is not called, and
// that is never the region's fault: the call goes to a region it can
// authorize; when there is none, the client gets 503 with Retry-After and
// an Azure-shaped error saying the gateway cannot authenticate to the
// region, naming the credential and why (no secret). However many calls
// fail so, no breaker opens and no failure is charged.
func TestNoCredentialIsNeverTheRegionsFault(t *testing.T) {
	primary, secondary := newFakeRegion(t, "p"), newFakeRegion(t, "s")
	pAuth, sAuth := &entraAuth{key: primary.key}, &entraAuth{key: secondary.key}
	sAuth.up.Store(true)
	h := newHarness(t, []upstream{primary.upstream(), secondary.upstream()}, harnessOptions{failures: 1, auth: []api.Authorizer{pAuth, sAuth}})

	for range 5 {
		sub := h.submit("proj", "prod")
		require.Equal(t, http.StatusAccepted, sub.status, "served by the region it can authorize: %s", sub.body)
	}
	assert.Zero(t, primary.TotalCalls(), "nothing is sent without a credential")
	assert.Equal(t, 5, secondary.TotalCalls())

	sAuth.up.Store(false)
	for range 5 {
		sub := h.submit("proj", "prod")
		require.Equal(t, http.StatusServiceUnavailable, sub.status)
		assert.Equal(t, "7", sub.header.Get("Retry-After"))
		assert.Equal(t, "ServiceUnavailable", sub.errorCode(t))
		msg := string(sub.body)
		assert.Contains(t, msg, "The gateway cannot authenticate to region eastus now")
		assert.Contains(t, msg, "Microsoft Entra ID (PRIMARY_AUTH=entra) has no valid token: the identity provider did not answer within 10s")
		assert.Contains(t, msg, "the region itself was not called")
	}
	assert.Equal(t, 5, secondary.TotalCalls())
	for _, r := range h.regions {
		st := r.Status()
		assert.Equal(t, region.StateClosed, st.Breaker, r.Name())
		assert.Zero(t, st.ConsecutiveFailures, r.Name())
		assert.Empty(t, st.RecentFailures, r.Name())
		assert.Empty(t, st.Parked, r.Name())
	}
	assert.Equal(t, int64(10), h.counter("gateway.failovers", map[string]string{"reason": "no_credential"}), "each call moved on from the primary")

	pAuth.up.Store(true)
	sub := h.submit("proj", "prod")
	assert.Equal(t, http.StatusAccepted, sub.status, "back the moment a token is held")
}
