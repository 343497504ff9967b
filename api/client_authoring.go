package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// list GETs path and follows nextLink until the list ends.
func list[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	r, err := c.newRequest(http.MethodGet, path, c.authoring, nil, nil)
	if err != nil {
		return nil, err
	}
	var all []T
	seen := map[string]bool{}
	for range maxListPages {
		var p Page[T]
		if _, err := c.getJSON(ctx, r, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Value...)
		if p.NextLink == "" {
			return all, nil
		}
		if seen[p.NextLink] {
			return nil, errors.New("nextLink repeats an earlier page")
		}
		seen[p.NextLink] = true
		if r, err = c.absoluteRequest(p.NextLink, c.authoring); err != nil {
			return nil, fmt.Errorf("nextLink: %w", err)
		}
	}
	return nil, fmt.Errorf("more than %d pages", maxListPages)
}

// get GETs path and decodes it into a new T.
func get[T any](ctx context.Context, c *Client, path string) (*T, error) {
	r, err := c.newRequest(http.MethodGet, path, c.authoring, nil, nil)
	if err != nil {
		return nil, err
	}
	v := new(T)
	if _, err := c.getJSON(ctx, r, v); err != nil {
		return nil, err
	}
	return v, nil
}

// start sends an authoring call that answers 202 with operation-location.
func (c *Client) start(ctx context.Context, method, path string, q url.Values, body any) (*Operation, error) {
	r, err := c.newRequest(method, path, c.authoring, q, body)
	if err != nil {
		return nil, err
	}
	return c.startOperation(ctx, r)
}

// Probe checks that the region serves authoring calls with this key: one
// GET of the project list with top=1, the call docs/DESIGN.md names for health
// probes. Unlike other calls it does not wait out a 429, so a probe reports
// at once and the caller decides (park the region, count a failure). It
// returns nil for 200 and an *Error for any other status.
func (c *Client) Probe(ctx context.Context) error {
	r, err := c.newRequest(http.MethodGet, AuthoringProjectsPath, c.authoring, url.Values{"top": {"1"}}, nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe: %w", c.readError(resp))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return nil
}

// ListProjects lists every authoring project of the resource, following
// nextLink across pages.
func (c *Client) ListProjects(ctx context.Context) ([]Project, error) {
	ps, err := list[Project](ctx, c, AuthoringProjectsPath)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return ps, nil
}

// GetProject reads one project; its lastModifiedDateTime is what the sync
// check compares. IsNotFound tells a missing project.
func (c *Client) GetProject(ctx context.Context, name string) (*Project, error) {
	p, err := get[Project](ctx, c, ProjectPath(name))
	if err != nil {
		return nil, fmt.Errorf("get project %q: %w", name, err)
	}
	return p, nil
}

// ListDeployments lists a project's deployments across pages.
func (c *Client) ListDeployments(ctx context.Context, project string) ([]Deployment, error) {
	ds, err := list[Deployment](ctx, c, ProjectPath(project)+"/deployments")
	if err != nil {
		return nil, fmt.Errorf("list deployments of project %q: %w", project, err)
	}
	return ds, nil
}

// GetDeployment reads one deployment. It names the modelId, not the
// trained model label; find the label with ListModels.
func (c *Client) GetDeployment(ctx context.Context, project, deployment string) (*Deployment, error) {
	d, err := get[Deployment](ctx, c, DeploymentPath(project, deployment))
	if err != nil {
		return nil, fmt.Errorf("get deployment %q of project %q: %w", deployment, project, err)
	}
	return d, nil
}

// ListModels lists a project's trained models across pages.
func (c *Client) ListModels(ctx context.Context, project string) ([]TrainedModel, error) {
	ms, err := list[TrainedModel](ctx, c, ProjectPath(project)+"/models")
	if err != nil {
		return nil, fmt.Errorf("list models of project %q: %w", project, err)
	}
	return ms, nil
}

// GetModel reads one trained model by label.
func (c *Client) GetModel(ctx context.Context, project, label string) (*TrainedModel, error) {
	m, err := get[TrainedModel](ctx, c, ProjectPath(project)+"/models/"+url.PathEscape(label))
	if err != nil {
		return nil, fmt.Errorf("get model %q of project %q: %w", label, project, err)
	}
	return m, nil
}

// Export starts exporting a project with UTF-16 offsets, the only string
// index type import accepts. Wait for it, then read the job's ResultURL
// with ExportResult.
func (c *Client) Export(ctx context.Context, project string) (*Operation, error) {
	q := url.Values{"stringIndexType": {StringIndexUTF16}}
	op, err := c.start(ctx, http.MethodPost, ProjectPath(project)+"/:export", q, nil)
	if err != nil {
		return nil, fmt.Errorf("export project %q: %w", project, err)
	}
	return op, nil
}

// ExportResult downloads the exported project from a succeeded export
// job's resultUrl and decodes it. Unknown members at every level are kept,
// but encoding it again is not byte for byte (member order, members the
// types declare and the file lacks); to carry a project elsewhere, use
// ExportFile and ImportFile.
func (c *Client) ExportResult(ctx context.Context, resultURL string) (*ExportedProject, error) {
	b, err := c.ExportFile(ctx, resultURL)
	if err != nil {
		return nil, err
	}
	var p ExportedProject
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("get export result: decode: %w", err)
	}
	return &p, nil
}

// ExportFile downloads the exported project from a succeeded export job's
// resultUrl as Azure sent it, byte for byte, so it can be imported
// elsewhere with only the members that must change rewritten. The body
// must be one JSON value of at most maxResponseBytes.
func (c *Client) ExportFile(ctx context.Context, resultURL string) ([]byte, error) {
	r, err := c.absoluteRequest(resultURL, c.authoring)
	if err != nil {
		return nil, fmt.Errorf("get export result: %w", err)
	}
	b, err := c.getBytes(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("get export result: %w", err)
	}
	if !json.Valid(b) {
		return nil, errors.New("get export result: the body is not JSON")
	}
	return b, nil
}

// Import starts importing p as project, replacing a project of that name.
// The caller sets p.Metadata.ProjectName and StorageInputContainerName for
// the target resource; Import sends p as it encodes.
func (c *Client) Import(ctx context.Context, project string, p ExportedProject) (*Operation, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("import project %q: encode: %w", project, err)
	}
	return c.ImportFile(ctx, project, b)
}

// ImportFile starts importing the project file (an export's body, already
// renamed for the target resource) as project, sending its bytes as they
// are.
func (c *Client) ImportFile(ctx context.Context, project string, file []byte) (*Operation, error) {
	op, err := c.start(ctx, http.MethodPost, ProjectPath(project)+"/:import", nil, rawBody(file))
	if err != nil {
		return nil, fmt.Errorf("import project %q: %w", project, err)
	}
	return op, nil
}

// Train starts training a model of project.
func (c *Client) Train(ctx context.Context, project string, r TrainRequest) (*Operation, error) {
	op, err := c.start(ctx, http.MethodPost, ProjectPath(project)+"/:train", nil, r)
	if err != nil {
		return nil, fmt.Errorf("train project %q model %q: %w", project, r.ModelLabel, err)
	}
	return op, nil
}

// Deploy starts deploying a trained model as deployment (created or
// replaced).
func (c *Client) Deploy(ctx context.Context, project, deployment string, r DeployRequest) (*Operation, error) {
	op, err := c.start(ctx, http.MethodPut, DeploymentPath(project, deployment), nil, r)
	if err != nil {
		return nil, fmt.Errorf("deploy model %q as %q in project %q: %w", r.TrainedModelLabel, deployment, project, err)
	}
	return op, nil
}
