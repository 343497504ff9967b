package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRetryAfterIsCapped(t *testing.T) {
	now := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	tests := []struct {
		h    http.Header
		want time.Duration
		ok   bool
	}{
		{http.Header{}, 0, false},
		{http.Header{"Retry-After": {"3"}}, 3 * time.Second, true},
		{http.Header{"Retry-After": {"1.5"}}, 1500 * time.Millisecond, true},
		{http.Header{"Retry-After": {"-1"}}, 0, false},
		{http.Header{"Retry-After": {"NaN"}}, 0, false},
		{http.Header{"Retry-After": {"1e300"}}, time.Hour, true},
		{http.Header{"Retry-After": {"Thu, 01 Jan 2099 00:00:00 GMT"}}, time.Hour, true},
		{http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second, true},
		{http.Header{"X-Ms-Retry-After-Ms": {"250"}, "Retry-After": {"9"}}, 250 * time.Millisecond, true},
	}
	for _, tt := range tests {
		got, ok := RetryAfter(tt.h, now, time.Hour)
		assert.Equal(t, tt.want, got, "RetryAfter(%v)", tt.h)
		assert.Equal(t, tt.ok, ok, "RetryAfter(%v) ok", tt.h)
	}
}
