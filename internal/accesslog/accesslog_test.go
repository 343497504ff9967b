package accesslog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSampleKeepsAFractionOfSuccessesAndEveryFailure(t *testing.T) {
	var buf bytes.Buffer
	draws := []float64{0.1, 0.5, 0.24, 0.9}
	i := 0
	mw := Middleware(Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Sample: 0.25,
		Rand: func() float64 { d := draws[i%len(draws)]; i++; return d }})
	status := http.StatusOK
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetKeyName(r.Context(), "app")
		w.WriteHeader(status)
	}))
	for range 4 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/language/analyze-text/jobs/abc", nil))
	}
	status = http.StatusServiceUnavailable
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/language/analyze-text/jobs", nil))

	var lines []map[string]any
	for l := range strings.Lines(buf.String()) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		lines = append(lines, m)
	}
	require.Len(t, lines, 3, "draws 0.1 and 0.24 are below 0.25; the 503 is always kept:\n%s", buf.String())
	assert.Equal(t, "/language/analyze-text/jobs/{jobId}", lines[0]["route"], "the template, never the id")
	assert.Equal(t, "app", lines[0]["key"])
	assert.NotContains(t, lines[0], "job_id", "no proxy ran: no job id")
	assert.EqualValues(t, 503, lines[2]["status"])
}
