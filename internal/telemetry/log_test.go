package telemetry

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func TestLoggerAddsTraceIDs(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer func() { require.NoError(t, tp.Shutdown(t.Context())) }()
	ctx, span := tp.Tracer("t").Start(t.Context(), "request")
	defer span.End()

	var buf bytes.Buffer
	log := NewLogger(&buf, "json", slog.LevelInfo)
	log.InfoContext(ctx, "with span", slog.String("region", "westus2"))
	log.With(slog.String("component", "proxy")).InfoContext(ctx, "with attrs")
	log.InfoContext(t.Context(), "without span")
	log.Info("no context")
	log.DebugContext(ctx, "below level")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 4)
	var recs []map[string]any
	for _, l := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		recs = append(recs, m)
	}
	sc := span.SpanContext()
	for _, r := range recs[:2] {
		assert.Equal(t, sc.TraceID().String(), r["trace_id"])
		assert.Equal(t, sc.SpanID().String(), r["span_id"])
	}
	assert.Equal(t, "proxy", recs[1]["component"])
	for _, r := range recs[2:] {
		assert.NotContains(t, r, "trace_id")
		assert.NotContains(t, r, "span_id")
	}
}

func TestLoggerTextFormat(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer func() { require.NoError(t, tp.Shutdown(t.Context())) }()
	ctx, span := tp.Tracer("t").Start(t.Context(), "request")
	defer span.End()

	var buf bytes.Buffer
	NewLogger(&buf, "text", slog.LevelDebug).DebugContext(ctx, "hello")
	out := buf.String()
	assert.True(t, strings.HasPrefix(out, "time="), out)
	assert.Contains(t, out, "trace_id="+span.SpanContext().TraceID().String())
}

func TestLoggerUnknownFormatIsJSON(t *testing.T) {
	var buf bytes.Buffer
	NewLogger(&buf, "yaml", slog.LevelInfo).Info("hello")
	assert.True(t, json.Valid(buf.Bytes()), buf.String())
}
