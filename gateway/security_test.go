package gateway

// Security checks at the gateway's edge: verified upstream TLS, gateway
// keys that are never echoed or forwarded, no way for a client to make the
// gateway call a host that is not configured (SSRF), and the per-key rate
// limit. TestMain's scan adds that no response or log line names a region
// key or host.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/emulator"
	"nergateway/internal/testkit/loopback"
)

// spyRegion is a region endpoint in front of an emulator that records
// every request the gateway sent it.
type spyRegion struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request // clones, bodies not kept
}

func newSpyRegion(t *testing.T, em *emulator.Server, useTLS bool) *spyRegion {
	t.Helper()
	target, err := url.Parse(em.URL)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(target)
	s := &spyRegion{}
	// Like any front end of a region, the spy answers with its own URLs,
	// not the emulator's behind it.
	rp.ModifyResponse = func(resp *http.Response) error {
		for _, k := range []string{"Operation-Location", "Location"} {
			if u, err := url.Parse(resp.Header.Get(k)); err == nil && u.Host != "" {
				front, _ := url.Parse(s.URL)
				u.Scheme, u.Host = front.Scheme, front.Host
				resp.Header.Set(k, u.String())
			}
		}
		return nil
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Clone(r.Context()))
		s.mu.Unlock()
		rp.ServeHTTP(w, r)
	})
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are the point of some tests
	if useTLS {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

func (s *spyRegion) seen() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.requests...)
}

// certFile writes the TLS server's certificate as PEM, for UPSTREAM_CA_FILE.
func certFile(t *testing.T, s *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}), 0o600))
	return path
}

// otherCAFile writes a freshly made self-signed CA certificate (every
// httptest TLS server shares one certificate, so another server's would
// not do).
func otherCAFile(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not the region's CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"example.com"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "other-ca.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return path
}

func TestSecurityUpstreamTLSIsVerified(t *testing.T) {
	primary := testRegion(t, "westus2", testPrimaryKey, 0)
	secondary := testRegion(t, "eastus", testSecondaryKey, 0)
	seedTestProject(t, primary, testProject, testDeployment)
	seedTestProject(t, secondary, testProject, testDeployment)
	tlsPrimary := newSpyRegion(t, primary, true)

	for _, tt := range []struct {
		name, caFile string
		trusted      bool
	}{
		{"untrusted certificate: fails over", "", false},
		{"a CA file that is not the region's: fails over", otherCAFile(t), false},
		{"UPSTREAM_CA_FILE names the region's CA: served by the primary over TLS", certFile(t, tlsPrimary.Server), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			primary.ResetCalls()
			secondary.ResetCalls()
			gw := startGatewaySetup(t, gatewaySetup{primary: primary, secondary: secondary, primaryURL: tlsPrimary.URL},
				withEnv("UPSTREAM_CA_FILE", tt.caFile, "HEALTH_PROBE_INTERVAL", "1h"))
			assertEntities(t, gw.wait(t, gw.submit(t, probeText)))
			if tt.trusted {
				assert.Equal(t, 1, primary.Calls("submit"))
				assert.Zero(t, secondary.Calls("submit"))
				return
			}
			assert.Zero(t, primary.Calls("submit"), "nothing reached the primary over an unverified connection")
			assert.Equal(t, 1, secondary.Calls("submit"))
			assert.Contains(t, gw.Logs.String(), "failover")
		})
	}
	t.Run("a CA file without a certificate stops the gateway at start", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.pem")
		require.NoError(t, os.WriteFile(bad, []byte("not a certificate"), 0o600))
		addrs := loopback.FreeAddrs(t, 2)
		env := map[string]string{
			"GATEWAY_API_KEYS": testGatewayKey, "PRIMARY_ENDPOINT": tlsPrimary.URL, "PRIMARY_RESOURCE_KEY": testPrimaryKey,
			"SECONDARY_ENDPOINT": secondary.URL, "SECONDARY_RESOURCE_KEY": testSecondaryKey, "UPSTREAM_CA_FILE": bad,
			"GATEWAY_ADDR": addrs[0], "GATEWAY_OPS_ADDR": addrs[1],
		}
		err := serveEnv(t.Context(), env, io.Discard)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "UPSTREAM_CA_FILE")
	})
}

func TestSecurityGatewayKeys(t *testing.T) {
	gw := startGateway(t)
	const wrong = "wrong-key-that-must-not-echo-5d1f"
	// (A trailing space would be trimmed by HTTP itself: header values
	// carry no surrounding whitespace.)
	for _, key := range []string{"", wrong, testGatewayKey + "x", "x" + testGatewayKey, strings.ToUpper(testGatewayKey), testGatewayKey[:len(testGatewayKey)-1],
		testPrimaryKey, testSecondaryKey, testAdminKey} {
		resp, body := gw.do(t, http.MethodPost, submitPath, submitBody(probeText), key)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "key %q", key)
		// Azure's front door's 401, word for word and with its headers
		// (internal/testkit/recorded runtime-401-2022-10-01-preview).
		e := assertAzureError(t, body)
		assert.Equal(t, api.CodeFrontDoorUnauthorized, e.Code)
		assert.Equal(t, api.MessageFrontDoorUnauthorized, e.Message)
		assert.Empty(t, resp.Header.Get("x-ms-error-code"))
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		if key != "" {
			assert.NotContains(t, string(body), key, "the key is not echoed")
			for _, vv := range resp.Header {
				for _, v := range vv {
					assert.NotContains(t, v, key)
				}
			}
		}
	}
	assert.Zero(t, gw.Primary.Calls("submit")+gw.Secondary.Calls("submit"), "no region was called for a bad key")
	// The admin key is not a client key and the client key is not an
	// admin key.
	resp, _ := gw.ops(t, http.MethodPost, "/admin/replication/sync", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestSecurityNoSSRF(t *testing.T) {
	primary := testRegion(t, "westus2", testPrimaryKey, 0)
	secondary := testRegion(t, "eastus", testSecondaryKey, 0)
	seedTestProject(t, primary, testProject, testDeployment)
	seedTestProject(t, secondary, testProject, testDeployment)
	spyP, spyS := newSpyRegion(t, primary, false), newSpyRegion(t, secondary, false)
	// canary is the host an attacker wants the gateway to call.
	var canaryHits atomic.Int64
	canary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		canaryHits.Add(1)
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "CANARY-ANSWER")
	}))
	t.Cleanup(canary.Close)
	canaryHost := strings.TrimPrefix(canary.URL, "http://")

	for _, trust := range []string{"false", "true"} {
		t.Run("GATEWAY_TRUST_FORWARDED_HEADERS="+trust, func(t *testing.T) {
			gw := startGatewaySetup(t, gatewaySetup{primary: primary, secondary: secondary, primaryURL: spyP.URL, secondaryURL: spyS.URL},
				withEnv("GATEWAY_TRUST_FORWARDED_HEADERS", trust, "HEALTH_PROBE_INTERVAL", "1h"))
			loc := gw.submit(t, probeText)
			id := jobIDOf(loc)
			addr := strings.TrimPrefix(gw.URL, "http://")
			key := "Ocp-Apim-Subscription-Key: " + testGatewayKey + "\r\n"
			authorKey := "Ocp-Apim-Subscription-Key: " + testAuthorKey + "\r\n"
			jobPath := "/language/analyze-text/jobs/" + id
			for _, raw := range []string{
				// Host header naming the canary.
				"GET " + jobPath + "?api-version=2023-04-01 HTTP/1.1\r\nHost: " + canaryHost + "\r\n" + key + "Connection: close\r\n\r\n",
				// Absolute-form request target naming the canary.
				"GET " + canary.URL + jobPath + "?api-version=2023-04-01 HTTP/1.1\r\nHost: " + canaryHost + "\r\n" + key + "Connection: close\r\n\r\n",
				"POST " + canary.URL + submitPath + " HTTP/1.1\r\nHost: " + addr + "\r\n" + key + "Content-Type: application/json\r\nContent-Length: " +
					strconv.Itoa(len(chaosSubmitBody)) + "\r\nConnection: close\r\n\r\n" + string(chaosSubmitBody),
				// Forwarding headers naming the canary.
				"GET " + jobPath + "?api-version=2023-04-01 HTTP/1.1\r\nHost: " + addr + "\r\nX-Forwarded-Host: " + canaryHost + "\r\nX-Forwarded-Proto: http\r\nForwarded: host=" + canaryHost + "\r\n" + key + "Connection: close\r\n\r\n",
				// nextLink-like query parameters carrying the canary's URL.
				"GET " + jobPath + "?api-version=2023-04-01&nextLink=" + url.QueryEscape(canary.URL+"/x") + "&$skip=0&endpoint=" + url.QueryEscape(canary.URL) + " HTTP/1.1\r\nHost: " + addr + "\r\n" + key + "Connection: close\r\n\r\n",
				// Scheme-relative and userinfo tricks in authoring paths.
				"GET /language/authoring/analyze-text/projects//" + canaryHost + "/x?api-version=2022-05-01 HTTP/1.1\r\nHost: " + addr + "\r\n" + authorKey + "Connection: close\r\n\r\n",
				"GET /language/authoring/analyze-text/projects/x@" + canaryHost + "?api-version=2022-05-01 HTTP/1.1\r\nHost: " + addr + "\r\n" + authorKey + "Connection: close\r\n\r\n",
				"GET /language/authoring/analyze-text/projects/%2F%2F" + canaryHost + "?api-version=2022-05-01 HTTP/1.1\r\nHost: " + addr + "\r\n" + authorKey + "Connection: close\r\n\r\n",
				// A job id that is a host, and CONNECT.
				"GET /language/analyze-text/jobs/" + strings.ReplaceAll(canaryHost, ":", "%3A") + "?api-version=2023-04-01 HTTP/1.1\r\nHost: " + addr + "\r\n" + key + "Connection: close\r\n\r\n",
				"CONNECT " + canaryHost + " HTTP/1.1\r\nHost: " + canaryHost + "\r\n" + key + "Connection: close\r\n\r\n",
			} {
				status, rest := rawExchange(t, addr, raw)
				assert.NotEmpty(t, status, "answered: %q", raw)
				assert.NotContains(t, status, " 418 ", "the canary's answer never comes back")
				assert.NotContains(t, rest, "CANARY-ANSWER", "the canary's answer never comes back")
			}
			assert.Zero(t, canaryHits.Load(), "the gateway never called a host that is not configured")
			// Everything the gateway sent upstream went to a configured
			// region, with the region's key and none of the client's
			// credentials or forwarding headers.
			for _, spy := range []*spyRegion{spyP, spyS} {
				spyHost := strings.TrimPrefix(spy.URL, "http://")
				for _, r := range spy.seen() {
					// A path may carry the canary's name as data (the region
					// answers 404 for it); the request went to the region.
					assert.Equal(t, spyHost, r.Host)
					assert.NotEqual(t, testGatewayKey, r.Header.Get(api.SubscriptionKeyHeader))
					assert.NotEqual(t, testAuthorKey, r.Header.Get(api.SubscriptionKeyHeader))
					assert.Contains(t, []string{testPrimaryKey, testSecondaryKey}, r.Header.Get(api.SubscriptionKeyHeader))
					for _, h := range []string{"X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "Authorization"} {
						assert.Empty(t, r.Header.Get(h), "%s is not forwarded", h)
					}
				}
			}
			// A URL the client sends in a body is data: the region gets it,
			// the gateway never fetches it.
			body := submitBody(probeText + " " + canary.URL)
			resp, _ := gw.do(t, http.MethodPost, submitPath, body)
			assert.Equal(t, http.StatusAccepted, resp.StatusCode)
			assert.Zero(t, canaryHits.Load())
		})
	}
}

// TestSecurityRegionRedirectNotFollowed: a region (or something in front of
// it) answering a redirect to another host does not make the gateway call
// that host, and the redirect never reaches the client either (an SDK
// would send the gateway key there): a submit fails over to the secondary,
// an authoring call (primary only) gets 502.
func TestSecurityRegionRedirectNotFollowed(t *testing.T) {
	secondary := testRegion(t, "eastus", testSecondaryKey, 0)
	seedTestProject(t, secondary, testProject, testDeployment)
	var canaryHits atomic.Int64
	canary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { canaryHits.Add(1) }))
	t.Cleanup(canary.Close)
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/language/authoring/") && r.URL.Query().Get("top") == "1" {
			w.WriteHeader(http.StatusOK) // the health probe
			_, _ = io.WriteString(w, `{"value":[]}`)
			return
		}
		http.Redirect(w, r, canary.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirecting.Close)
	gw := startGatewaySetup(t, gatewaySetup{secondary: secondary, primaryURL: redirecting.URL})
	// The test's own client must not follow a redirect either.
	noFollow := &http.Client{Transport: gw.Client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	for _, tt := range []struct {
		method, path, key string
		want              int
	}{
		{http.MethodGet, "/language/authoring/analyze-text/projects/p?api-version=2022-05-01", testAuthorKey, http.StatusBadGateway},
		{http.MethodPost, submitPath, testGatewayKey, http.StatusAccepted},
	} {
		req, err := http.NewRequest(tt.method, gw.URL+tt.path, strings.NewReader(string(chaosSubmitBody)))
		require.NoError(t, err)
		req.Header.Set(api.SubscriptionKeyHeader, tt.key)
		resp, err := noFollow.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, tt.want, resp.StatusCode, "%s: %s", tt.path, body)
		assert.NotContains(t, resp.Header.Get("Location")+resp.Header.Get("Operation-Location")+string(body), canary.URL)
	}
	assert.Zero(t, canaryHits.Load(), "a redirect is neither followed nor relayed")
	assert.Equal(t, 1, secondary.Calls("submit"), "the submit failed over")
}

func TestSecurityRateLimitPerKey(t *testing.T) {
	const other = "second-gateway-key-2c9e"
	gw := startGateway(t, withEnv("GATEWAY_API_KEYS", testGatewayKey+","+other, "GATEWAY_RATE_LIMIT_PER_MINUTE", "3"))
	for range 3 {
		gw.submit(t, probeText)
	}
	resp, body := gw.do(t, http.MethodPost, submitPath, submitBody(probeText))
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", body)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	assert.Equal(t, api.CodeTooManyRequests, assertAzureError(t, body).Code)
	assert.Equal(t, 3, gw.Primary.Calls("submit"), "the limited call never reached a region")
	// Another key has its own budget.
	resp, body = gw.do(t, http.MethodPost, submitPath, submitBody(probeText), other)
	assert.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)
	// Operational endpoints are not limited.
	resp, _ = gw.do(t, http.MethodGet, "/readyz", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
