package proxy

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"nergateway/api"
	"nergateway/internal/inflight"
	"nergateway/internal/region"
	"nergateway/internal/reqrecord"
	"nergateway/internal/route"
)

// call is one client request on its way through the proxy.
type call struct {
	r     *http.Request
	route route.Route
	scope region.Scope
	// clientID is the job id as the client sent it; upstreamID the owner's
	// own id (the same for passthrough ids).
	clientID, upstreamID string
	// owner is the region that must answer, or noOwner.
	owner int
	// resolve means the owner of a passthrough id is unknown: regions are
	// asked in priority order until one does not answer 404.
	resolve bool
	// path and rawPath are the upstream path after the endpoint's own.
	path, rawPath string
	body          *inflight.Buffer // nil: no body
	mapped        []byte           // body with secondary names, made on first need
	mappedDone    bool
	public        string // the gateway's base URL for this request
	publicHost    string // its host[:port]
	attempts      int
	// apimRequestID is the region's request id for the attempt under way,
	// read only when the attempt has a recorded span (tracedAttempt).
	apimRequestID string
	res           *reqrecord.Result // nil unless the caller asked (reqrecord.With)
	// rescued means owner and upstreamID name the rescued copy of the
	// client's job; rescuedFrom and rescuedFromID name the first copy.
	rescued       bool
	rescuedFrom   int
	rescuedFromID string
	// issuedID is the job id a submit's answer hands the client.
	issuedID string
	// finished: the rescue store says a poll saw the job finish, so it
	// never gets a calm answer (calm.go).
	finished bool
	// trial sends the call to its owner whatever the owner's breaker
	// says: the job was accepted after this replica saw the owner go
	// down, so the owner came back (rescue.go).
	trial bool
}

// bodyBytes is the client's body as buffered (nil for none).
func (c *call) bodyBytes() []byte {
	if c.body == nil {
		return nil
	}
	return c.body.Bytes()
}

// freeBody returns the body's bytes to the budget.
func (c *call) freeBody() {
	if c.body != nil {
		c.body.Free()
	}
}

// newCall routes r through the route table and checks everything that can
// be checked without a region: path, method, job id, the public URL.
func (p *Proxy) newCall(r *http.Request) (*call, error) {
	rt, id := route.Match(r.URL.Path)
	c := &call{r: r, owner: noOwner, route: rt}
	switch rt.Name {
	case route.Submit.Name, route.Analyze.Name:
		c.path = rt.Template
	case route.Job.Name, route.Cancel.Name:
		c.clientID = id
		if !isUUIDShape(id) {
			// Azure's job ids are UUIDs: anything else cannot be one, and
			// asking both regions about it would only cost two calls.
			return c, notFound("The job id is not one this gateway issued.")
		}
		if err := p.resolveOwner(c); err != nil {
			return c, err
		}
		c.path = api.JobsPath + "/" + c.upstreamID
		if rt.Name == route.Cancel.Name {
			c.path += api.CancelSuffix
		}
	case route.Authoring.Name:
		c.owner = 0
		c.scope = region.ScopeOf(r.Method, true)
		if !cleanPath(r.URL.Path) {
			return c, notFound("The path is not an Azure Language path.")
		}
		c.path, c.rawPath = r.URL.Path, r.URL.RawPath
	default:
		return c, notFound("The path is not an Azure Language path this gateway serves.")
	}
	if !rt.Allows(r.Method) {
		return c, methodNotAllowed(rt.Methods[0])
	}
	if p.rescue != nil && (rt.Name == route.Job.Name || rt.Name == route.Cancel.Name) && !c.resolve {
		p.followRescue(r.Context(), c)
	}
	var err error
	if c.public, err = p.publicBase(r); err != nil {
		return c, err
	}
	c.publicHost = hostOf(c.public)
	return c, nil
}

// resolveOwner finds the region that owns c.clientID: the owner cache may
// know it (a passthrough id this replica handed out), a token names it,
// and otherwise the regions will be asked (c.resolve).
func (p *Proxy) resolveOwner(c *call) error {
	if idx, ok := p.owners.get(c.clientID, time.Now()); ok && idx < len(p.regions) {
		c.owner, c.upstreamID = idx, c.clientID
		return nil
	}
	up, idx, ok := decodeToken(c.clientID)
	if !ok && time.Now().Before(p.legacyTokensUntil) {
		up, idx, ok = legacyToken(c.clientID)
	}
	if ok {
		if idx >= len(p.regions) {
			return notFound("The job id does not name a region of this gateway.")
		}
		c.owner, c.upstreamID = idx, up
		return nil
	}
	c.upstreamID, c.resolve = c.clientID, true
	return nil
}

// outcomeOfLocal is the request outcome of an answer made without trying a
// region.
func outcomeOfLocal(err error) region.Outcome {
	switch {
	case errors.Is(err, errCanceled):
		return region.OutcomeCanceled
	case errors.Is(err, errOverBudget):
		return region.OutcomeOverloaded
	}
	return region.OutcomeClientError
}

func notFound(msg string) error {
	return &localError{status: http.StatusNotFound, code: api.CodeNotFound, msg: msg}
}

func methodNotAllowed(allow string) error {
	return &localError{status: http.StatusMethodNotAllowed, code: api.CodeInvalidRequest,
		msg: "The method is not allowed on this path; use " + allow + ".", allow: allow}
}

// cleanPath rejects dot segments, so an authoring path forwarded as is
// cannot climb out of /language/authoring/.
func cleanPath(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return !strings.ContainsAny(p, "\r\n\x00")
}

// publicBase is the gateway's base URL as this client sees it.
func (p *Proxy) publicBase(r *http.Request) (string, error) {
	if p.public != "" {
		return p.public, nil
	}
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if p.trustForwarded {
		if v := strings.ToLower(firstValue(r.Header.Get("X-Forwarded-Proto"))); v == "http" || v == "https" {
			scheme = v
		}
		if v := firstValue(r.Header.Get("X-Forwarded-Host")); v != "" && api.ValidHost(v) {
			host = v
		}
	}
	if !api.ValidHost(host) {
		return "", &localError{status: http.StatusBadRequest, code: api.CodeInvalidRequest, msg: "The request's Host header is missing or not a host name."}
	}
	return scheme + "://" + host, nil
}

// hostOf is the host[:port] of a base URL built by publicBase.
func hostOf(base string) string {
	_, rest, _ := strings.Cut(base, "://")
	host, _, _ := strings.Cut(rest, "/")
	return host
}

// firstValue is the first element of a comma-separated header: the one the
// client-facing proxy wrote.
func firstValue(v string) string {
	v, _, _ = strings.Cut(v, ",")
	return strings.TrimSpace(v)
}
