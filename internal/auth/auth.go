// Package auth checks the gateway key that clients send in
// Ocp-Apim-Subscription-Key, the header Azure's SDKs already send, so an
// application changes only its endpoint and key.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"

	"nergateway/api"
	"nergateway/internal/secret"
)

// Keys is a set of accepted keys, compared in constant time.
type Keys struct {
	digests [][sha256.Size]byte
}

// NewKeys accepts the given keys; empty keys are ignored.
func NewKeys(keys ...secret.Secret) *Keys {
	k := &Keys{}
	for _, s := range keys {
		if s.Reveal() != "" {
			k.digests = append(k.digests, sha256.Sum256([]byte(s.Reveal())))
		}
	}
	return k
}

// Valid reports whether presented is one of the keys. Comparing fixed-size
// digests, and every one of them, keeps the time independent of the key's
// length and of which key matched.
func (k *Keys) Valid(presented string) bool {
	if presented == "" {
		return false
	}
	d := sha256.Sum256([]byte(presented))
	match := 0
	for i := range k.digests {
		match |= subtle.ConstantTimeCompare(d[:], k.digests[i][:])
	}
	return match == 1
}

// Require answers 401 in Azure's error shape unless the request carries one
// of the keys. The key is never echoed.
func (k *Keys) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !k.Valid(r.Header.Get(api.SubscriptionKeyHeader)) {
			api.WriteError(w, http.StatusUnauthorized, api.Error{
				Code:    api.CodeUnauthorized,
				Message: "Access denied due to a missing or invalid gateway key. Send the gateway key in the Ocp-Apim-Subscription-Key header.",
			})
			return
		}
		next.ServeHTTP(w, r)
	})
}
