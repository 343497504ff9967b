// Package api is the Azure AI Language wire format the gateway speaks
// (runtime analyze-text jobs and the authoring calls of custom NER), and a
// small typed Client for one region that replication, `check-config -probe`
// and tests use (the health prober sends its one call itself).
//
// # Wire types
//
// Every object a proxy or the replication worker rewrites keeps the JSON
// members its Go type does not declare (Extra), so a newer api-version's
// fields survive a decode/encode round trip. Member names match fields the
// way encoding/json does (Unicode simple case folding); a member that
// matches a field is never also kept in Extra, and Extra never overrides a
// field when encoding.
//
// # Client decisions
//
//   - The key goes only to the endpoint's origin. Absolute URLs taken from
//     answers (operation-location, nextLink, resultUrl) are used as given
//     but refused when they point elsewhere, and so are cross-origin
//     redirects, which Go would otherwise follow with the key header.
//     An api-version is added to such a URL only when it has none.
//   - Every non-2xx answer becomes an *Error with StatusCode set; a body
//     that is not Azure's envelope still gives the status (as Code, or
//     x-ms-error-code when present) and a short quoted snippet. The key is
//     scrubbed from any text taken from a body, and a Client prints as
//     REDACTED.
//   - A 429 with Retry-After (seconds, HTTP date, retry-after-ms) is waited
//     out, capped at MaxPollInterval and bounded by ctx, up to Max429Retries
//     times; a 429 without it is returned at once, as Azure's SDKs do. Probe
//     never waits, so health checks report at once.
//   - Wait and WaitJob poll at once, then after the 202's or the last poll's
//     Retry-After (capped), else PollInterval doubling up to
//     MaxPollInterval. Up to three transient poll failures in a row (5xx,
//     408, 429, connection errors) are ridden out; a 4xx ends the wait.
//   - Wait (authoring) returns a nil error only for succeeded; WaitJob
//     (runtime) also for partiallyCompleted, whose per-task results carry
//     the failures. failed and cancelled (and, for authoring,
//     partiallyCompleted) return the final job together with a
//     *JobFailedError whose Unwrap is the job's first *Error. When ctx ends
//     they return the last job read and ctx's error, wrapped.
//   - Transport errors are returned with their text scrubbed
//     (internal/scrub): Go's client names the region's host and address in
//     them, and no region hostname leaves the gateway. errors.Is and
//     errors.As still see the original chain (net.Error, context errors).
package api
