package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryAfter reads how long an answer asks the caller to wait: the
// retry-after-ms or x-ms-retry-after-ms headers Azure's SDKs honour, else
// Retry-After in seconds or as an HTTP date. It is the gateway's only
// Retry-After parser. The wait is capped at limit (a date in 2099 or
// 999999 seconds must not park anything for days) and is never negative;
// ok is false when no header holds a usable value.
func RetryAfter(h http.Header, now time.Time, limit time.Duration) (wait time.Duration, ok bool) {
	for _, name := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if v := strings.TrimSpace(h.Get(name)); v != "" {
			if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
				return capWait(ms/1e3, limit), true
			}
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if !(s >= 0) { // negative or NaN
			return 0, false
		}
		return capWait(s, limit), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), limit), true
	}
	return 0, false
}

// capWait turns seconds into a duration in [0, limit] without overflowing
// on absurd values.
func capWait(seconds float64, limit time.Duration) time.Duration {
	if seconds >= limit.Seconds() {
		return limit
	}
	return time.Duration(seconds * float64(time.Second))
}
