package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Wait polls an authoring operation (export, import, train, deploy) until
// it ends. It is the one poller of the package: it follows op.URL as given,
// waits what Retry-After asks (capped at MaxPollInterval) or else backs off
// from PollInterval, rides out a few transient poll failures in a row, and
// calls onPoll (if not nil) with every job state it reads, so a caller can
// record the job id and status as they change.
//
// It returns the final job and a nil error only for succeeded. For failed,
// cancelled and partiallyCompleted (or partiallySucceeded) it returns the final job together with a
// *JobFailedError carrying the job's errors: replication needs the whole
// operation done, and the job is still there for its warnings. When ctx
// ends it returns the last job read (possibly nil) and ctx's error,
// wrapped. A job in a status this package does not know keeps being polled,
// so give ctx a deadline.
func (c *Client) Wait(ctx context.Context, op *Operation, onPoll func(*AuthoringJob)) (*AuthoringJob, error) {
	job, err := poll(ctx, c, op, c.authoring, func(j *AuthoringJob) string { return j.Status }, onPoll)
	if err != nil {
		return job, err
	}
	if job.Status == StatusSucceeded {
		return job, nil
	}
	return job, c.jobFailed(op, job.JobID, job.Status, job.Errors)
}

// WaitJob polls a runtime analyze-text job until it ends and returns its
// first page of results (follow NextLink with GetJobURL for more).
//
// succeeded, partiallyCompleted and partiallySucceeded return the state
// and a nil error: results are readable, and per-task and per-document
// failures are inside them. failed and cancelled return the state together with a
// *JobFailedError carrying the job's errors, so callers branch with
// errors.As as they do for authoring jobs. Polling behaves as in Wait.
func (c *Client) WaitJob(ctx context.Context, op *Operation) (*JobState, error) {
	job, err := poll(ctx, c, op, c.runtime, func(j *JobState) string { return j.Status }, nil)
	if err != nil {
		return job, err
	}
	switch job.Status {
	case StatusFailed, StatusCancelled:
		return job, c.jobFailed(op, job.JobID, job.Status, job.Errors)
	}
	return job, nil
}

func (c *Client) jobFailed(op *Operation, jobID, status string, errs []Error) *JobFailedError {
	if jobID == "" {
		jobID = op.JobID
	}
	e := &JobFailedError{JobID: jobID, Status: status, Errors: append([]Error(nil), errs...)}
	for i := range e.Errors {
		c.scrub(&e.Errors[i])
	}
	return e
}

// poll GETs op.URL until status(job) is Terminal, ctx ends, or a
// non-transient error occurs.
func poll[T any](ctx context.Context, c *Client, op *Operation, apiVersion string, status func(*T) string, onPoll func(*T)) (*T, error) {
	if op == nil || op.URL == "" {
		return nil, errors.New("wait: no operation to poll")
	}
	jobID := op.JobID
	r, err := c.absoluteRequest(op.URL, apiVersion)
	if err != nil {
		return nil, fmt.Errorf("wait for job %s: %w", jobID, err)
	}
	var (
		last    *T
		backoff = c.pollInterval
		failed  int
		delay   = min(op.RetryAfter, c.maxPollInterval) // the 202's Retry-After, else poll at once
	)
	for {
		if err := c.sleep(ctx, delay); err != nil {
			return last, fmt.Errorf("wait for job %s: %w", jobID, err)
		}
		job := new(T)
		h, err := c.getJSON(ctx, r, job)
		if err != nil {
			if ctx.Err() != nil {
				return last, fmt.Errorf("wait for job %s: %w", jobID, ctx.Err())
			}
			if failed++; failed > maxPollErrors || !transient(err) {
				return last, fmt.Errorf("wait for job %s: %w", jobID, err)
			}
			delay, backoff = backoff, min(2*backoff, c.maxPollInterval)
			continue
		}
		failed = 0
		last = job
		if onPoll != nil {
			onPoll(job)
		}
		if Terminal(status(job)) {
			return job, nil
		}
		if d, ok := RetryAfter(h, time.Now(), c.maxPollInterval); ok {
			delay = d
		} else {
			delay, backoff = backoff, min(2*backoff, c.maxPollInterval)
		}
	}
}

// transient reports whether a failed poll is worth repeating: a 5xx, a
// 408, a 429 that outlived its retries, or a connection-level failure. A
// 4xx such as 404 (the job expired or never existed) is final.
func transient(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode >= 500 || e.StatusCode == http.StatusRequestTimeout || e.StatusCode == http.StatusTooManyRequests
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
