// Package route is the gateway's one route table. Dispatch (the proxy),
// span names (the server's tracing middleware) and metric and log labels
// all read it, so a route is named the same everywhere and nothing a client
// controls (a job id, a made-up path or method, the Host header) ever
// becomes a label or a span name. The listeners of package gateway mount
// the probes and the operations routes (Healthz ... AdminSync) from it too.
package route

import (
	"net/http"
	"net/url"
	"strings"

	"nergateway/api"
)

// Route is one entry of the table.
type Route struct {
	// Name labels the route in metrics and logs ("submit").
	Name string
	// Template is the path with its variables in braces, as span names and
	// http.route carry it ("/language/analyze-text/jobs/{jobId}").
	Template string
	// Methods are the methods the route serves; the first is the one an
	// Allow header names when another is used. Empty means any.
	Methods []string
}

// Allows reports whether the route serves method.
func (rt Route) Allows(method string) bool {
	if len(rt.Methods) == 0 {
		return true
	}
	for _, m := range rt.Methods {
		if m == method {
			return true
		}
	}
	return false
}

// The table.
var (
	Submit    = Route{Name: "submit", Template: api.JobsPath, Methods: []string{http.MethodPost}}
	Job       = Route{Name: "job", Template: api.JobsPath + "/{jobId}", Methods: []string{http.MethodGet}}
	Cancel    = Route{Name: "cancel", Template: api.JobsPath + "/{jobId}" + api.CancelSuffix, Methods: []string{http.MethodPost}}
	Analyze   = Route{Name: "analyze", Template: api.SyncAnalyzePath, Methods: []string{http.MethodPost}}
	Authoring = Route{Name: "authoring", Template: api.AuthoringPrefix + "..."}
	Healthz   = Route{Name: "healthz", Template: "/healthz", Methods: []string{http.MethodGet}}
	Readyz    = Route{Name: "readyz", Template: "/readyz", Methods: []string{http.MethodGet}}
	Status    = Route{Name: "status", Template: "/status", Methods: []string{http.MethodGet}}
	Metrics   = Route{Name: "metrics", Template: "/metrics", Methods: []string{http.MethodGet}}
	AdminSync = Route{Name: "admin_sync", Template: "/admin/replication/sync", Methods: []string{http.MethodPost}}
	// Unknown is every path the gateway does not serve.
	Unknown = Route{Name: "unknown", Template: "other"}
)

// exact are the routes matched by their whole path.
var exact = map[string]Route{
	Submit.Template: Submit, Analyze.Template: Analyze, Healthz.Template: Healthz, Readyz.Template: Readyz,
	Status.Template: Status, Metrics.Template: Metrics, AdminSync.Template: AdminSync,
}

// Match finds the route of a request path. For Job and Cancel it also
// returns the job id as the path holds it (not yet validated).
func Match(path string) (rt Route, jobID string) {
	if rt, ok := exact[path]; ok {
		return rt, ""
	}
	if rest, ok := strings.CutPrefix(path, api.JobsPath+"/"); ok {
		if id, cancel := strings.CutSuffix(rest, api.CancelSuffix); cancel {
			return Cancel, id
		}
		return Job, rest
	}
	if strings.HasPrefix(path, api.AuthoringPrefix) {
		return Authoring, ""
	}
	return Unknown, ""
}

// OneLeadingSlash returns r with the run of slashes its path starts with
// made one: Azure serves //language/... as /language/... (recorded: the
// Python azure-ai-textanalytics-authoring 1.0.0b1 async client sends
// //language/... when its endpoint ends in /, and Azure answers 202), so
// the gateway does too, on every route. r is returned as it is when its
// path starts with a single slash; otherwise a shallow copy with its own
// URL, as http.StripPrefix makes, is.
func OneLeadingSlash(r *http.Request) *http.Request {
	if !strings.HasPrefix(r.URL.Path, "//") {
		return r
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.URL = new(url.URL)
	*r2.URL = *r.URL
	r2.URL.Path = "/" + strings.TrimLeft(r.URL.Path, "/")
	if r.URL.RawPath != "" {
		r2.URL.RawPath = "/" + strings.TrimLeft(r.URL.RawPath, "/")
	}
	return r2
}

// Method is method if it is one of HTTP's registered methods, else
// "_OTHER" (OpenTelemetry's spelling), so a made-up method never becomes a
// span name or a label.
func Method(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "_OTHER"
}

// SpanName is the server span's name for a request: its method (or
// _OTHER) and its route template.
func SpanName(r *http.Request) string {
	rt, _ := Match(r.URL.Path)
	return Method(r.Method) + " " + rt.Template
}
