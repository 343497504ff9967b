package proxy

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"nergateway/api"
	"nergateway/internal/region"
	"nergateway/internal/scrub"
)

// respond relays a region's answer: headers without hop-by-hop ones and
// without anything naming the region, URLs pointing at the gateway, job ids
// as tokens, names as the client asked for them, Content-Length recomputed.
// A rewritten body is a second copy: its bytes are claimed from the budget
// first, and errOverBudget is returned (nothing written) when they do not
// fit.
func (p *Proxy) respond(w http.ResponseWriter, c *call, idx int, res *upstreamResponse) error {
	src := res.body.Bytes()
	claim := int64(0)
	if len(src) > 0 && res.status != http.StatusNoContent && res.status != http.StatusNotModified && c.r.Method != http.MethodHead {
		claim = int64(len(src) + len(src)/4 + 4096)
		if !p.budget.Reserve(claim) {
			return errOverBudget
		}
		defer p.budget.Free(claim)
	}
	h := w.Header()
	removeHopHeaders(res.header)
	for k, vv := range res.header {
		switch k {
		case "Content-Length":
			continue
		case "Operation-Location", "Location", "Azure-Asyncoperation":
			// URLs of long-running operations (the rulebook has checked
			// they name the region): rewritten to the gateway, never
			// dropped for naming the region (an SDK takes a 202 without
			// operation-location for a finished operation).
			out := make([]string, 0, len(vv))
			for _, v := range vv {
				if nv, ok := p.rewriteLocation(v, c, idx); ok {
					out = append(out, nv)
				}
			}
			if len(out) > 0 {
				h[k] = out
			}
			continue
		}
		if p.mentionsRegion(vv) {
			continue
		}
		h[k] = vv
	}
	switch {
	case res.status == http.StatusNoContent || res.status == http.StatusNotModified:
		w.WriteHeader(res.status) // no body, no Content-Length
		return nil
	case c.r.Method == http.MethodHead:
		if v := res.header.Get("Content-Length"); v != "" {
			h.Set("Content-Length", v)
		}
		w.WriteHeader(res.status)
		return nil
	}
	body := p.responseBody(nil, c, idx, src)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(res.status)
	_, _ = w.Write(body) // a client gone mid-write is not the region's failure
	return nil
}

// errCanceled marks a request the client abandoned (its context ended).
// It wraps the context's error.
var errCanceled = errors.New("client canceled the request")

// attemptError is the failure of one attempt against one named region,
// carrying the rulebook's verdict. Its message names the region, never its
// hostname.
type attemptError struct {
	region string
	n      int
	v      region.Verdict
}

func (e *attemptError) Error() string {
	s := "attempt " + strconv.Itoa(e.n) + " on region " + e.region + ": " + string(e.v.Outcome)
	if e.v.Status != 0 {
		s += " (status " + strconv.Itoa(e.v.Status) + ")"
	}
	return s
}
func (e *attemptError) Unwrap() error { return e.v.Cause }

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
	last       *attemptError // nil when no region was tried
}

func (e *unavailableError) Error() string {
	if e.last == nil {
		return "no region can take the call"
	}
	return "no region answered: " + e.last.Error()
}

func (e *unavailableError) Unwrap() error {
	if e.last == nil {
		return nil
	}
	return e.last
}

// outcomeOf is the request's outcome for a failure made by the attempt
// loop: the verdict it carries, never re-derived from the cause.
func outcomeOf(err error) region.Outcome {
	var (
		ae *attemptError
		ue *unavailableError
	)
	switch {
	case errors.Is(err, errCanceled):
		return region.OutcomeCanceled
	case errors.Is(err, errOverBudget):
		return region.OutcomeOverloaded
	case errors.As(err, &ae):
		return ae.v.Outcome
	case errors.As(err, &ue):
		return region.OutcomeBreakerOpen
	}
	return region.OutcomeClientError
}

// causeOf describes err for a log line: the attempt's outcome and the
// scrubbed cause, no host.
func causeOf(err error) string {
	var ae *attemptError
	if errors.As(err, &ae) && ae.v.Cause != nil {
		return ae.Error() + ": " + scrub.Cause(ae.v.Cause)
	}
	return scrub.Text(err.Error())
}

// errorResponse is the one place that turns a failure into what the client
// sees (Caddy's statusError): the status, Azure's error object with a
// message safe to show, and the Retry-After (zero for none). The cause is
// logged by the caller, never shown.
//
//   - localError: its own status (404 NotFound, 405, 408, 413).
//   - errCanceled: 499, never written to a client that is gone.
//   - errOverBudget, or an attempt whose answer did not fit the budget
//     (overloaded): 503 with Retry-After 1.
//   - every region tried failed, the last with a timeout: 504 Timeout,
//     with the Retry-After a 503 would carry (another try may well fit).
//   - ... the last with an answer the gateway will not relay (over the
//     cap, or naming a foreign host): 502.
//   - ... the last because the gateway holds no valid credential for it
//     (no_credential): 503 saying the gateway cannot authenticate to that
//     region and why, with Retry-After until the next renewal.
//   - otherwise (no region available, or the last failure was one another
//     try may fix: connection error, 5xx, 429, 401/403): 503
//     ServiceUnavailable with Retry-After.
func errorResponse(err error) (status int, e api.Error, retryAfter time.Duration) {
	var (
		le *localError
		ue *unavailableError
	)
	switch {
	case errors.As(err, &le):
		return le.status, api.Error{Code: le.code, Message: le.msg}, 0
	case errors.Is(err, errCanceled):
		return statusClientClosed, api.Error{Code: api.CodeInvalidRequest, Message: "The client closed the request."}, 0
	}
	switch outcomeOf(err) {
	case region.OutcomeOverloaded:
		return http.StatusServiceUnavailable, api.Error{Code: api.CodeServiceUnavailable,
			Message: "The gateway is holding its maximum of buffered bytes; retry after the time in Retry-After."}, time.Second
	case region.OutcomeTimeout:
		retry := time.Second
		if errors.As(err, &ue) {
			retry = max(ue.retryAfter, retry)
		}
		return http.StatusGatewayTimeout, api.Error{Code: api.CodeTimeout, Message: "The upstream region did not answer in time; retry after the time in Retry-After."}, retry
	case region.OutcomeBadResponse:
		return http.StatusBadGateway, api.Error{Code: api.CodeInternalServerError, Message: "The upstream region sent an answer the gateway cannot relay."}, 0
	case region.OutcomeNoCredential:
		return noCredentialResponse(err)
	}
	if errors.As(err, &ue) {
		return http.StatusServiceUnavailable, api.Error{Code: api.CodeServiceUnavailable, Message: "No region can take the call now; retry after the time in Retry-After."}, ue.retryAfter
	}
	return http.StatusBadGateway, api.Error{Code: api.CodeInternalServerError, Message: "The upstream region failed."}, 0
}

// noCredentialResponse is the answer when the last region tried could not
// be called because the gateway holds no valid credential for it: the
// gateway's own failure, said as such (the region may be fine), naming the
// credential and why it is missing (NoCredentialError's text holds no
// secret).
func noCredentialResponse(err error) (int, api.Error, time.Duration) {
	var (
		ae *attemptError
		nc *region.NoCredentialError
	)
	name, retry := "the region", time.Second
	if errors.As(err, &ae) {
		name = "region " + ae.region
	}
	why := "it holds no valid credential"
	if errors.As(err, &nc) {
		why = "its credential " + nc.Credential + " has no valid token: " + nc.Reason
		retry = max(retry, nc.RetryAfter)
	}
	return http.StatusServiceUnavailable, api.Error{Code: api.CodeServiceUnavailable,
		Message: "The gateway cannot authenticate to " + name + " now (" + why + "); the region itself was not called. Retry after the time in Retry-After."}, retry
}

// statusClientClosed is nginx's and Caddy's status for a request whose
// client went away; it only ever reaches logs and metrics.
const statusClientClosed = 499

// writeError answers the client with a gateway-made error in Azure's shape
// (through errorResponse, the one mapping from failures to statuses).
func (p *Proxy) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, e, retry := errorResponse(err)
	if status == statusClientClosed {
		// Nobody is listening; the status is for access logs.
		w.WriteHeader(status)
		return
	}
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(retry/time.Second)))
	}
	var le *localError
	if errors.As(err, &le) && le.allow != "" {
		w.Header().Set("Allow", le.allow)
	}
	api.WriteError(w, status, e)
}
