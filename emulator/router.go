package emulator

import (
	"net/http"
	"net/url"
	"strings"
)

// route is one Azure call the emulator serves. Its name is what Calls and
// Fault.Routes use.
type route struct {
	name    string
	method  string
	pattern []segment
	handle  func(*call) reply
}

// segment of a route pattern: a literal, or a {variable} optionally
// followed by a literal suffix, as in "{jobId}:cancel".
type segment struct {
	literal string
	varName string
	suffix  string
}

func parsePattern(p string) []segment {
	var segs []segment
	for _, s := range strings.Split(strings.Trim(p, "/"), "/") {
		if strings.HasPrefix(s, "{") {
			end := strings.Index(s, "}")
			segs = append(segs, segment{varName: s[1:end], suffix: s[end+1:]})
			continue
		}
		segs = append(segs, segment{literal: s})
	}
	return segs
}

func (rt route) match(path []string) (map[string]string, bool) {
	if len(path) != len(rt.pattern) {
		return nil, false
	}
	var vars map[string]string
	for i, seg := range rt.pattern {
		p := path[i]
		if seg.varName == "" {
			if p != seg.literal {
				return nil, false
			}
			continue
		}
		if !strings.HasSuffix(p, seg.suffix) || len(p) == len(seg.suffix) {
			return nil, false
		}
		if vars == nil {
			vars = map[string]string{}
		}
		vars[seg.varName] = strings.TrimSuffix(p, seg.suffix)
	}
	return vars, true
}

// routeUnknown is the Calls name of requests that match no route.
const routeUnknown = "unknown"

// addRoutes lists the whole Azure surface the emulator serves. Order
// matters where patterns overlap: specific ones ("global", "swap",
// "{jobId}:cancel") come first.
func (e *Emulator) addRoutes() []route {
	const (
		jobs = "/language/analyze-text/jobs"
		a    = "/language/authoring/analyze-text/projects"
		p    = a + "/{project}"
	)
	table := []struct {
		name, method, pattern string
		handle                func(*call) reply
	}{
		// Runtime (reference 1.1-1.4).
		{"submit", http.MethodPost, jobs, e.handleSubmit},
		{"cancel", http.MethodPost, jobs + "/{jobId}:cancel", e.handleCancel},
		{"job", http.MethodGet, jobs + "/{jobId}", e.handleJob},
		{"analyze", http.MethodPost, "/language/:analyze-text", e.handleAnalyze},

		// Authoring (reference section 2).
		{"listProjects", http.MethodGet, a, e.handleListProjects},
		{"trainingConfigVersions", http.MethodGet, a + "/global/training-config-versions", e.handleTrainingConfigVersions},
		{"deletionJob", http.MethodGet, a + "/global/deletion-jobs/{jobId}", e.handleAuthJob(jobDeletion)},
		{"getProject", http.MethodGet, p, e.handleGetProject},
		{"patchProject", http.MethodPatch, p, e.handlePatchProject},
		{"deleteProject", http.MethodDelete, p, e.handleDeleteProject},
		{"export", http.MethodPost, p + "/:export", e.handleExport},
		{"exportJob", http.MethodGet, p + "/export/jobs/{jobId}", e.handleAuthJob(jobExport)},
		{"exportResult", http.MethodGet, p + "/export/jobs/{jobId}/result", e.handleExportResult},
		{"import", http.MethodPost, p + "/:import", e.handleImport},
		{"importJob", http.MethodGet, p + "/import/jobs/{jobId}", e.handleAuthJob(jobImport)},
		{"train", http.MethodPost, p + "/:train", e.handleTrain},
		{"listTrainJobs", http.MethodGet, p + "/train/jobs", e.handleListTrainJobs},
		{"trainJob", http.MethodGet, p + "/train/jobs/{jobId}", e.handleAuthJob(jobTrain)},
		{"cancelTrainJob", http.MethodPost, p + "/train/jobs/{jobId}/:cancel", e.handleCancelTrainJob},
		{"listDeployments", http.MethodGet, p + "/deployments", e.handleListDeployments},
		{"swap", http.MethodPost, p + "/deployments/:swap", e.handleSwap},
		{"swapJob", http.MethodGet, p + "/deployments/swap/jobs/{jobId}", e.handleAuthJob(jobSwap)},
		{"getDeployment", http.MethodGet, p + "/deployments/{deployment}", e.handleGetDeployment},
		{"deploy", http.MethodPut, p + "/deployments/{deployment}", e.handleDeploy},
		{"deleteDeployment", http.MethodDelete, p + "/deployments/{deployment}", e.handleDeleteDeployment},
		{"deployJob", http.MethodGet, p + "/deployments/{deployment}/jobs/{jobId}", e.handleAuthJob(jobDeploy)},
		{"listModels", http.MethodGet, p + "/models", e.handleListModels},
		{"getModel", http.MethodGet, p + "/models/{model}", e.handleGetModel},
		{"deleteModel", http.MethodDelete, p + "/models/{model}", e.handleDeleteModel},
		{"evaluationSummary", http.MethodGet, p + "/models/{model}/evaluation/summary-result", e.handleEvaluationSummary},
		{"evaluationResult", http.MethodGet, p + "/models/{model}/evaluation/result", e.handleEvaluationResult},
		{"loadSnapshot", http.MethodPost, p + "/models/{model}/:load-snapshot", e.handleLoadSnapshot},
		{"loadSnapshotJob", http.MethodGet, p + "/models/{model}/load-snapshot/jobs/{jobId}", e.handleAuthJob(jobLoadSnapshot)},
	}
	routes := make([]route, 0, len(table))
	for _, t := range table {
		routes = append(routes, route{name: t.name, method: t.method, pattern: parsePattern(t.pattern), handle: t.handle})
	}
	return routes
}

// RouteNames lists the names Calls and Fault.Routes understand, in the
// order the emulator matches them, followed by "unknown" (requests that
// match no route).
func (e *Emulator) RouteNames() []string {
	names := make([]string, 0, len(e.routes)+1)
	for _, rt := range e.routes {
		names = append(names, rt.name)
	}
	return append(names, routeUnknown)
}

// findRoute returns the route of r and its path variables; ok is false
// when no route has both r's path and method (Azure's front door answers
// 404 to both).
func (e *Emulator) findRoute(r *http.Request) (rt route, vars map[string]string, ok bool) {
	path := splitPath(r.URL)
	for _, rt := range e.routes {
		if rt.method != r.Method {
			continue
		}
		if vars, ok := rt.match(path); ok {
			return rt, vars, true
		}
	}
	return route{name: routeUnknown}, nil, false
}

// splitPath splits the escaped path and unescapes each segment, so an
// escaped "/" inside a name cannot change the route.
func splitPath(u *url.URL) []string {
	parts := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	for i, s := range parts {
		if v, err := url.PathUnescape(s); err == nil {
			parts[i] = v
		}
	}
	return parts
}

// isAuthoringPost reports whether rt counts against Azure's authoring POST
// rate limit.
func isAuthoringPost(rt route) bool {
	if rt.method != http.MethodPost {
		return false
	}
	return len(rt.pattern) > 2 && rt.pattern[1].literal == "authoring"
}
