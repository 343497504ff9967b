// Package statuswriter remembers the status a handler answered with, for
// middleware that reports it after the handler returned (server spans,
// access logs).
package statuswriter

import "net/http"

// Writer wraps a ResponseWriter and records the first final status.
type Writer struct {
	http.ResponseWriter
	status int
}

// New wraps w, or returns w itself when it is a Writer already: the
// middleware of one request (its server span, its access log) share one
// writer instead of stacking a copy each.
func New(w http.ResponseWriter) *Writer {
	if sw, ok := w.(*Writer); ok {
		return sw
	}
	return &Writer{ResponseWriter: w}
}

// WriteHeader records code unless it is an interim (1xx) answer.
func (w *Writer) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *Writer) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Status is the status written, 200 when the handler wrote none (as
// net/http answers then).
func (w *Writer) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Answered reports whether the handler wrote a final status or a body;
// false when it wrote nothing (it may have dropped the connection, which
// Status cannot tell from an empty 200).
func (w *Writer) Answered() bool { return w.status != 0 }

// Unwrap lets http.ResponseController reach the connection (deadlines,
// flushes) through the wrapper.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
