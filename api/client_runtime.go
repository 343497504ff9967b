package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// JobQuery are the optional parameters of a runtime job status call.
type JobQuery struct {
	// Top is the page size; zero leaves it to the service.
	Top int
	// Skip is how many results to skip; zero skips none.
	Skip int
	// ShowStats adds document and batch statistics.
	ShowStats bool
}

func (q JobQuery) values() url.Values {
	v := url.Values{}
	if q.Top > 0 {
		v.Set("top", strconv.Itoa(q.Top))
	}
	if q.Skip > 0 {
		v.Set("skip", strconv.Itoa(q.Skip))
	}
	if q.ShowStats {
		v.Set("showStats", "true")
	}
	return v
}

// SubmitJob submits an analyze-text job and returns the operation to poll
// (WaitJob, GetJobURL).
func (c *Client) SubmitJob(ctx context.Context, req SubmitRequest) (*Operation, error) {
	r, err := c.newRequest(http.MethodPost, JobsPath, c.runtime, nil, req)
	if err != nil {
		return nil, fmt.Errorf("submit job: %w", err)
	}
	op, err := c.startOperation(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("submit job: %w", err)
	}
	return op, nil
}

// GetJob reads a runtime job's state and results by id.
func (c *Client) GetJob(ctx context.Context, jobID string, q JobQuery) (*JobState, error) {
	r, err := c.newRequest(http.MethodGet, JobPath(jobID), c.runtime, q.values(), nil)
	if err != nil {
		return nil, fmt.Errorf("get job %q: %w", jobID, err)
	}
	var st JobState
	if _, err := c.getJSON(ctx, r, &st); err != nil {
		return nil, fmt.Errorf("get job %q: %w", jobID, err)
	}
	return &st, nil
}

// GetJobURL reads a runtime job through a URL the service handed out (an
// operation-location or a nextLink), used as given. The URL must be on the
// client's endpoint; an api-version is added only when it has none.
func (c *Client) GetJobURL(ctx context.Context, absoluteURL string) (*JobState, error) {
	r, err := c.absoluteRequest(absoluteURL, c.apiVersionFor(absoluteURL))
	if err != nil {
		return nil, fmt.Errorf("get job by URL: %w", err)
	}
	var st JobState
	if _, err := c.getJSON(ctx, r, &st); err != nil {
		return nil, fmt.Errorf("get job by URL: %w", err)
	}
	return &st, nil
}

// CancelJob asks the service to cancel a runtime job; the job then moves
// through cancelling to cancelled. The returned operation polls the job.
func (c *Client) CancelJob(ctx context.Context, jobID string) (*Operation, error) {
	r, err := c.newRequest(http.MethodPost, JobPath(jobID)+CancelSuffix, c.runtime, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("cancel job %q: %w", jobID, err)
	}
	op, err := c.startOperation(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("cancel job %q: %w", jobID, err)
	}
	return op, nil
}
