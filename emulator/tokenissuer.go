package emulator

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// TokenIssuer stands in for Microsoft Entra ID in tests: an HTTPS authority
// (set AZURE_AUTHORITY_HOST to URL) whose client-credentials flow is the one
// azidentity's client-secret credential speaks (OpenID metadata, then a
// token POST). It issues opaque tokens for one application and remembers
// them, so an emulated region with BearerTokens: issuer.Valid accepts
// exactly what it issued, until each token expires.
type TokenIssuer struct {
	// URL is the authority host, https://127.0.0.1:port.
	URL string
	// TenantID, ClientID and ClientSecret are the application the issuer
	// knows; any other gets invalid_client.
	TenantID, ClientID, ClientSecret string
	// Scope is the only scope it issues tokens for.
	Scope string

	server   *httptest.Server
	lifetime time.Duration
	requests atomic.Int64
	waiting  atomic.Int64

	mu     sync.Mutex
	tokens map[string]time.Time // token -> expiry
	held   chan struct{}        // non-nil while token requests are held
}

// Hold makes token requests wait unanswered, as an authority that stopped
// answering, until Release (or until their client gives up).
func (ti *TokenIssuer) Hold() {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	if ti.held == nil {
		ti.held = make(chan struct{})
	}
}

// Release answers the held token requests and ends Hold.
func (ti *TokenIssuer) Release() {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	if ti.held != nil {
		close(ti.held)
		ti.held = nil
	}
}

// Waiting is how many token requests Hold keeps waiting now.
func (ti *TokenIssuer) Waiting() int { return int(ti.waiting.Load()) }

// NewTokenIssuer starts an issuer on loopback TLS with a test certificate
// (CertificatePEM) whose tokens live for lifetime.
func NewTokenIssuer(tenantID, clientID, clientSecret, scope string, lifetime time.Duration) *TokenIssuer {
	ti := &TokenIssuer{TenantID: tenantID, ClientID: clientID, ClientSecret: clientSecret, Scope: scope,
		lifetime: lifetime, tokens: map[string]time.Time{}}
	ti.server = httptest.NewTLSServer(http.HandlerFunc(ti.serve))
	ti.URL = ti.server.URL
	return ti
}

// Close stops the issuer.
func (ti *TokenIssuer) Close() { ti.server.Close() }

// CertificatePEM is the issuer's TLS certificate, for a CA file.
func (ti *TokenIssuer) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ti.server.Certificate().Raw})
}

// Certificate is the issuer's TLS certificate.
func (ti *TokenIssuer) Certificate() *x509.Certificate { return ti.server.Certificate() }

// TokenRequests is how many tokens were issued.
func (ti *TokenIssuer) TokenRequests() int { return int(ti.requests.Load()) }

// Valid reports whether token was issued here and has not expired.
func (ti *TokenIssuer) Valid(token string) bool {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	exp, ok := ti.tokens[token]
	return ok && time.Now().Before(exp)
}

func (ti *TokenIssuer) serve(w http.ResponseWriter, r *http.Request) {
	base := ti.URL + "/" + ti.TenantID
	switch r.URL.Path {
	case "/" + ti.TenantID + "/v2.0/.well-known/openid-configuration":
		writeIssuerJSON(w, http.StatusOK, map[string]any{
			"token_endpoint":                        base + "/oauth2/v2.0/token",
			"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
			"issuer":                                base + "/v2.0",
			"jwks_uri":                              base + "/discovery/v2.0/keys",
			"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			"tenant_region_scope":                   "WW",
		})
	case "/" + ti.TenantID + "/oauth2/v2.0/token":
		ti.issue(w, r)
	default:
		writeIssuerJSON(w, http.StatusNotFound, map[string]string{"error": "not_found"})
	}
}

func (ti *TokenIssuer) issue(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		writeIssuerJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	// Held after the body is read: the server then notices a client that
	// gives up (its request context ends).
	ti.mu.Lock()
	held := ti.held
	ti.mu.Unlock()
	if held != nil {
		ti.waiting.Add(1)
		select {
		case <-held:
		case <-r.Context().Done():
		}
		ti.waiting.Add(-1)
		if r.Context().Err() != nil {
			return
		}
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		writeIssuerJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	if r.PostForm.Get("client_id") != ti.ClientID || r.PostForm.Get("client_secret") != ti.ClientSecret {
		writeIssuerJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client",
			"error_description": "AADSTS7000215: Invalid client secret provided."})
		return
	}
	if !strings.Contains(" "+r.PostForm.Get("scope")+" ", " "+ti.Scope+" ") {
		writeIssuerJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_scope"})
		return
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	token := "test-entra-" + hex.EncodeToString(b)
	ti.mu.Lock()
	ti.tokens[token] = time.Now().Add(ti.lifetime)
	ti.mu.Unlock()
	ti.requests.Add(1)
	writeIssuerJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": int(ti.lifetime / time.Second), "ext_expires_in": int(ti.lifetime / time.Second),
		"access_token": token,
	})
}

func writeIssuerJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
