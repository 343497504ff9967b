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
// A request is checked in this order, so a slow or lying client costs its
// own connection and nothing else: route, method and job id (no region
// needed); then the body, buffered once from the byte budget
// (Config.Budget, GATEWAY_MAX_BUFFERED_BYTES) as its bytes arrive, never
// pre-sized from Content-Length (above Config.MaxRequestBytes: 413
// RequestTooLarge; budget spent: 503 with Retry-After; past the server's
// GATEWAY_BODY_TIMEOUT: 408); only then an in-flight slot
// (Config.MaxInflight; 503 with Retry-After beyond it). Every attempt gets
// a fresh reader and a fresh copy of the client's headers, taken by
// allowlist (Accept, Accept-Language, Content-Type, User-Agent,
// X-Ms-Useragent, X-Ms-Client-Request-Id, X-Ms-Return-Client-Request-Id,
// Traceparent, Tracestate), plus the region's key. An attempt has its own
// timeout (Config.UpstreamTimeout) and its answer is read whole, from the
// budget, before anything is written to the client, so the proxy can
// still fall back after a bad status.
//
// The region's rulebook (region.Region.Judge) decides each attempt once;
// the verdict is carried to the breaker, the loop, the client's status,
// spans, metrics and logs:
//
//   - 1xx-3xx: relayed (ok); a success for the breaker. But a Location,
//     Operation-Location or Azure-AsyncOperation naming a host other than
//     the region's own is never relayed (an SDK would send the gateway key
//     there): bad_response, a region fault, the next region is tried.
//   - 4xx other than 401, 403, 429: the client's error, relayed as is,
//     never failed over, a success for the breaker (client_error).
//   - connection error, timeout, 5xx, 401/403 (the gateway's region key is
//     at fault), an answer over the cap: a failure charged to the region's
//     breaker; the next region is tried.
//   - 429: the quota scope that answered (runtime, authoring read,
//     authoring write) is parked in that region until its Retry-After
//     (seconds, an HTTP date or retry-after-ms; 1 s when absent; at most
//     REGION_MAX_PARK) and the next region is tried; not charged to the
//     breaker. An authoring 429 never stops runtime calls.
//   - the client went away: the attempt is released uncharged and the
//     loop stops (499 in logs).
//   - the budget could not hold the answer: 503 with Retry-After, nothing
//     charged to the region, no other region tried.
//
// When regions were tried and none gave an answer to relay, errorResponse
// decides: 504 Timeout when the last failure was a timeout, 502 when it was
// an answer the gateway will not relay (over 64 MiB, 256 MiB for authoring,
// or the budget; a URL naming a foreign host), otherwise 503
// ServiceUnavailable with Retry-After: the failures were the regions',
// another try may succeed, and Azure's SDKs retry a 503 only when
// Retry-After is present. Authoring calls follow the same mapping (503
// while the primary is open, parked or failing, 504 if it timed out).
//
// # Selection
//
// selectRegions is a pure function of the regions' breaker states, the
// parking of the call's quota scope and the clock. Submits and sync calls go to closed regions in
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
// # Jobs nobody will read
//
// A submit attempt the proxy gives up on (its timeout passed, or the
// client went away) may still create a job in that region. Its request is
// therefore sent on a worker goroutine apart from the client's request (a
// worker stays 10 s for the next submit, so its grown stack is reused):
// the attempt's deadline only stops the waiting, and while Run runs the request is followed for up to
// Config.OrphanWait; a job the region accepts anyway is cancelled there
// with the region's credentials (cancelJob, the one way the proxy cancels
// a job itself). So is a job a region accepted when the proxy then failed
// the request. At most 256 are followed; one more drops the oldest. The
// first copy of a rescued job is cancelled the same way once its region
// answers again, by the one replica that wins its claim in the store.
// gateway.orphan.jobs and gateway.rescued.originals count them by region
// and outcome.
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
//   - the version nibble set to 2 + 7 x the owning region's index in
//     Config.Regions (0 primary, 1 secondary) + a check derived from every
//     other bit (FNV-1a of the upstream id, mod 7).
//
// Decoding a UUID whose variant bits are 11 restores the version nibble 4
// and the variant 10, and accepts it only when the check matches: an
// upstream id that merely carries the marker is taken for a token one time
// in eight instead of always, and one this replica handed out is found in
// the owner cache first. Tokens of the scheme before the check (version
// nibble 0 or 1: the index alone) are accepted for 24 h after the Proxy is
// built, the life of a job result, so no job submitted before an upgrade
// is lost. Tokens are not secret and not signed: forging one
// only lets a client ask a configured region for a job id, which its
// region key would allow anyway.
//
// The token replaces the region's id everywhere a client sees it: the
// operation-location of submit and cancel answers (and of poll answers,
// which would otherwise switch an SDK's poller), nextLink, and the jobId
// of job bodies. The id stays the last path segment and the query is
// kept, because hand-written clients split operation-location on '/'.
//
// Only UUID-shaped ids (either case) are ever looked up in a region: any
// other id (not-a-job-id, an authoring-style id, a slash, a percent sign,
// dots, CR/LF) is a local 404 NotFound, for polls and cancels alike. An
// upstream UUID that does not fit (not lowercase, or not v4) is handed out
// unchanged and its owner is remembered in a bounded LRU (10,000 ids, 24 h,
// the life of Azure's job results). A client id that is neither a token nor
// in that cache (another replica issued it, or this one restarted) is
// resolved by the bounded fallback: the regions are asked in priority
// order (the poll or cancel itself is the question: a cancel sent to a
// region without the job is a harmless 404) and the first answer that is
// not 404 is relayed; a success names the owner, which is cached. A 404 is
// only relayed when every region answered 404; if a region could not
// answer, the client gets 503 with Retry-After instead, since its job may
// be there.
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
// outcome, and gateway.key.name when Config.KeyName is set} (region "none"
// and route "unknown" for answers made without a region),
// gateway.failovers {from, to, reason}, gateway.upstream.duration {region,
// outcome} in seconds, gateway.polls.answered_calm {region, reason},
// gateway.inflight_requests, gateway.buffered_bytes. Outcomes and
// reasons are one vocabulary, region.Outcome (status_5xx, never
// status_503); routes are the names of the one route table
// (internal/route); no label comes from a client value. Middleware that
// wants a request's outcome (an access log) reads it from reqrecord.With
// (internal/reqrecord), without importing the proxy. Nothing the
// proxy returns, logs or records holds a region key, the client's gateway
// key or a region hostname: transport errors are reduced to their kind
// and scrubbed by the shared host scrubber (internal/scrub) before they
// are logged.
package proxy
