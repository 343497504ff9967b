package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"nergateway/api"
	"nergateway/internal/region"
)

// Outcome is the class of one attempt against one region. It is the value
// of the gateway.outcome span attribute and metric label, and it decides
// what the attempt loop does next.
type Outcome string

// Attempt outcomes.
const (
	// OutcomeOK: the region answered 1xx-3xx.
	OutcomeOK Outcome = "ok"
	// OutcomeClientError: the region answered a 4xx that is the client's
	// doing (400, 404, 409, 413, 415, 422, ...). Returned as is, never
	// failed over, and a success for the breaker: the region is healthy.
	OutcomeClientError Outcome = "client_error"
	// OutcomeConnectionError: no usable answer arrived (refused, reset,
	// DNS, TLS, a truncated or oversized body).
	OutcomeConnectionError Outcome = "connection_error"
	// OutcomeTimeout: the per-attempt timeout passed.
	OutcomeTimeout Outcome = "timeout"
	// OutcomeStatus5xx: the region answered 5xx.
	OutcomeStatus5xx Outcome = "status_5xx"
	// OutcomeStatus429: the region asked to be left alone (parks it).
	OutcomeStatus429 Outcome = "status_429"
	// OutcomeAuthError: the region refused the gateway's region key (401,
	// 403): the gateway's configuration is at fault, not the client.
	OutcomeAuthError Outcome = "auth_error"
	// OutcomeBreakerOpen: the region's breaker refused the call; no request
	// was sent.
	OutcomeBreakerOpen Outcome = "breaker_open"
	// OutcomeParked: the region is parked by an earlier 429; no request was
	// sent.
	OutcomeParked Outcome = "parked"
	// OutcomeCanceled: the client went away. Never charged to the region.
	OutcomeCanceled Outcome = "canceled"
)

// ErrCanceled marks an attempt the client abandoned (its context ended).
// It wraps the context's error.
var ErrCanceled = errors.New("client canceled the request")

// DialError is a failure to get a usable answer from a region at the
// connection level: refused, reset, DNS, TLS, an answer cut short. The
// next region is tried.
type DialError struct{ Err error }

func (e *DialError) Error() string { return "connection error: " + e.Err.Error() }
func (e *DialError) Unwrap() error { return e.Err }

// TimeoutError is an attempt that ran past UpstreamTimeout. The next region
// is tried; if it was the last attempt the client gets 504.
type TimeoutError struct{ Err error }

func (e *TimeoutError) Error() string { return "upstream timeout: " + e.Err.Error() }
func (e *TimeoutError) Unwrap() error { return e.Err }

// StatusError is a region's answer that says the region, not the client,
// is at fault: 5xx, 429, 401 or 403. The next region is tried.
type StatusError struct {
	StatusCode int
	// RetryAfter is the 429's Retry-After (1 s when absent); zero for
	// other statuses.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string { return "region answered " + strconv.Itoa(e.StatusCode) }

// ParkedError is a region skipped because a 429 parked it until Until.
type ParkedError struct{ Until time.Time }

func (e *ParkedError) Error() string {
	return "region parked by 429 until " + e.Until.UTC().Format(time.RFC3339)
}

// BadResponseError is an answer the gateway cannot pass on (a body over the
// response cap). It is failed over like a connection error, but when it is
// the last failure the client gets 502, since a retry will not help.
type BadResponseError struct{ Err error }

func (e *BadResponseError) Error() string { return "bad upstream response: " + e.Err.Error() }
func (e *BadResponseError) Unwrap() error { return e.Err }

// AttemptError is the failure of one attempt against one named region. Its
// message carries the region's name, never its hostname.
type AttemptError struct {
	Region  string
	Attempt int
	Err     error
}

func (e *AttemptError) Error() string {
	return fmt.Sprintf("attempt %d on region %s: %v", e.Attempt, e.Region, e.Err)
}
func (e *AttemptError) Unwrap() error { return e.Err }

// errTooLarge is the cause of a response body over maxResponseBytes.
var errTooLarge = errors.New("response body over the gateway's cap")

// classify turns what one round trip produced into an error the loop can
// branch on (nil for an answer to relay) and its outcome class. clientCtx
// is the client's context: when it has ended, the failure is the client's
// and never the region's. resp may be nil when err is not.
func classify(clientCtx context.Context, resp *http.Response, err error, now time.Time) (Outcome, error) {
	if err != nil {
		switch {
		case clientCtx.Err() != nil:
			return OutcomeCanceled, fmt.Errorf("%w: %w", ErrCanceled, context.Cause(clientCtx))
		case errors.Is(err, errTooLarge):
			return OutcomeConnectionError, &BadResponseError{Err: err}
		case isTimeout(err):
			return OutcomeTimeout, &TimeoutError{Err: err}
		}
		return OutcomeConnectionError, &DialError{Err: err}
	}
	code := resp.StatusCode
	switch {
	case code == http.StatusTooManyRequests:
		return OutcomeStatus429, &StatusError{StatusCode: code, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now)}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return OutcomeAuthError, &StatusError{StatusCode: code}
	case code >= 500:
		return OutcomeStatus5xx, &StatusError{StatusCode: code}
	case code >= 400:
		return OutcomeClientError, nil
	}
	return OutcomeOK, nil
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// outcomeOf recovers the class of a failure produced by classify or by the
// attempt loop itself (breaker refusals, parking).
func outcomeOf(err error) Outcome {
	var (
		se *StatusError
		pe *ParkedError
	)
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, ErrCanceled):
		return OutcomeCanceled
	case errors.Is(err, region.ErrBreakerOpen):
		return OutcomeBreakerOpen
	case errors.As(err, &pe):
		return OutcomeParked
	case errors.As(err, &se):
		switch {
		case se.StatusCode == http.StatusTooManyRequests:
			return OutcomeStatus429
		case se.StatusCode == http.StatusUnauthorized || se.StatusCode == http.StatusForbidden:
			return OutcomeAuthError
		}
		return OutcomeStatus5xx
	case isAs[*TimeoutError](err):
		return OutcomeTimeout
	}
	return OutcomeConnectionError
}

func isAs[T error](err error) bool {
	var t T
	return errors.As(err, &t)
}

// reason is what a failure is called in /status and in the failover event:
// a class, with the status code where there is one ("status_503").
func reason(err error) string {
	var se *StatusError
	if errors.As(err, &se) {
		return "status_" + strconv.Itoa(se.StatusCode)
	}
	return string(outcomeOf(err))
}

// Bounds on a 429's Retry-After. Azure sends 1 s; an answer of days (as
// the F0 quota 403 does) must not park a region for days, because a
// misbehaving front door would take the region out until a restart.
const (
	defaultRetryAfter = time.Second
	maxRetryAfter     = time.Hour
)

// parseRetryAfter reads Retry-After as seconds or an HTTP date, defaulting
// to one second and capping at maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return defaultRetryAfter
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return defaultRetryAfter
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return defaultRetryAfter
	}
	return min(max(d, defaultRetryAfter), maxRetryAfter)
}

// localError is an answer the gateway makes itself without asking a
// region: a malformed id, a wrong method, a body over the cap.
type localError struct {
	status int
	code   string
	msg    string
	allow  string // Allow header for 405
}

func (e *localError) Error() string { return strconv.Itoa(e.status) + " " + e.code + ": " + e.msg }

// unavailableError is the answer when no region could take the call, or
// every region tried failed in a way another try may fix.
type unavailableError struct {
	retryAfter time.Duration
	last       error // nil when no region was tried
}

func (e *unavailableError) Error() string {
	if e.last == nil {
		return "no region can take the call"
	}
	return "no region answered: " + e.last.Error()
}
func (e *unavailableError) Unwrap() error { return e.last }

// errorResponse is the one place that turns a failure into what the client
// sees (Caddy's statusError): the status, Azure's error object with a
// message safe to show, and the Retry-After (zero for none). The cause is
// logged by the caller, never shown.
//
//   - localError: its own status (404 NotFound, 405, 413 RequestTooLarge).
//   - ErrCanceled: 499, never written to a client that is gone.
//   - TimeoutError as the last failure: 504 Timeout.
//   - BadResponseError as the last failure: 502.
//   - unavailableError (no region available, or every region tried failed
//     with a fault that another try may fix: connection error, 5xx, 429,
//     401/403): 503 ServiceUnavailable with Retry-After.
//   - anything else: 502.
func errorResponse(err error) (status int, e api.Error, retryAfter time.Duration) {
	var (
		le *localError
		ue *unavailableError
	)
	switch {
	case errors.As(err, &le):
		return le.status, api.Error{Code: le.code, Message: le.msg}, 0
	case errors.Is(err, ErrCanceled):
		return statusClientClosed, api.Error{Code: api.CodeInvalidRequest, Message: "The client closed the request."}, 0
	case isAs[*TimeoutError](err):
		return http.StatusGatewayTimeout, api.Error{Code: api.CodeTimeout, Message: "The upstream region did not answer in time."}, 0
	case isAs[*BadResponseError](err):
		return http.StatusBadGateway, api.Error{Code: api.CodeInternalServerError, Message: "The upstream region sent an answer the gateway cannot relay."}, 0
	case errors.As(err, &ue):
		return http.StatusServiceUnavailable, api.Error{Code: api.CodeServiceUnavailable, Message: "No region can take the call now; retry after the time in Retry-After."}, ue.retryAfter
	}
	return http.StatusBadGateway, api.Error{Code: api.CodeInternalServerError, Message: "The upstream region failed."}, 0
}

// statusClientClosed is nginx's and Caddy's status for a request whose
// client went away; it only ever reaches logs and metrics.
const statusClientClosed = 499
