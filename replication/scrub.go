package replication

import (
	"context"
	"net/url"
	"regexp"

	"nergateway/api"
)

// Region hostnames must not reach /status, logs or spans (docs/DESIGN.md), but
// the errors of Go's HTTP client name them: `Get "https://host/...": dial
// tcp 10.0.0.7:443: connect: connection refused`. Every error from a region
// passes through scrubbing on its way into the worker, so whatever the
// worker records or returns is already clean; errors.Is and errors.As still
// see the original chain.
var (
	// urlPattern finds absolute URLs; they are cut down to their path.
	urlPattern = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)
	// addrPattern finds host:port with a dotted or bracketed host (IPs,
	// DNS names) and localhost; times such as 03:48:53 have no dot before
	// their colons and stay.
	addrPattern = regexp.MustCompile(`(?:\[[0-9A-Fa-f:.%]+\]|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|localhost):\d{1,5}\b`)
	// lookupPattern finds the host of a failed DNS lookup.
	lookupPattern = regexp.MustCompile(`lookup [^\s:]+`)
)

const redactedHost = "[region]"

// scrubText removes URLs' hosts, addresses and looked-up names from s.
func scrubText(s string) string {
	s = urlPattern.ReplaceAllStringFunc(s, func(raw string) string {
		if u, err := url.Parse(raw); err == nil && u.Path != "" {
			return u.Path
		}
		return redactedHost
	})
	s = addrPattern.ReplaceAllString(s, redactedHost)
	return lookupPattern.ReplaceAllString(s, "lookup "+redactedHost)
}

// scrubbedError is an error whose text was scrubbed; it unwraps to the
// original.
type scrubbedError struct {
	err  error
	text string
}

func (e *scrubbedError) Error() string { return e.text }
func (e *scrubbedError) Unwrap() error { return e.err }

func scrub(err error) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{err: err, text: scrubText(err.Error())}
}

// scrubbing wraps a region so every error it returns is scrubbed.
type scrubbing struct{ r Authoring }

func (s scrubbing) GetProject(ctx context.Context, name string) (*api.Project, error) {
	v, err := s.r.GetProject(ctx, name)
	return v, scrub(err)
}

func (s scrubbing) ListDeployments(ctx context.Context, project string) ([]api.Deployment, error) {
	v, err := s.r.ListDeployments(ctx, project)
	return v, scrub(err)
}

func (s scrubbing) ListModels(ctx context.Context, project string) ([]api.TrainedModel, error) {
	v, err := s.r.ListModels(ctx, project)
	return v, scrub(err)
}

func (s scrubbing) Export(ctx context.Context, project string) (*api.Operation, error) {
	v, err := s.r.Export(ctx, project)
	return v, scrub(err)
}

func (s scrubbing) ExportResult(ctx context.Context, resultURL string) (*api.ExportedProject, error) {
	v, err := s.r.ExportResult(ctx, resultURL)
	return v, scrub(err)
}

func (s scrubbing) Import(ctx context.Context, project string, p api.ExportedProject) (*api.Operation, error) {
	v, err := s.r.Import(ctx, project, p)
	return v, scrub(err)
}

func (s scrubbing) Train(ctx context.Context, project string, r api.TrainRequest) (*api.Operation, error) {
	v, err := s.r.Train(ctx, project, r)
	return v, scrub(err)
}

func (s scrubbing) Deploy(ctx context.Context, project, deployment string, r api.DeployRequest) (*api.Operation, error) {
	v, err := s.r.Deploy(ctx, project, deployment, r)
	return v, scrub(err)
}

func (s scrubbing) Wait(ctx context.Context, op *api.Operation, onPoll func(*api.AuthoringJob)) (*api.AuthoringJob, error) {
	v, err := s.r.Wait(ctx, op, onPoll)
	return v, scrub(err)
}
