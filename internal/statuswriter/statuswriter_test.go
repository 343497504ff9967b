package statuswriter

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestStatus(t *testing.T) {
	rec := httptest.NewRecorder()
	w := New(rec)
	assert.Equal(t, http.StatusOK, w.Status(), "nothing written: net/http answers 200")
	assert.False(t, w.Answered(), "nothing written")
	assert.Same(t, http.ResponseWriter(rec), w.Unwrap())
	w.WriteHeader(http.StatusContinue)
	w.WriteHeader(http.StatusAccepted)
	w.WriteHeader(http.StatusTeapot)
	assert.Equal(t, http.StatusAccepted, w.Status(), "1xx are interim; the first final status wins")
	assert.True(t, w.Answered())

	w2 := New(httptest.NewRecorder())
	w2.WriteHeader(http.StatusContinue)
	assert.False(t, w2.Answered(), "an interim answer is no answer")
	_, _ = w2.Write([]byte("x"))
	assert.Equal(t, http.StatusOK, w2.Status())
	assert.True(t, w2.Answered())
}

// Middleware stacked on one request (the server span outside, the access
// log inside) share one writer, and both read the status the handler wrote.
func TestOneWriterServesStackedMiddleware(t *testing.T) {
	outer := New(httptest.NewRecorder())
	inner := New(outer)
	assert.Same(t, outer, inner)
	inner.WriteHeader(http.StatusTooManyRequests)
	assert.Equal(t, http.StatusTooManyRequests, outer.Status())
	assert.Equal(t, http.StatusTooManyRequests, inner.Status())
}
