package emulator

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"nergateway/api"
	"nergateway/internal/statuswriter"
)

// call is one request being served by a route handler. Handlers run with
// e.mu held and return a reply, which is written after the lock is released.
type call struct {
	r          *http.Request
	vars       map[string]string
	now        time.Time
	apiVersion string
	base       string // scheme://host the client used
	body       []byte
}

// decode reads the request body as JSON into v; trailing data is an error.
func (c *call) decode(v any) error { return json.Unmarshal(c.body, v) }

// reply is what a handler answers.
type reply struct {
	status     int
	body       any    // encoded as JSON when non-nil
	raw        []byte // sent as is when non-nil
	location   string // Operation-Location
	retryAfter int    // seconds; 0: no Retry-After
	err        *api.Error
}

func respond(body any) reply { return reply{status: http.StatusOK, body: body} }

func accepted(location string) reply {
	return reply{status: http.StatusAccepted, location: location}
}

func failure(status int, code, msg string) reply {
	return reply{status: status, err: &api.Error{Code: code, Message: msg}}
}

func failureInner(status int, code, msg, inner, innerMsg string) reply {
	return reply{status: status, err: &api.Error{Code: code, Message: msg,
		InnerError: &api.InnerError{Code: inner, Message: innerMsg}}}
}

// maxBodyBytes caps request bodies; Azure refuses far smaller ones, so
// nothing legitimate comes near it.
const maxBodyBytes = 8 << 20

// badJSON is Azure's answer to a body that is not the JSON it expects (or
// is too large to read).
func badJSON(err error) reply {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return failure(http.StatusRequestEntityTooLarge, api.CodeRequestTooLarge,
			"Request Payload sent is too large to be processed.")
	}
	return failureInner(http.StatusBadRequest, api.CodeInvalidRequest, "Invalid Request.",
		api.InnerInvalidRequestBodyFormat, "Request body is invalid: "+err.Error())
}

func missing(field string) reply {
	return failure(http.StatusBadRequest, api.CodeInvalidArgument,
		"The request is missing the required field '"+field+"'.")
}

// errNotFound is Azure's error for a named thing that does not exist
// ("The project 'x' could not be found."): the answer to a request that
// names it, and the failure of a job whose thing went away before the job
// ended.
func errNotFound(code, thing, name string) *api.Error {
	return &api.Error{Code: code, Message: "The " + thing + " '" + name + "' could not be found."}
}

func errProjectNotFound(name string) *api.Error {
	return errNotFound(api.CodeProjectNotFound, "project", name)
}

func errModelNotFound(label string) *api.Error {
	return errNotFound(api.CodeNotFound, "trained model", label)
}

func projectNotFound(name string) reply {
	return reply{status: http.StatusNotFound, err: errProjectNotFound(name)}
}

func modelNotFound(label string) reply {
	return reply{status: http.StatusNotFound, err: errModelNotFound(label)}
}

func deploymentNotFound(name string) reply {
	return reply{status: http.StatusNotFound, err: errNotFound(api.CodeNotFound, "deployment", name)}
}

// url returns the absolute URL of path on the host the client used, with
// the request's api-version and q, so operation-location, resultUrl and
// nextLink lead back to this region whether it runs in process or as a
// binary.
func (c *call) url(path string, q url.Values) string {
	if q == nil {
		q = url.Values{}
	}
	q.Set("api-version", c.apiVersion)
	return c.base + path + "?" + q.Encode()
}

func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" {
		host = "localhost"
	}
	return scheme + "://" + host
}

// Front-door (API management) answers; their codes are numeric strings.
const (
	msgNotFound = "Resource not found"
)

func frontDoor401() reply {
	return failure(http.StatusUnauthorized, api.CodeFrontDoorUnauthorized, api.MessageFrontDoorUnauthorized)
}

func frontDoor429(retryAfter int) reply {
	rep := failure(http.StatusTooManyRequests, api.CodeFrontDoorTooManyRequests,
		"Requests to the Authoring Operation under Azure AI Language API have exceeded rate limit of your current Standard pricing tier. Please retry after "+
			strconv.Itoa(retryAfter)+" second(s). Please contact Azure support service if you would like to further increase the default rate limit.")
	rep.retryAfter = retryAfter
	return rep
}

// ServeHTTP serves one request: admin paths go to the admin API; every
// other request is counted under its route, meets the faults, then the key
// check, the api-version check and the rate limit, in that order.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := statuswriter.New(w)
	h := sw.Header()
	h.Set(api.RequestIDHeader, newUUID())
	h.Set("X-Content-Type-Options", "nosniff")

	if strings.HasPrefix(r.URL.Path, adminPrefix) {
		e.admin.ServeHTTP(sw, r)
		e.logRequest(r, "admin", sw, start)
		return
	}

	rt, vars, found := e.findRoute(r)
	e.count(rt.name)
	if e.applyFaults(sw, r, rt.name) {
		e.logRequest(r, rt.name, sw, start)
		return
	}
	e.write(sw, e.dispatch(r, rt, vars, found), isAuthoringPath(r), start)
	e.logRequest(r, rt.name, sw, start)
}

// dispatch runs the checks every Azure call goes through, then the route.
func (e *Emulator) dispatch(r *http.Request, rt route, vars map[string]string, found bool) (res reply) {
	if !e.authorized(r) {
		return frontDoor401()
	}
	if !found {
		return failure(http.StatusNotFound, "404", msgNotFound)
	}
	v := apiVersion(r)
	if v == "" {
		return failureInner(http.StatusBadRequest, api.CodeInvalidRequest,
			"The api-version query parameter (?api-version=) is required for all requests.",
			api.InnerInvalidParameterValue, "Missing api-version.")
	}
	if !supportedAPIVersion(v) {
		return failureInner(http.StatusBadRequest, api.CodeInvalidRequest,
			"The api-version '"+v+"' is not supported. Supported versions: 2022-05-01, 2023-04-01, 2024-11-01 and previews.",
			api.InnerInvalidParameterValue, "Unsupported api-version.")
	}
	// Read the body before taking the lock, so a slow client holds up only
	// itself.
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		return badJSON(fmt.Errorf("reading the request body: %w", err))
	}
	c := &call{r: r, vars: vars, apiVersion: v, base: requestBase(r), body: body}

	e.mu.Lock()
	defer e.mu.Unlock()
	c.now = e.now()
	e.settle(c.now)
	if isAuthoringPost(rt) {
		if wait := e.takePostToken(c.now); wait > 0 {
			return frontDoor429(wait)
		}
	}
	res = rt.handle(c)
	// Encode under the lock: bodies may share slices and maps with the
	// region's state.
	if res.body != nil && res.err == nil {
		b, err := json.Marshal(res.body)
		if err != nil {
			e.log.Error("encoding response", "route", rt.name, "err", err)
			return failure(http.StatusInternalServerError, api.CodeInternalServerError, "Internal Server Error.")
		}
		res.raw, res.body = b, nil
	}
	return res
}

// write sends res with the headers Azure's answers carry (recorded,
// internal/testkit/recorded): x-ms-region, x-envoy-upstream-service-time and
// Strict-Transport-Security on every answer the service itself gives, and
// on authoring answers request-id (the apim-request-id again) and
// Access-Control-Expose-Headers. The front door's 401 carries none of them.
func (e *Emulator) write(w http.ResponseWriter, res reply, authoring bool, start time.Time) {
	h := w.Header()
	if res.status != http.StatusUnauthorized {
		h.Set("x-ms-region", e.regionDisplayName)
		h.Set("x-envoy-upstream-service-time", strconv.FormatInt(time.Since(start).Milliseconds(), 10))
		h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains; preload")
		if authoring {
			h.Set("request-id", h.Get(api.RequestIDHeader))
			h.Set("Access-Control-Expose-Headers", "*")
		}
	}
	if res.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(res.retryAfter))
	}
	if res.err != nil {
		api.WriteError(w, res.status, *res.err)
		return
	}
	if res.raw != nil { // 202 and 204 have no body, so no type
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	if res.location != "" {
		h.Set(api.OperationLocationHeader, res.location)
	}
	w.WriteHeader(res.status)
	if res.raw != nil {
		_, _ = w.Write(res.raw)
	}
}

// isAuthoringPath reports whether r calls the authoring API (also when its
// path starts with //, which Azure serves like /).
func isAuthoringPath(r *http.Request) bool {
	return strings.HasPrefix(strings.TrimLeft(r.URL.Path, "/"), "language/authoring/")
}

// regionDisplayNames are the x-ms-region values of the regions the
// emulator is usually named after; another name is sent as given.
var regionDisplayNames = map[string]string{
	"eastus": "East US", "eastus2": "East US 2", "westus": "West US", "westus2": "West US 2", "westus3": "West US 3",
	"centralus": "Central US", "northeurope": "North Europe", "westeurope": "West Europe",
	"swedencentral": "Sweden Central", "uksouth": "UK South", "japaneast": "Japan East",
}

func (e *Emulator) authorized(r *http.Request) bool {
	if e.opts.BearerTokens != nil {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return ok && r.Header.Get(api.SubscriptionKeyHeader) == "" && e.opts.BearerTokens(token)
	}
	got := r.Header.Get(api.SubscriptionKeyHeader)
	return subtle.ConstantTimeCompare([]byte(got), []byte(e.opts.Key)) == 1
}

func apiVersion(r *http.Request) string { return r.URL.Query().Get("api-version") }

var previewVersion = regexp.MustCompile(`^20[2-9][0-9]-[01][0-9]-[0-3][0-9]-preview$`)

// supportedAPIVersion accepts the GA versions of the runtime and authoring
// specs and any preview.
func supportedAPIVersion(v string) bool {
	switch v {
	case "2022-05-01", "2023-04-01", "2024-11-01":
		return true
	}
	return previewVersion.MatchString(v)
}

// takePostToken applies the authoring POST rate limit: it returns 0 and
// records the POST when allowed, else the seconds until a slot frees.
func (e *Emulator) takePostToken(now time.Time) int {
	limit := e.opts.AuthoringPostsPerMinute
	if limit == 0 {
		return 0
	}
	keep := e.postTimes[:0]
	for _, t := range e.postTimes {
		if now.Sub(t) < time.Minute {
			keep = append(keep, t)
		}
	}
	e.postTimes = keep
	if len(keep) < limit {
		e.postTimes = append(e.postTimes, now)
		return 0
	}
	wait := keep[0].Add(time.Minute).Sub(now)
	return max(1, int((wait+time.Second-1)/time.Second))
}

// logRequest logs one request; status 0 means the connection was dropped
// (a reset fault, or a client that left during injected latency).
func (e *Emulator) logRequest(r *http.Request, route string, sw *statuswriter.Writer, start time.Time) {
	status := 0
	if sw.Answered() {
		status = sw.Status()
	}
	e.log.Info("request", "method", r.Method, "path", r.URL.Path, "route", route,
		"status", status, "duration", time.Since(start))
}
