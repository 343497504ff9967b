package recorded

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRecordingsNameTheirSource holds every stored conversation to the rule
// that makes it citable: its source repository, path, commit and
// api-version sit beside it, the api-version is the one its requests
// carry, and no key is left unsanitized.
func TestRecordingsNameTheirSource(t *testing.T) {
	names := Names()
	require.NotEmpty(t, names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			c, err := Load(name)
			require.NoError(t, err)
			assert.NotEmpty(t, c.Source.Repository)
			assert.NotEmpty(t, c.Source.Path)
			assert.Len(t, c.Source.Commit, 40)
			require.NotEmpty(t, c.Source.ApiVersion)
			assert.True(t, strings.HasSuffix(name, c.Source.ApiVersion), "the file name ends in its api-version")
			require.NotEmpty(t, c.Entries)
			for i, e := range c.Entries {
				u, err := url.Parse(e.RequestURI)
				require.NoError(t, err, "entry %d", i)
				assert.Equal(t, c.Source.ApiVersion, u.Query().Get("api-version"), "entry %d: %s", i, e.RequestURI)
				assert.NotZero(t, e.StatusCode, "entry %d", i)
				for k, v := range e.RequestHeaders {
					if strings.EqualFold(k, "Ocp-Apim-Subscription-Key") || strings.EqualFold(k, "Authorization") {
						assert.Contains(t, []string{"Sanitized", "api_key"}, v, "entry %d: %s is not sanitized", i, k)
					}
				}
			}
		})
	}
}
