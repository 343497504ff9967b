package route

import (
	"net/http/httptest"
	"testing"
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
		if rt.Name != tt.want.Name || id != tt.id {
			t.Errorf("Match(%q) = %s, %q; want %s, %q", tt.path, rt.Name, id, tt.want.Name, tt.id)
		}
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
		if got := SpanName(r); got != tt.want {
			t.Errorf("SpanName(%s %s) = %q, want %q", tt.method, tt.target, got, tt.want)
		}
	}
}
