package api

import "net/url"

// Paths of the calls this product uses, relative to a region's endpoint.
// Authoring paths append to AuthoringProjectsPath.
const (
	// SubscriptionKeyHeader carries a region's (or the gateway's) key.
	SubscriptionKeyHeader = "Ocp-Apim-Subscription-Key"
	// OperationLocationHeader points at a long-running operation.
	OperationLocationHeader = "Operation-Location"
	// RequestIDHeader is Azure's per-request correlation id (apim-request-id
	// on the wire), spelled in Go's canonical form: http.Header looks a
	// canonical key up as is, and would otherwise build the canonical
	// string on every call.
	RequestIDHeader = "Apim-Request-Id"

	JobsPath              = "/language/analyze-text/jobs"
	SyncAnalyzePath       = "/language/:analyze-text"
	AuthoringPrefix       = "/language/authoring/analyze-text/"
	AuthoringProjectsPath = "/language/authoring/analyze-text/projects"

	// CancelSuffix ends a runtime cancel path: JobsPath/{id}:cancel.
	CancelSuffix = ":cancel"
)

// JobPath is the runtime status path of job id.
func JobPath(id string) string { return JobsPath + "/" + url.PathEscape(id) }

// ProjectPath is the authoring path of project p.
func ProjectPath(p string) string { return AuthoringProjectsPath + "/" + url.PathEscape(p) }

// DeploymentPath is the authoring path of deployment d of project p.
func DeploymentPath(p, d string) string {
	return ProjectPath(p) + "/deployments/" + url.PathEscape(d)
}
