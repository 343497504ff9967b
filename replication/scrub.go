package replication

import (
	"context"

	"nergateway/api"
	hostscrub "nergateway/internal/scrub"
)

// Every error from a region passes through the shared scrubber
// (internal/scrub) on its way into the worker, so whatever the worker
// records or returns is already clean; errors.Is and errors.As still see
// the original chain.
func scrub(err error) error { return hostscrub.Err(err) }

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

func (s scrubbing) ExportFile(ctx context.Context, resultURL string) ([]byte, error) {
	v, err := s.r.ExportFile(ctx, resultURL)
	return v, scrub(err)
}

func (s scrubbing) ImportFile(ctx context.Context, project string, file []byte) (*api.Operation, error) {
	v, err := s.r.ImportFile(ctx, project, file)
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
