// Package inflight bounds how many requests a handler serves at once. The
// gateway buffers each request body (to replay it on failover) and each
// region answer (to rewrite it), so the number of requests in flight is
// what bounds its memory; beyond the bound a client is told to come back
// rather than the process growing until it is killed.
package inflight

import (
	"net/http"
	"strconv"

	"nergateway/api"
)

// RetryAfterSeconds is the Retry-After sent with a 503 beyond the limit:
// a slot frees as soon as any one request finishes, so a short wait is
// enough, and Azure's SDKs honour it.
const RetryAfterSeconds = 1

// Limit lets at most max requests through to the next handler at once.
// A request beyond it is answered at once (never queued: a queue would
// hold its connection and memory all the same) with 503, Retry-After and
// Azure's error body. max <= 0 means no limit.
func Limit(max int) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if max <= 0 {
			return next
		}
		slots := make(chan struct{}, max)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case slots <- struct{}{}:
			default:
				w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
				api.WriteError(w, http.StatusServiceUnavailable, api.Error{
					Code:    api.CodeServiceUnavailable,
					Message: "The gateway is serving its maximum number of concurrent requests. Please retry after the time in Retry-After.",
				})
				return
			}
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		})
	}
}
