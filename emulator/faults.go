package emulator

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"nergateway/api"
	"nergateway/internal/sleep"
)

// Values of Fault.Down.
const (
	// DownReset closes the connection of every matching request without an
	// answer (a TCP reset where the connection allows it). Served through a
	// ResponseWriter that cannot be hijacked (an httptest.ResponseRecorder,
	// HTTP/2), the handler panics with http.ErrAbortHandler instead, which
	// net/http turns into a dropped connection or stream.
	DownReset = "reset"
	// DownRefuse closes a Server's listener so new connections are refused,
	// and resets requests that still arrive on open connections. Clearing
	// the faults listens again on the same address. On a bare Emulator
	// (no Server) it acts as DownReset.
	DownRefuse = "refuse"
)

// Fault is an injected failure. SetFault adds one; a request meets the
// faults in the order they were set: each matching fault that applies adds
// its latency, and the first that has Down or Status decides the answer.
type Fault struct {
	// Down takes the region down for matching requests: DownReset or
	// DownRefuse.
	Down string `json:"down,omitempty"`
	// Status answers this status in Azure's error shape instead of serving
	// the request: 401 and 403 in the front-door shape, 429 with
	// Retry-After, 5xx as InternalServerError/ServiceUnavailable/Timeout.
	Status int `json:"status,omitempty"`
	// RetryAfter is the Retry-After in seconds of a 429 (default 1) or 503
	// (default none).
	RetryAfter int `json:"retryAfterSeconds,omitempty"`
	// LatencyMS delays the answer (or the reset) by this many milliseconds,
	// or until the client gives up.
	LatencyMS int `json:"latencyMs,omitempty"`
	// FailureRate is the probability that the fault applies to a matching
	// request; 0 and 1 both mean always.
	FailureRate float64 `json:"failureRate,omitempty"`
	// Methods limits the fault to these HTTP methods; empty means all.
	Methods []string `json:"methods,omitempty"`
	// Routes limits the fault to these route names (see Calls) or path
	// prefixes (starting with "/"); empty means every non-admin request.
	Routes []string `json:"routes,omitempty"`
}

// Validate reports a fault the emulator cannot apply.
func (f Fault) Validate() error {
	switch f.Down {
	case "", DownReset, DownRefuse:
	default:
		return fmt.Errorf("fault: down must be %q or %q, not %q", DownReset, DownRefuse, f.Down)
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("fault: status %d is not an error status", f.Status)
	}
	if f.Down != "" && f.Status != 0 {
		return fmt.Errorf("fault: down and status exclude each other")
	}
	if f.RetryAfter < 0 || f.LatencyMS < 0 {
		return fmt.Errorf("fault: retryAfterSeconds and latencyMs must not be negative")
	}
	if f.FailureRate < 0 || f.FailureRate > 1 {
		return fmt.Errorf("fault: failureRate must be within [0, 1]")
	}
	if f.Down == "" && f.Status == 0 && f.LatencyMS == 0 {
		return fmt.Errorf("fault: set down, status or latencyMs")
	}
	return nil
}

// SetFault adds f to the region's faults. A DownRefuse fault also closes the
// listener when the emulator runs in a Server.
func (e *Emulator) SetFault(f Fault) {
	if err := f.Validate(); err != nil {
		// Still added: a test that sets an odd fault sees what it asked for.
		e.log.Warn("questionable fault", "err", err)
	}
	e.mu.Lock()
	e.faults = append(e.faults, f)
	hook := e.refuseHook
	e.mu.Unlock()
	e.log.Info("fault set", "fault", f)
	if f.Down == DownRefuse && hook != nil {
		hook(true)
	}
}

// ClearFaults removes every fault; a Server listens again if it refused.
func (e *Emulator) ClearFaults() {
	e.mu.Lock()
	e.faults = nil
	hook := e.refuseHook
	e.mu.Unlock()
	e.log.Info("faults cleared")
	if hook != nil {
		hook(false)
	}
}

// Faults returns the faults in force.
func (e *Emulator) Faults() []Fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.faults)
}

func (f Fault) matches(r *http.Request, route string) bool {
	if len(f.Methods) > 0 && !slices.ContainsFunc(f.Methods, func(m string) bool { return strings.EqualFold(m, r.Method) }) {
		return false
	}
	if len(f.Routes) == 0 {
		return true
	}
	for _, rt := range f.Routes {
		if rt == route || (strings.HasPrefix(rt, "/") && strings.HasPrefix(r.URL.Path, rt)) {
			return true
		}
	}
	return false
}

// applyFaults applies the faults matching r. It returns true when it has
// answered (or dropped) the request, so the route must not run.
func (e *Emulator) applyFaults(w http.ResponseWriter, r *http.Request, route string) bool {
	e.mu.Lock()
	var matching []Fault
	for _, f := range e.faults {
		if f.matches(r, route) {
			matching = append(matching, f)
		}
	}
	e.mu.Unlock()

	var delay time.Duration
	var final *Fault
	for i := range matching {
		f := &matching[i]
		if f.FailureRate > 0 && f.FailureRate < 1 && e.rand() >= f.FailureRate {
			continue
		}
		delay += time.Duration(f.LatencyMS) * time.Millisecond
		if f.Down != "" || f.Status != 0 {
			final = f
			break
		}
	}
	if delay > 0 {
		if err := sleep.For(r.Context(), delay); err != nil {
			// The client gave up; whatever is written goes nowhere.
			return true
		}
	}
	if final == nil {
		return false
	}
	if final.Down != "" {
		resetConnection(w)
		return true
	}
	e.write(w, faultReply(*final), isAuthoringPath(r), time.Now())
	return true
}

// faultReply is the answer Azure gives with that status.
func faultReply(f Fault) reply {
	var rep reply
	switch f.Status {
	case http.StatusUnauthorized:
		rep = frontDoor401()
	case http.StatusForbidden:
		rep = failure(f.Status, "403", "Out of call volume quota for TextAnalytics F0 pricing tier. Please retry after 15 days. To increase your call volume switch to a paid tier.")
	case http.StatusTooManyRequests:
		return frontDoor429(orDefault(f.RetryAfter, 1))
	case http.StatusInternalServerError:
		rep = failure(f.Status, api.CodeInternalServerError, "Internal Server Error.")
	case http.StatusServiceUnavailable:
		rep = failure(f.Status, api.CodeServiceUnavailable, "The service is temporarily unavailable. Please retry later.")
	case http.StatusGatewayTimeout:
		rep = failure(f.Status, api.CodeTimeout, "The operation timed out.")
	case http.StatusNotFound:
		rep = failure(f.Status, api.CodeNotFound, "Not found.")
	case http.StatusBadRequest:
		rep = failure(f.Status, api.CodeInvalidRequest, "Invalid Request.")
	default:
		rep = failure(f.Status, strconv.Itoa(f.Status), http.StatusText(f.Status))
	}
	rep.retryAfter = f.RetryAfter
	return rep
}

// orDefault returns v, or def when v is zero.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// resetConnection drops the client's connection without an answer. Over a
// real connection it sets SO_LINGER to 0 so the peer sees a reset; where the
// connection cannot be taken over (HTTP/2, a recorder) it aborts the handler
// with http.ErrAbortHandler, which net/http turns into a dropped connection
// or stream.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
