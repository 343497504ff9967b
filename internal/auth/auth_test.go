package auth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
)

func TestRequire(t *testing.T) {
	keys := NewKeys("key-one", "key-two", "")
	h := keys.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	for presented, want := range map[string]int{
		"key-one": 204, "key-two": 204, "": 401, "key-on": 401, "key-one ": 401, "KEY-ONE": 401, "key-two-and-more": 401,
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/language/analyze-text/jobs/x", nil)
		if presented != "" {
			req.Header.Set("Ocp-Apim-Subscription-Key", presented)
		}
		h.ServeHTTP(rec, req)
		require.Equal(t, want, rec.Code, "key %q", presented)
		if want == 401 {
			var body api.ErrorResponse
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
			assert.Equal(t, api.CodeUnauthorized, body.Error.Code)
			if presented != "" {
				assert.False(t, strings.Contains(rec.Body.String(), presented), "key echoed")
			}
		}
	}
}

func TestNoKeysAcceptsNothing(t *testing.T) {
	assert.False(t, NewKeys().Valid(""))
	assert.False(t, NewKeys("").Valid(""))
	assert.False(t, NewKeys().Valid("anything"))
}

func BenchmarkValid(b *testing.B) {
	keys := NewKeys("key-one", "key-two")
	b.ReportAllocs()
	for b.Loop() {
		keys.Valid("key-two")
	}
}
