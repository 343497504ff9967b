package route

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		path string
		want Route
		id   string
	}{
		{"/language/analyze-text/jobs", Submit, ""},
		{"/language/analyze-text/jobs/abc", Job, "abc"},
		{"/language/analyze-text/jobs/abc:cancel", Cancel, "abc"},
		{"/language/:analyze-text", Analyze, ""},
		{"/language/authoring/analyze-text/projects/p", Authoring, ""},
		{"/healthz", Healthz, ""},
		{"/admin/replication/sync", AdminSync, ""},
		{"/language/other", Unknown, ""},
		{"/", Unknown, ""},
	}
	for _, tt := range tests {
		rt, id := Match(tt.path)
		assert.Equal(t, tt.want.Name, rt.Name, "Match(%q) route", tt.path)
		assert.Equal(t, tt.id, id, "Match(%q) id", tt.path)
	}
}

func TestSpanNameHasNoClientValues(t *testing.T) {
	for _, tt := range []struct{ method, target, want string }{
		{"GET", "/language/analyze-text/jobs/123e4567-e89b-42d3-a456-426614174000?x=1", "GET /language/analyze-text/jobs/{jobId}"},
		{"POST", "/language/analyze-text/jobs/x:cancel", "POST /language/analyze-text/jobs/{jobId}:cancel"},
		{"BREW", "/healthz", "_OTHER /healthz"},
		{"get", "/random/path/1", "_OTHER other"},
	} {
		r := httptest.NewRequest("GET", tt.target, nil)
		r.Method = tt.method
		assert.Equal(t, tt.want, SpanName(r), "SpanName(%s %s)", tt.method, tt.target)
	}
}

// TestOneLeadingSlash: a path that starts with several slashes is served
// as the one-slash path (Azure answers //language/..., recorded in
// internal/testkit/recorded), on runtime and authoring routes alike; its escaping
// and query survive, and a one-slash request is not copied.
func TestOneLeadingSlash(t *testing.T) {
	for _, tt := range []struct{ target, path, rawPath, query string }{
		{"//language/authoring/analyze-text/projects/p/:export?api-version=2025-05-15-preview&stringIndexType=Utf16CodeUnit",
			"/language/authoring/analyze-text/projects/p/:export", "", "api-version=2025-05-15-preview&stringIndexType=Utf16CodeUnit"},
		{"//language/analyze-text/jobs?api-version=2025-11-15-preview", "/language/analyze-text/jobs", "", "api-version=2025-11-15-preview"},
		{"///language/analyze-text/jobs", "/language/analyze-text/jobs", "", ""},
		{"//language/authoring/analyze-text/projects/a%2Fb", "/language/authoring/analyze-text/projects/a/b", "/language/authoring/analyze-text/projects/a%2Fb", ""},
	} {
		r := httptest.NewRequest("POST", "http://gw"+tt.target, nil)
		got := OneLeadingSlash(r)
		assert.Equal(t, tt.path, got.URL.Path, tt.target)
		assert.Equal(t, tt.rawPath, got.URL.RawPath, tt.target)
		assert.Equal(t, tt.query, got.URL.RawQuery, tt.target)
		rt, _ := Match(got.URL.Path)
		assert.NotEqual(t, Unknown.Name, rt.Name, tt.target)
		assert.True(t, strings.HasPrefix(r.URL.Path, "//"), "the original request is left as it was")
	}
	r := httptest.NewRequest("GET", "/language/analyze-text/jobs/x", nil)
	require.Same(t, r, OneLeadingSlash(r))
}
