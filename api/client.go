package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"nergateway/internal/scrub"
	"nergateway/internal/secret"
	"nergateway/internal/sleep"
	"nergateway/internal/transport"
)

// Defaults of ClientOptions; each applies when its field is zero.
const (
	DefaultAuthoringAPIVersion = "2022-05-01"
	DefaultRuntimeAPIVersion   = "2023-04-01"
	DefaultPollInterval        = time.Second
	DefaultMaxPollInterval     = 30 * time.Second
	DefaultMax429Retries       = 5
)

const (
	// maxResponseBytes caps a success body. An exported project with the
	// documented maximum of 100,000 labelled documents stays well below it;
	// the cap only stops a broken upstream from exhausting memory.
	maxResponseBytes = 256 << 20
	// maxErrorBytes caps how much of an error body is read.
	maxErrorBytes = 64 << 10
	// snippetBytes is how much of a non-JSON error body goes into the
	// error message.
	snippetBytes = 200
	// maxListPages stops a list whose nextLinks never end.
	maxListPages = 1000
	// maxPollErrors is how many transient poll failures in a row (5xx,
	// connection errors) the poller rides out before it gives up: a
	// training run takes minutes and one blip must not abandon it.
	maxPollErrors = 3

	userAgent = "nergateway-api-client"
)

// ClientOptions tune a Client. The zero value is usable: every field has a
// default that fits Azure's documented behaviour.
type ClientOptions struct {
	// HTTPClient sends the requests. Nil means a client with connection,
	// TLS, header and overall timeouts. Whatever client is given, redirects
	// to another origin are refused, because Go forwards custom headers
	// (the subscription key) across hosts.
	HTTPClient *http.Client
	// AuthoringAPIVersion is sent on authoring calls; empty means
	// DefaultAuthoringAPIVersion.
	AuthoringAPIVersion string
	// RuntimeAPIVersion is sent on runtime calls; empty means
	// DefaultRuntimeAPIVersion.
	RuntimeAPIVersion string
	// PollInterval is the first delay between polls when the server sends no
	// Retry-After; it doubles after each poll up to MaxPollInterval. Zero
	// means DefaultPollInterval.
	PollInterval time.Duration
	// MaxPollInterval caps every wait, whether the server asked for it with
	// Retry-After or the poller backed off. Zero means DefaultMaxPollInterval.
	MaxPollInterval time.Duration
	// Authorizer, if set, puts the region's credentials on each request
	// (a Microsoft Entra ID bearer token) instead of the key, which may
	// then be empty.
	Authorizer Authorizer
	// Max429Retries is how many times a 429 that carries Retry-After is
	// waited out and sent again before its error is returned. Zero means
	// DefaultMax429Retries; a negative value disables the retries. A 429
	// without Retry-After is never retried (Azure's SDKs do the same).
	Max429Retries int
}

// Authorizer sets a region's credentials on an outgoing request.
type Authorizer interface {
	Authorize(*http.Request) error
}

// Client is a typed client for one region's Azure AI Language resource: the
// custom NER runtime and the authoring calls that replication and health
// probes need. It is safe for concurrent use; it holds no mutable state.
//
// Every request carries the resource key and an api-version. The key is only
// ever sent to the endpoint's own origin: absolute URLs taken from answers
// (operation-location, nextLink, resultUrl) on another origin are refused.
type Client struct {
	endpoint  string   // scheme://host[/base], no trailing slash
	origin    *url.URL // scheme and host, for the same-origin check
	key       secret.Secret
	auth      Authorizer // nil: the key
	http      *http.Client
	authoring string
	runtime   string

	pollInterval    time.Duration
	maxPollInterval time.Duration
	max429Retries   int

	// sleep waits d or until ctx ends; tests replace it so Retry-After
	// handling runs without real waits.
	sleep func(ctx context.Context, d time.Duration) error
}

// NewClient returns a client for the resource at endpoint (an absolute
// http or https URL such as https://<resource>.cognitiveservices.azure.com) that
// authenticates with key.
func NewClient(endpoint string, key secret.Secret, opts ClientOptions) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	if err != nil {
		return nil, errors.New("api client: endpoint is not a valid URL")
	}
	if err := CheckEndpoint(u); err != nil {
		return nil, fmt.Errorf("api client: endpoint %w", err)
	}
	if key.Reveal() == "" && opts.Authorizer == nil {
		return nil, errors.New("api client: key is empty")
	}
	c := &Client{
		endpoint:        u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"),
		origin:          &url.URL{Scheme: u.Scheme, Host: u.Host},
		key:             key,
		auth:            opts.Authorizer,
		authoring:       cmp.Or(opts.AuthoringAPIVersion, DefaultAuthoringAPIVersion),
		runtime:         cmp.Or(opts.RuntimeAPIVersion, DefaultRuntimeAPIVersion),
		pollInterval:    cmp.Or(opts.PollInterval, DefaultPollInterval),
		maxPollInterval: cmp.Or(opts.MaxPollInterval, DefaultMaxPollInterval),
		max429Retries:   opts.Max429Retries,
		sleep:           sleep.For,
	}
	switch {
	case c.max429Retries == 0:
		c.max429Retries = DefaultMax429Retries
	case c.max429Retries < 0:
		c.max429Retries = 0
	}
	if c.pollInterval < 0 || c.maxPollInterval < 0 {
		return nil, errors.New("api client: poll intervals must not be negative")
	}
	if c.pollInterval > c.maxPollInterval {
		c.pollInterval = c.maxPollInterval
	}
	c.http = c.guardRedirects(opts.HTTPClient)
	return c, nil
}

// defaultHTTPClient is for a client given no HTTPClient: the regions' pool
// (internal/transport, one set of defaults for every caller), each request
// bounded.
func defaultHTTPClient() *http.Client {
	t, _ := transport.New("") // it fails only reading a CA file
	return &http.Client{Transport: t, Timeout: 5 * time.Minute}
}

// guardRedirects returns a copy of hc (or a default client) that refuses
// redirects leaving the endpoint's origin, then applies hc's own policy.
func (c *Client) guardRedirects(hc *http.Client) *http.Client {
	if hc == nil {
		hc = defaultHTTPClient()
	}
	cp := *hc
	inner := hc.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !c.sameOrigin(req.URL) {
			return errors.New("redirect to another origin refused: it would carry the subscription key")
		}
		if inner != nil {
			return inner(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cp
}

// String keeps the client's key (and the region's hostname) out of fmt and
// slog output: fmt does not call Secret.String on an unexported field, so
// printing the struct would show the key.
func (c *Client) String() string { return "api.Client{" + secret.Redacted + "}" }

// GoString does for %#v what String does for %v.
func (c *Client) GoString() string { return c.String() }

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// sameOrigin reports whether u has the endpoint's scheme, host and port.
func (c *Client) sameOrigin(u *url.URL) bool {
	if !strings.EqualFold(u.Scheme, c.origin.Scheme) {
		return false
	}
	port := func(u *url.URL) string { return cmp.Or(u.Port(), defaultPort(strings.ToLower(u.Scheme))) }
	return strings.EqualFold(u.Hostname(), c.origin.Hostname()) && port(u) == port(c.origin)
}

// request is one call, kept in a form that can be sent again (429 retries).
type request struct {
	method string
	url    string
	body   []byte // nil: no body
}

// newRequest builds a call to path (already escaped, from paths.go) with
// the query q plus api-version.
func (c *Client) newRequest(method, path, apiVersion string, q url.Values, body any) (request, error) {
	if q == nil {
		q = url.Values{}
	}
	q.Set("api-version", apiVersion)
	r := request{method: method, url: c.endpoint + path + "?" + q.Encode()}
	if raw, ok := body.(rawBody); ok {
		r.body = raw
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return request{}, fmt.Errorf("encode request body: %w", err)
		}
		r.body = b
	}
	return r, nil
}

// rawBody is a request body sent as it is: json.Marshal would compact it.
type rawBody []byte

// absoluteRequest builds a GET of a URL taken from an answer
// (operation-location, nextLink, resultUrl). It is used as given, except
// that an api-version is added when the URL has none (one spec example
// omits it, and Azure requires it). A URL on another origin is refused so
// the key never goes anywhere but the endpoint.
func (c *Client) absoluteRequest(raw, apiVersion string) (request, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return request{}, errors.New("not an absolute URL")
	}
	if !c.sameOrigin(u) {
		return request{}, errors.New("URL is not on the client's endpoint; refusing to send the key there")
	}
	if !u.Query().Has("api-version") {
		q := u.Query()
		q.Set("api-version", apiVersion)
		u.RawQuery = q.Encode()
	}
	u.Fragment = ""
	return request{method: http.MethodGet, url: u.String()}, nil
}

// apiVersionFor picks the api-version for an absolute URL without one.
func (c *Client) apiVersionFor(raw string) string {
	if u, err := url.Parse(raw); err == nil && strings.HasPrefix(u.Path, strings.TrimSuffix(AuthoringPrefix, "/")) {
		return c.authoring
	}
	return c.runtime
}

// do sends r, waiting out 429 answers that carry Retry-After. It returns
// the response of a 2xx answer with its body unread (the caller closes it)
// and an *Error for any other status.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := c.send(ctx, r)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return resp, nil
		}
		apiErr := c.readError(resp)
		wait, ok := RetryAfter(resp.Header, time.Now(), c.maxPollInterval)
		if resp.StatusCode != http.StatusTooManyRequests || !ok || attempt >= c.max429Retries {
			return nil, apiErr
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("waiting out 429 (%w): %w", apiErr, err)
		}
	}
}

// send performs one HTTP exchange of r.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if c.auth != nil {
		if err := c.auth.Authorize(req); err != nil {
			return nil, fmt.Errorf("authorize: %w", err)
		}
	} else {
		req.Header.Set(SubscriptionKeyHeader, c.key.Reveal())
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// Go's client names the host in its errors; the region's hostname
		// never leaves the gateway.
		return nil, scrub.Err(err)
	}
	return resp, nil
}

// readError turns a non-2xx answer into an *Error and closes its body. A
// body that is not Azure's error envelope still yields an *Error with the
// status and a short snippet, and the key is scrubbed from any text taken
// from the body (a misbehaving proxy might echo request headers).
func (c *Client) readError(resp *http.Response) *Error {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	e := &Error{StatusCode: resp.StatusCode}
	var env ErrorResponse
	if json.Unmarshal(b, &env) == nil && (env.Error.Code != "" || env.Error.Message != "") {
		*e = env.Error
		e.StatusCode = resp.StatusCode
	} else {
		e.Code = resp.Header.Get("x-ms-error-code")
		if e.Code == "" {
			e.Code = strconv.Itoa(resp.StatusCode)
		}
		snippet := strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
		if len(snippet) > snippetBytes {
			snippet = strings.ToValidUTF8(snippet[:snippetBytes], "") + "..."
		}
		e.Message = http.StatusText(resp.StatusCode)
		if snippet != "" {
			e.Message += ": unexpected body: " + strconv.Quote(snippet)
		}
	}
	c.scrub(e)
	return e
}

// scrub removes the key from every text of e.
func (c *Client) scrub(e *Error) {
	k := c.key.Reveal()
	if k == "" {
		return
	}
	r := strings.NewReplacer(k, secret.Redacted)
	e.Code, e.Message, e.Target = r.Replace(e.Code), r.Replace(e.Message), r.Replace(e.Target)
	for i := range e.Details {
		c.scrub(&e.Details[i])
	}
	for in := e.InnerError; in != nil; in = in.InnerError {
		in.Code, in.Message, in.Target = r.Replace(in.Code), r.Replace(in.Message), r.Replace(in.Target)
		for k2, v := range in.Details {
			in.Details[k2] = r.Replace(v)
		}
	}
}

// getJSON sends r and decodes a 2xx body into out.
func (c *Client) getJSON(ctx context.Context, r request, out any) (http.Header, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
	}()
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponseBytes)).Decode(out); err != nil {
		return nil, fmt.Errorf("decode %d response: %w", resp.StatusCode, err)
	}
	return resp.Header, nil
}

// getBytes sends r and returns a 2xx body whole; a body longer than
// maxResponseBytes is an error rather than a truncated value.
func (c *Client) getBytes(ctx context.Context, r request) ([]byte, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %d response: %w", resp.StatusCode, err)
	}
	if len(b) > maxResponseBytes {
		return nil, fmt.Errorf("%d response is larger than %d bytes", resp.StatusCode, maxResponseBytes)
	}
	return b, nil
}

// Operation is a started long-running operation: the URL to poll, taken
// as given from the 202's operation-location, the job id (its last path
// segment) and the Retry-After the 202 carried, if any.
type Operation struct {
	URL        string
	JobID      string
	RetryAfter time.Duration
}

// startOperation sends r and reads the operation from the 2xx answer. A
// 2xx without operation-location is an error: there would be nothing to
// poll for the result.
func (c *Client) startOperation(ctx context.Context, r request) (*Operation, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBytes))
	resp.Body.Close()
	loc := resp.Header.Get(OperationLocationHeader)
	if loc == "" {
		return nil, fmt.Errorf("status %d without operation-location", resp.StatusCode)
	}
	op, err := parseOperation(loc)
	if err != nil {
		return nil, err
	}
	if d, ok := RetryAfter(resp.Header, time.Now(), c.maxPollInterval); ok {
		op.RetryAfter = d
	}
	return op, nil
}

func parseOperation(loc string) (*Operation, error) {
	u, err := url.Parse(loc)
	if err != nil || !u.IsAbs() {
		return nil, errors.New("operation-location is not an absolute URL")
	}
	seg := u.Path[strings.LastIndex(u.Path, "/")+1:]
	if seg == "" {
		return nil, errors.New("operation-location has no job id")
	}
	return &Operation{URL: loc, JobID: seg}, nil
}

// IsNotFound reports whether err is (or wraps) an Azure 404: an unknown
// project, deployment, model or job.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// JobFailedError is what waiting returns for a job that ended failed,
// cancelled (or, for authoring jobs, in any terminal status but
// succeeded). Errors are the job's own errors; Unwrap yields the first, so
// errors.As(err, &apiErr) gives Azure's code.
type JobFailedError struct {
	JobID  string
	Status string
	Errors []Error
}

// Error names the job, its final status and the codes and messages of its
// errors (never their targets or details, which can quote request data).
func (e *JobFailedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "job %s ended %s", e.JobID, e.Status)
	for i := range e.Errors {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(e.Errors[i].Code + ": " + e.Errors[i].Message)
	}
	return b.String()
}

// Unwrap returns the job's first error, or nil when it reported none.
func (e *JobFailedError) Unwrap() error {
	if len(e.Errors) == 0 {
		return nil
	}
	return &e.Errors[0]
}
