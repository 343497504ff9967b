package region

// The rulebook: the one place that judges what a region answered. The
// proxy (client calls) and the prober (health probes) both hand an Answer
// to Region.Judge and act on the Verdict; neither re-derives anything from
// the error afterwards. Caddy's hosts.go is the model: passive and active
// checks feed one host through one set of rules.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"nergateway/api"
)

// Outcome is the class of one attempt against one region, and the one
// vocabulary of reasons: the gateway.outcome span attribute, the outcome
// and reason metric labels, the failover event's reason, log lines and
// /status's recent failures all use these labels and no others.
type Outcome string

// Outcomes. The first group comes from an answer (or its absence), the
// second from the gateway before or instead of asking a region.
const (
	// OutcomeOK: the region answered 1xx-3xx.
	OutcomeOK Outcome = "ok"
	// OutcomeClientError: the region answered a 4xx that is the client's
	// doing (400, 404, 409, 413, 415, 422, ...): relayed, never failed
	// over, and a success for the breaker (the region is healthy).
	OutcomeClientError Outcome = "client_error"
	// OutcomeConnectionError: no answer arrived (refused, reset, DNS, TLS,
	// a body cut short).
	OutcomeConnectionError Outcome = "connection_error"
	// OutcomeTimeout: the per-attempt timeout passed.
	OutcomeTimeout Outcome = "timeout"
	// OutcomeStatus5xx: the region answered 5xx.
	OutcomeStatus5xx Outcome = "status_5xx"
	// OutcomeStatus429: the region's quota for this scope is spent; the
	// scope is parked (ParkUntil) and the breaker is not charged.
	OutcomeStatus429 Outcome = "status_429"
	// OutcomeAuthError: the region refused the gateway's region key (401,
	// 403): the gateway's configuration is at fault, not the client.
	OutcomeAuthError Outcome = "auth_error"
	// OutcomeBadResponse: an answer the gateway will not relay: over the
	// response cap, or a redirect or operation URL naming a host other
	// than the region's own (an SDK would send the gateway key there).
	OutcomeBadResponse Outcome = "bad_response"

	// OutcomeBreakerOpen: the region's breaker refused the call; nothing
	// was sent.
	OutcomeBreakerOpen Outcome = "breaker_open"
	// OutcomeParked: the call's quota scope is parked by an earlier 429;
	// nothing was sent.
	OutcomeParked Outcome = "parked"
	// OutcomeCanceled: the client went away (or the gateway is stopping).
	// Never charged to the region.
	OutcomeCanceled Outcome = "canceled"
	// OutcomeOverloaded: the gateway itself had no room (byte budget,
	// in-flight slots). Never charged to the region.
	OutcomeOverloaded Outcome = "overloaded"
	// OutcomeNoCredential: the gateway holds no valid credential for the
	// region (ErrNoCredential: its token expired unrenewed); nothing was
	// sent. The gateway's own failure: never charged to the region.
	OutcomeNoCredential Outcome = "no_credential"
)

// RegionFault reports whether the outcome counts against the region's
// breaker.
func (o Outcome) RegionFault() bool {
	switch o {
	case OutcomeConnectionError, OutcomeTimeout, OutcomeStatus5xx, OutcomeAuthError, OutcomeBadResponse:
		return true
	}
	return false
}

// Relayable reports whether an answer with this outcome goes to the client
// as the region gave it (rewritten): a success or the client's own error.
func (o Outcome) Relayable() bool { return o == OutcomeOK || o == OutcomeClientError }

// Scope is one of the quotas Azure meters separately in a region:
// prediction calls (runtime), authoring reads and authoring writes. A 429
// parks only the scope that answered it.
type Scope uint8

// Scopes.
const (
	ScopeRuntime Scope = iota
	ScopeAuthoringRead
	ScopeAuthoringWrite
	numScopes
)

// String is the scope as /status spells it.
func (s Scope) String() string {
	switch s {
	case ScopeAuthoringRead:
		return "authoring_read"
	case ScopeAuthoringWrite:
		return "authoring_write"
	}
	return "runtime"
}

// ScopeOf is the quota a call spends: authoring GETs (and HEADs) are
// reads, other authoring methods writes, everything else runtime.
func ScopeOf(method string, authoring bool) Scope {
	switch {
	case !authoring:
		return ScopeRuntime
	case method == http.MethodGet || method == http.MethodHead:
		return ScopeAuthoringRead
	}
	return ScopeAuthoringWrite
}

// ErrAnswerTooLarge is the read error of an answer over the gateway's cap.
var ErrAnswerTooLarge = errors.New("answer over the gateway's size cap")

// ErrOverloaded marks a failure of the gateway itself (its byte budget
// could not hold the answer): it says nothing about the region.
var ErrOverloaded = errors.New("gateway overloaded")

// Answer is what one exchange with a region produced, as the rulebook
// needs it.
type Answer struct {
	// Scope is the quota the call spent.
	Scope Scope
	// Probe marks a health probe: a probe's 4xx says nothing about the
	// region (the breaker is not told), and only its 200 is a success.
	Probe bool
	// Status and Header are the answer's; zero and nil when none arrived.
	Status int
	Header http.Header
	// Links are the URLs in the answer's body a client would follow
	// (nextLink, resultUrl); nil when there is none to check.
	Links []string
	// Err is the transport or body-read error; nil when an answer arrived
	// whole.
	Err error
	// Canceled is true when the caller (the client, or the gateway
	// shutting down) gave up: whatever happened is not the region's doing.
	Canceled bool
}

// Verdict is the rulebook's judgement of one Answer. It is decided once
// (Region.Judge) and carried: the breaker (Attempt.Finish), the attempt
// loop, the client's status, spans, metrics and logs all read it.
type Verdict struct {
	Outcome Outcome
	// Status is the answer's HTTP status, 0 when none arrived.
	Status int
	// Scope is the quota the call spent.
	Scope Scope
	// Probe marks the verdict on a health probe.
	Probe bool
	// ParkUntil ends the scope's parking after a 429 (already capped at
	// the region's MaxPark); zero otherwise.
	ParkUntil time.Time
	// Cause is the underlying error, for logs only (never shown to a
	// client: it may name a host; describe it with scrub.Cause).
	Cause error
}

// Judge applies the rules to one answer from r at now. The rules, in order:
//
//   - the caller gave up: canceled (never charged);
//   - ErrNoCredential: no_credential (never charged);
//   - ErrOverloaded: overloaded (never charged);
//   - ErrAnswerTooLarge: bad_response;
//   - a timeout: timeout; any other error: connection_error;
//   - 429: status_429, parking the scope until Retry-After (1 s when
//     absent, at most MaxPark);
//   - 401, 403: auth_error; 5xx: status_5xx;
//   - other 4xx: client_error;
//   - 1xx-3xx whose Location, Operation-Location or Azure-AsyncOperation
//     header, or a body link (Answer.Links), names a host other than r's:
//     bad_response; else ok.
func (r *Region) Judge(a Answer, now time.Time) Verdict {
	v := Verdict{Status: a.Status, Scope: a.Scope, Probe: a.Probe, Cause: a.Err}
	switch {
	case a.Canceled:
		v.Outcome = OutcomeCanceled
	case errors.Is(a.Err, ErrNoCredential):
		v.Outcome = OutcomeNoCredential
	case errors.Is(a.Err, ErrOverloaded):
		v.Outcome = OutcomeOverloaded
	case errors.Is(a.Err, ErrAnswerTooLarge):
		v.Outcome = OutcomeBadResponse
	case a.Err != nil && isTimeout(a.Err):
		v.Outcome = OutcomeTimeout
	case a.Err != nil:
		v.Outcome = OutcomeConnectionError
	case a.Status == http.StatusTooManyRequests:
		v.Outcome = OutcomeStatus429
		wait, ok := api.RetryAfter(a.Header, now, r.maxPark)
		if !ok || wait < time.Second {
			wait = min(time.Second, r.maxPark)
		}
		v.ParkUntil = now.Add(wait)
	case a.Status == http.StatusUnauthorized || a.Status == http.StatusForbidden:
		v.Outcome = OutcomeAuthError
	case a.Status >= 500:
		v.Outcome = OutcomeStatus5xx
	case a.Status >= 400:
		v.Outcome = OutcomeClientError
	default:
		v.Outcome = OutcomeOK
		if name, foreign := r.foreignURL(a.Header); foreign {
			v.Outcome = OutcomeBadResponse
			v.Cause = errors.New("the " + name + " header names a host other than the region's")
		}
		for _, l := range a.Links {
			if l != "" && !r.OwnsURL(l) {
				v.Outcome = OutcomeBadResponse
				v.Cause = errors.New("a link in the body names a host other than the region's")
			}
		}
	}
	return v
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// urlHeaders are the answer headers that hold a URL a client follows.
// They are spelled in Go's canonical form, which http.Header looks up
// without building the canonical key on every call.
var urlHeaders = []string{"Location", "Operation-Location", "Azure-Asyncoperation"}

// foreignURL reports the first URL header that names a host other than
// r's own (an absolute URL with another host, or one that does not parse).
func (r *Region) foreignURL(h http.Header) (string, bool) {
	for _, name := range urlHeaders {
		for _, v := range h.Values(name) {
			if !r.OwnsURL(v) {
				return name, true
			}
		}
	}
	return "", false
}

// OwnsURL reports whether raw, a URL from r's answer, stays inside the
// trust boundary: relative (no host), or absolute with r's scheme and host.
func (r *Region) OwnsURL(raw string) bool {
	raw = strings.TrimSpace(raw)
	// The usual answer, the region's own scheme://host then a plain path,
	// is decided without parsing, which every answer paid for.
	return r.hasOrigin(raw) || r.ownsParsed(raw)
}

// hasOrigin reports whether raw is the region's own scheme://host followed
// by a path, query or fragment in which url.Parse could find nothing to
// refuse: a URL ownsParsed would accept (FuzzOwnsURL holds them together).
func (r *Region) hasOrigin(raw string) bool {
	n := len(r.origin)
	return len(raw) > n && strings.EqualFold(raw[:n], r.origin) && plainTail(raw[n:])
}

// ownsParsed is OwnsURL by parsing raw.
func (r *Region) ownsParsed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	if u.Host == "" && u.Scheme == "" && u.Opaque == "" && !strings.HasPrefix(raw, "//") {
		return true
	}
	return strings.EqualFold(u.Scheme, r.endpoint.Scheme) && strings.EqualFold(u.Host, r.endpoint.Host)
}

// plainTail reports whether s, what follows scheme://host in a URL, ends
// the authority there ('/', '?' or '#' first) and holds nothing url.Parse
// treats specially or refuses: no escapes, no control bytes.
func plainTail(s string) bool {
	if s == "" || (s[0] != '/' && s[0] != '?' && s[0] != '#') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '%' || c == '\\' {
			return false
		}
	}
	return true
}
