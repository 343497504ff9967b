package telemetry

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// NewLogger returns the gateway's logger: JSON lines for machines, or
// slog's text format (format "text") for a person watching the demo; any
// other format means JSON. Records logged through the *Context methods with a
// context that holds a valid span get trace_id and span_id, so a log line
// leads to its trace in Jaeger and back.
//
// The ids are added at the level the record is in: a logger made with
// WithGroup puts them inside that group.
func NewLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(TraceHandler{h})
}

// TraceHandler wraps a slog.Handler to add trace_id and span_id from the
// span in the record's context. It is exported so a test can wrap a
// capturing handler the same way the gateway's logger does.
type TraceHandler struct {
	// Handler receives every record; it must not be nil.
	slog.Handler
}

// Handle adds the span's ids, when there is a valid span, and hands on.
func (h TraceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(
			slog.String("trace_id", sc.TraceID().String()),
			slog.String("span_id", sc.SpanID().String()),
		)
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the trace handler outermost.
func (h TraceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return TraceHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the trace handler outermost.
func (h TraceHandler) WithGroup(name string) slog.Handler {
	return TraceHandler{h.Handler.WithGroup(name)}
}
