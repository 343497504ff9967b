package region

import (
	"errors"
	"time"
)

// ErrNoCredential marks a call the gateway could not authorize: it holds
// no valid credential for the region now (its Microsoft Entra ID token
// expired and could not be renewed). Nothing was sent, so it says nothing
// about the region: the rulebook judges it no_credential, which never
// charges a breaker or parks a scope.
var ErrNoCredential = errors.New("no valid credential")

// NoCredentialError is the error of an Authorizer that holds no valid
// credential. Its text is safe for clients and logs: it names the
// credential and why it is missing, never a secret or a host.
type NoCredentialError struct {
	// Credential names the credential as the operator configured it, e.g.
	// "Microsoft Entra ID (PRIMARY_AUTH=entra)".
	Credential string
	// Reason says why no token is held ("the identity provider refused
	// the gateway's credentials (invalid_client, AADSTS7000215)").
	Reason string
	// RetryAfter is how long until the next renewal attempt.
	RetryAfter time.Duration
	// Err is the renewal's error, kept for errors.Is (an identity
	// library's sentinel); never shown.
	Err error
}

func (e *NoCredentialError) Error() string {
	return "no valid credential: " + e.Credential + ": " + e.Reason
}

// Is makes errors.Is(err, ErrNoCredential) hold.
func (e *NoCredentialError) Is(target error) bool { return target == ErrNoCredential }

// Unwrap is the renewal's error.
func (e *NoCredentialError) Unwrap() error { return e.Err }

// CredentialStatus is the state of the credential a region's calls carry,
// as /status, readiness and gateway_credential_up show it. It holds no
// secret.
type CredentialStatus struct {
	// Kind is "key" (the region's resource key) or "entra" (a Microsoft
	// Entra ID token renewed in the background).
	Kind string `json:"kind"`
	// Up is true while calls can be authorized: always for a key; for a
	// token, until it expires without a successor.
	Up bool `json:"up"`
	// ExpiresAt is when the held token expires (zero: none held, or a key).
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// RenewAt is when the renewer next asks for a token.
	RenewAt time.Time `json:"renewAt,omitzero"`
	// Since is when the state (valid, renewal failing, none) last changed.
	Since time.Time `json:"since,omitzero"`
	// Error says why the last renewal failed; empty after a success.
	Error string `json:"error,omitempty"`
}

// CredentialReporter is an Authorizer whose credential can be lost (a
// token): the region reports its state instead of assuming a key's.
type CredentialReporter interface {
	Credential() CredentialStatus
}

// Credential is the state of the credential the region's calls carry.
func (r *Region) Credential() CredentialStatus {
	if cr, ok := r.authorizer.(CredentialReporter); ok {
		return cr.Credential()
	}
	return CredentialStatus{Kind: "key", Up: true}
}

// CredentialUp reports whether calls to the region can be authorized now.
func (r *Region) CredentialUp() bool { return r.Credential().Up }
