// Package proxy is the gateway's reverse proxy for the Azure AI Language
// runtime: it sends each client call to a region, fails over within the
// same request, keeps polls sticky to the region that owns the job, and
// rewrites everything a client sees so it names the gateway, never a region.
//
// # Routes
//
// Mounted at /language/ behind client authentication, a Proxy serves
//
//	POST /language/analyze-text/jobs             submit; fails over
//	GET  /language/analyze-text/jobs/{id}        the owner only
//	POST /language/analyze-text/jobs/{id}:cancel the owner only
//	POST /language/:analyze-text                 sync prebuilt call; fails over
//	*    /language/authoring/analyze-text/...    the primary only; 503 while it is down
//
// Any other path is a 404 and a known path with another method a 405 with
// Allow, both in Azure's error shape. The query (api-version, top, skip,
// $top, $skip, showStats) reaches the region unchanged; a missing
// api-version is not answered locally but passed on, so the client gets
// Azure's own 400 for it.
//
// # Attempts and failover
//
// The request body is buffered once (above Config.MaxRequestBytes: 413
// RequestTooLarge) and every attempt gets a fresh reader and a fresh copy
// of the client's headers, minus hop-by-hop headers, the client's
// Ocp-Apim-Subscription-Key and Authorization, plus the region's key. An
// attempt has its own timeout (Config.UpstreamTimeout) and its answer is
// read whole before anything is written to the client, so the proxy can
// still fall back after a bad status. Each attempt is classified
// (classify, Outcome):
//
//   - 1xx-3xx: relayed (ok); a success for the breaker.
//   - 4xx other than 401, 403, 429: the client's error, relayed as is,
//     never failed over, a success for the breaker (client_error).
//   - connection error, timeout, 5xx, 401/403 (the gateway's region key is
//     at fault): a failure charged to the region's breaker; the next
//     region is tried.
//   - 429: the region is parked until its Retry-After (seconds or an HTTP
//     date; 1 s when absent, at most an hour) and the next region is
//     tried; not charged to the breaker.
//   - the client went away: the attempt is released uncharged and the
//     loop stops (499 in logs).
//
// When regions were tried and none gave an answer to relay, errorResponse
// decides: 504 Timeout when the last failure was a timeout, 502 when it was
// an answer the gateway cannot relay (over 64 MiB; 256 MiB for authoring,
// whose export results can be large), otherwise 503 ServiceUnavailable
// with Retry-After: the failures were the regions', another try may
// succeed, and Azure's SDKs retry a 503 only when Retry-After is present.
// Authoring calls follow the same mapping (503 while the primary is open
// or failing, 504 if it timed out).
//
// # Selection
//
// selectRegions is a pure function of the regions' breaker states, their
// 429 parking and the clock. Submits and sync calls go to closed regions in
// priority order; half-open regions are skipped, because the health probe
// is the half-open trial and clients should not pay for it, unless no
// closed region is available, when they are the last resort. Polls, cancels
// and authoring calls go to one region (the owner, the primary) and never
// fail over; when it is open or parked the client gets 503 with
// Retry-After and no region is called. Retry-After is the time until the
// earliest such region may take calls (parking end; for an open breaker
// the region's OpenUntil when it has one, else Config.OpenRetryAfter),
// rounded up to seconds, at least 1.
//
// # Job-id tokens
//
// A client-visible job id names its owning region without any shared
// state, so every gateway replica routes a poll correctly after any restart,
// and it still looks like a UUID (8-4-4-4-12 lowercase hex), which Azure's
// JS SDK checks before it cancels a job. Azure's runtime job ids are v4
// UUIDs: version nibble 4 and variant bits 10. The token of such an id is
// the same UUID with
//
//   - the variant bits set to 11 (the marker: a v4 id never has it), and
//   - the version nibble set to the owning region's index in
//     Config.Regions (0..15).
//
// Decoding a UUID whose variant bits are 11 restores the version nibble 4
// and the variant 10 and yields the region's index; an index that is not a
// configured region is a 404 NotFound with no upstream call, so a client
// can never steer the gateway to a host that is not configured. Tokens are
// not secret and not signed: forging one only lets a client ask a
// configured region for a job id, which its region key would allow anyway.
//
// The token replaces the region's id everywhere a client sees it: the
// operation-location of submit and cancel answers (and of poll answers,
// which would otherwise switch an SDK's poller), nextLink, and the jobId
// of job bodies. The id stays the last path segment and the query is
// kept, because hand-written clients split operation-location on '/'.
//
// An upstream id that does not fit (not a lowercase UUID, or not v4) is
// handed out unchanged and its owner is remembered in a bounded LRU (10,000
// ids, 24 h, the life of Azure's job results). A client id that is neither
// a token nor in that cache (another replica issued it, or this one
// restarted) is resolved by the bounded fallback: the regions are asked in
// priority order (the poll or cancel itself is the question: a cancel sent
// to a region without the job is a harmless 404) and the first answer that
// is not 404 is relayed; a success names the owner, which is cached. A 404 is only
// relayed when every region answered 404; if a region could not answer,
// the client gets 503 with Retry-After instead, since its job may be there.
// An id that is not 1 to 128 characters of [0-9A-Za-z_-] (a slash, a
// percent sign, dots, CR/LF) is a 404 without an upstream call. The cache
// is consulted before token decoding, so an upstream id that happens to
// carry the marker (a non-v4 UUID with variant 11) still routes on the
// replica that issued it.
//
// # Rewriting
//
// Absolute region URLs become the gateway's public URL
// (Config.PublicURL, else the request's scheme and Host, or the
// X-Forwarded-Proto and X-Forwarded-Host a trusted front proxy set):
// Operation-Location, Location and Azure-AsyncOperation headers are parsed
// and rebuilt; in bodies (nextLink, resultUrl, any other) the region's
// endpoint prefix is replaced by a byte search. Other response headers
// that name a region host are dropped, hop-by-hop headers too, and
// Content-Length is recomputed. Authoring answers get the same URL
// rewriting; authoring job ids need no token, as authoring always goes to
// the primary.
//
// For secondary regions, tasks[].parameters.projectName/deploymentName (and
// a sync call's parameters.projectName/deploymentName) are mapped through
// Config.ProjectNames and Config.DeploymentNames, and results
// (tasks.items[].results.projectName/deploymentName, a sync call's
// results.*) are mapped back. Only those values change: a targeted JSON
// scanner replaces their bytes, so member order, unknown members and
// number spelling reach the other side unchanged. A body is not scanned
// at all when it does not mention a mapped name; a body that mentions none
// and holds no region URL or job id is relayed without a copy.
//
// # Telemetry and secrets
//
// Each attempt is a client span proxy.attempt (its context is what the
// Propagator injects into the upstream request) with gateway.region (the
// region's name), gateway.attempt, gateway.outcome, gateway.breaker.state
// and http.response.status_code; each move to the next region is a failover
// event on the request's span. Metrics: gateway.requests {route, region,
// outcome} (region "none" and route "unknown" for answers made without a
// region), gateway.failovers {from, to, reason}, gateway.upstream.duration
// {region, outcome} in seconds, gateway.inflight_requests. Nothing the
// proxy returns, logs or records holds a region key, the client's gateway
// key or a region hostname: transport errors are reduced to their kind
// before they are logged (Proxy.safeCause).
package proxy
