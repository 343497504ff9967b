package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"nergateway/api"
	"nergateway/internal/region"
)

func TestClassify(t *testing.T) {
	now := time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC)
	live := context.Background()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	refused := &url.Error{Op: "Post", URL: "http://10.0.0.1:1/x", Err: &net.OpError{Op: "dial", Net: "tcp",
		Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}
	resp := func(code int, hdr ...string) *http.Response {
		h := http.Header{}
		for i := 0; i+1 < len(hdr); i += 2 {
			h.Set(hdr[i], hdr[i+1])
		}
		return &http.Response{StatusCode: code, Header: h}
	}

	tests := []struct {
		name       string
		ctx        context.Context
		resp       *http.Response
		err        error
		want       Outcome
		wantAs     any // pointer to the typed error expected, or nil
		wantIs     error
		retryAfter time.Duration
	}{
		{name: "200", ctx: live, resp: resp(200), want: OutcomeOK},
		{name: "202", ctx: live, resp: resp(202), want: OutcomeOK},
		{name: "304", ctx: live, resp: resp(304), want: OutcomeOK},
		{name: "400", ctx: live, resp: resp(400), want: OutcomeClientError},
		{name: "404", ctx: live, resp: resp(404), want: OutcomeClientError},
		{name: "409", ctx: live, resp: resp(409), want: OutcomeClientError},
		{name: "413", ctx: live, resp: resp(413), want: OutcomeClientError},
		{name: "415", ctx: live, resp: resp(415), want: OutcomeClientError},
		{name: "422", ctx: live, resp: resp(422), want: OutcomeClientError},
		{name: "401 region key", ctx: live, resp: resp(401), want: OutcomeAuthError, wantAs: new(*StatusError)},
		{name: "403 region key", ctx: live, resp: resp(403), want: OutcomeAuthError, wantAs: new(*StatusError)},
		{name: "500", ctx: live, resp: resp(500), want: OutcomeStatus5xx, wantAs: new(*StatusError)},
		{name: "502", ctx: live, resp: resp(502), want: OutcomeStatus5xx, wantAs: new(*StatusError)},
		{name: "503", ctx: live, resp: resp(503), want: OutcomeStatus5xx, wantAs: new(*StatusError)},
		{name: "429 seconds", ctx: live, resp: resp(429, "Retry-After", "7"), want: OutcomeStatus429, wantAs: new(*StatusError), retryAfter: 7 * time.Second},
		{name: "429 date", ctx: live, resp: resp(429, "Retry-After", now.Add(30*time.Second).Format(http.TimeFormat)), want: OutcomeStatus429, wantAs: new(*StatusError), retryAfter: 30 * time.Second},
		{name: "429 absent", ctx: live, resp: resp(429), want: OutcomeStatus429, wantAs: new(*StatusError), retryAfter: time.Second},
		{name: "429 garbage", ctx: live, resp: resp(429, "Retry-After", "soon"), want: OutcomeStatus429, wantAs: new(*StatusError), retryAfter: time.Second},
		{name: "429 huge", ctx: live, resp: resp(429, "Retry-After", "1296000"), want: OutcomeStatus429, wantAs: new(*StatusError), retryAfter: time.Hour},
		{name: "refused", ctx: live, err: refused, want: OutcomeConnectionError, wantAs: new(*DialError), wantIs: syscall.ECONNREFUSED},
		{name: "reset", ctx: live, err: reset, want: OutcomeConnectionError, wantAs: new(*DialError), wantIs: syscall.ECONNRESET},
		{name: "truncated", ctx: live, err: io.ErrUnexpectedEOF, want: OutcomeConnectionError, wantAs: new(*DialError)},
		{name: "too large", ctx: live, err: errTooLarge, want: OutcomeConnectionError, wantAs: new(*BadResponseError)},
		{name: "deadline", ctx: live, err: fmt.Errorf("round trip: %w", context.DeadlineExceeded), want: OutcomeTimeout, wantAs: new(*TimeoutError)},
		{name: "net timeout", ctx: live, err: &net.OpError{Op: "dial", Err: timeoutErr{}}, want: OutcomeTimeout, wantAs: new(*TimeoutError)},
		{name: "client gone", ctx: gone, err: context.Canceled, want: OutcomeCanceled, wantIs: ErrCanceled},
		{name: "client gone beats timeout", ctx: gone, err: context.DeadlineExceeded, want: OutcomeCanceled, wantIs: ErrCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := classify(tt.ctx, tt.resp, tt.err, now)
			if got != tt.want {
				t.Fatalf("outcome %q, want %q", got, tt.want)
			}
			if (got == OutcomeOK || got == OutcomeClientError) != (err == nil) {
				t.Fatalf("err %v for outcome %q", err, got)
			}
			if err != nil && outcomeOf(err) != tt.want {
				t.Errorf("outcomeOf(err) = %q, want %q", outcomeOf(err), tt.want)
			}
			if wrapped := (&AttemptError{Region: "r", Attempt: 1, Err: err}); err != nil && outcomeOf(wrapped) != tt.want {
				t.Errorf("outcomeOf(AttemptError) = %q", outcomeOf(wrapped))
			}
			if tt.wantAs != nil && !errors.As(err, tt.wantAs) {
				t.Errorf("err %T (%v) is not %T", err, err, tt.wantAs)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err %v is not %v", err, tt.wantIs)
			}
			var se *StatusError
			if tt.retryAfter != 0 && (!errors.As(err, &se) || se.RetryAfter != tt.retryAfter) {
				t.Errorf("retry after %v, want %v", se, tt.retryAfter)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestOutcomeOfLoopErrors covers the classes the loop makes itself.
func TestOutcomeOfLoopErrors(t *testing.T) {
	open := fmt.Errorf("region westus2: %w", region.ErrBreakerOpen)
	if got := outcomeOf(&AttemptError{Err: open}); got != OutcomeBreakerOpen {
		t.Errorf("breaker: %q", got)
	}
	if got := outcomeOf(&AttemptError{Err: &ParkedError{Until: time.Now()}}); got != OutcomeParked {
		t.Errorf("parked: %q", got)
	}
	if got := reason(&StatusError{StatusCode: 503}); got != "status_503" {
		t.Errorf("reason: %q", got)
	}
}

func TestErrorResponse(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		retry  time.Duration
	}{
		{"not found", notFound("x"), 404, api.CodeNotFound, 0},
		{"method", methodNotAllowed("GET"), 405, api.CodeInvalidRequest, 0},
		{"canceled", fmt.Errorf("%w: gone", ErrCanceled), statusClientClosed, api.CodeInvalidRequest, 0},
		{"no region", &unavailableError{retryAfter: 3 * time.Second}, 503, api.CodeServiceUnavailable, 3 * time.Second},
		{"all 5xx", &unavailableError{retryAfter: time.Second, last: &AttemptError{Err: &StatusError{StatusCode: 500}}}, 503, api.CodeServiceUnavailable, time.Second},
		{"all refused", &unavailableError{retryAfter: time.Second, last: &AttemptError{Err: &DialError{Err: io.EOF}}}, 503, api.CodeServiceUnavailable, time.Second},
		{"last timed out", &unavailableError{retryAfter: time.Second, last: &AttemptError{Err: &TimeoutError{Err: context.DeadlineExceeded}}}, 504, api.CodeTimeout, 0},
		{"last too large", &unavailableError{retryAfter: time.Second, last: &AttemptError{Err: &BadResponseError{Err: errTooLarge}}}, 502, api.CodeInternalServerError, 0},
		{"unknown", errors.New("?"), 502, api.CodeInternalServerError, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, e, retry := errorResponse(tt.err)
			if status != tt.status || e.Code != tt.code || retry != tt.retry {
				t.Errorf("got %d %s %v, want %d %s %v", status, e.Code, retry, tt.status, tt.code, tt.retry)
			}
			if e.Message == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              time.Second,
		"0":                             time.Second,
		"-5":                            time.Second,
		"12":                            12 * time.Second,
		"99999999999999999999":          time.Second, // does not parse as int64: default
		"Sun, 29 Nov 2026 04:01:00 GMT": time.Minute,
		"Sun, 29 Nov 2026 03:00:00 GMT": time.Second, // in the past
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}
