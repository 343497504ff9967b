package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

	"nergateway/api"
	"nergateway/internal/inflight"
)

// errOverBudget is a body the byte budget cannot hold now (503 with
// Retry-After: space frees as soon as other requests finish).
var errOverBudget = errors.New("the gateway's byte budget is spent")

// readBody buffers the request body once, so every attempt can send it
// again from the start. The buffer grows with the bytes that arrive (never
// from Content-Length) and draws on the byte budget. Above MaxRequestBytes
// the client gets 413, past the budget 503, and past the connection's read
// deadline (the server's GATEWAY_BODY_TIMEOUT) 408.
func (p *Proxy) readBody(w http.ResponseWriter, c *call) error {
	r := c.r
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if r.ContentLength > p.maxBody {
		return p.tooLarge()
	}
	c.body = p.budget.NewBuffer(p.maxBody, r.ContentLength)
	body := r.Body
	if r.ContentLength < 0 {
		// A body of unannounced length (chunked) is bounded here, which
		// also has the server close the connection after a 413 instead of
		// reading on. One that announced its length cannot send more than
		// it announced (the server's reader stops there), and that is at
		// most MaxRequestBytes (checked above).
		body = http.MaxBytesReader(w, r.Body, p.maxBody)
	}
	_, err := c.body.ReadFrom(body)
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &mbe), errors.Is(err, inflight.ErrTooLarge):
		return p.tooLarge()
	case errors.Is(err, inflight.ErrOverBudget):
		// Read the rest into nothing (it is below MaxRequestBytes and
		// within the body deadline), so the client, still sending, gets
		// its 503 instead of a reset.
		c.freeBody()
		c.body = nil
		_, _ = io.Copy(io.Discard, body)
		return errOverBudget
	case errors.Is(err, os.ErrDeadlineExceeded):
		// Before the context check: the failed read also ends the
		// request's context, but the client is still there to read a 408.
		return &localError{status: http.StatusRequestTimeout, code: api.CodeTimeout,
			msg: "The request body did not arrive in time."}
	case r.Context().Err() != nil:
		return fmt.Errorf("%w: reading the body: %w", errCanceled, err)
	}
	return &localError{status: http.StatusBadRequest, code: api.CodeInvalidRequest, msg: "The request body could not be read."}
}

// tooLarge is the 413 for a body over MaxRequestBytes.
func (p *Proxy) tooLarge() error {
	return &localError{status: http.StatusRequestEntityTooLarge, code: api.CodeRequestTooLarge,
		msg: "The request body is larger than " + strconv.FormatInt(p.maxBody, 10) + " bytes."}
}
