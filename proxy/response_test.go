package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"nergateway/api"
	"nergateway/internal/inflight"
	"nergateway/internal/region"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bufferOf is body held in a buffer as readBody leaves it.
func bufferOf(tb testing.TB, body []byte) *inflight.Buffer {
	tb.Helper()
	x := inflight.NewBudget(0).NewBuffer(int64(len(body))+1, -1)
	_, err := x.ReadFrom(bytes.NewReader(body))
	require.NoError(tb, err)
	return x
}

func failed(o region.Outcome) *attemptError {
	return &attemptError{region: "westus2", n: 1, v: region.Verdict{Outcome: o}}
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
		{"canceled", fmt.Errorf("%w: gone", errCanceled), statusClientClosed, api.CodeInvalidRequest, 0},
		{"body over budget", errOverBudget, 503, api.CodeServiceUnavailable, time.Second},
		{"answer over budget", failed(region.OutcomeOverloaded), 503, api.CodeServiceUnavailable, time.Second},
		{"no region", &unavailableError{retryAfter: 3 * time.Second}, 503, api.CodeServiceUnavailable, 3 * time.Second},
		{"all 5xx", &unavailableError{retryAfter: time.Second, last: failed(region.OutcomeStatus5xx)}, 503, api.CodeServiceUnavailable, time.Second},
		{"all 429", &unavailableError{retryAfter: 9 * time.Second, last: failed(region.OutcomeStatus429)}, 503, api.CodeServiceUnavailable, 9 * time.Second},
		{"all refused", &unavailableError{retryAfter: time.Second, last: failed(region.OutcomeConnectionError)}, 503, api.CodeServiceUnavailable, time.Second},
		{"last timed out", &unavailableError{retryAfter: time.Second, last: failed(region.OutcomeTimeout)}, 504, api.CodeTimeout, time.Second},
		{"last timed out, rescue due later", &unavailableError{retryAfter: 4 * time.Second, last: failed(region.OutcomeTimeout)}, 504, api.CodeTimeout, 4 * time.Second},
		{"timed out alone", failed(region.OutcomeTimeout), 504, api.CodeTimeout, time.Second},
		{"last too large", &unavailableError{retryAfter: time.Second, last: failed(region.OutcomeBadResponse)}, 502, api.CodeInternalServerError, 0},
		{"unknown", errors.New("?"), 502, api.CodeInternalServerError, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, e, retry := errorResponse(tt.err)
			assert.Equal(t, tt.status, status)
			assert.Equal(t, tt.code, e.Code)
			assert.Equal(t, tt.retry, retry)
			assert.NotEqual(t, "", e.Message, "empty message")
		})
	}
}
