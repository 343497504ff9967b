package config

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzLoad feeds arbitrary values to the variables whose parsing is the
// config's own (endpoints, name maps, sizes, durations, keys, counts):
// Load never panics, an error names a variable on every line and never
// repeats a key, and a success holds only absolute http(s) endpoints with a
// host and name maps of valid names.
func FuzzLoad(f *testing.F) {
	f.Add("https://primary.example.com/", "http://127.0.0.1:5002", "demo:demo-dr", "production:prod", "8MiB", "10s", "k1,k2", "1024")
	f.Add("primary.example.com", "ftp://x", "demo", ":", "lots", "soon", ",", "0")
	f.Add("http://[::1]:80/p/", "https://u:p@h/?q#f", "a:b,a:c", "a:b,c:b", "1GB", "-1s", " ", "-1")
	f.Add("http://h\r\n.example", "https://h%2f/", "x\x00:y", "ü:v", "9223372036854775807", "1h1m", "k\n2", "99999999999999999999")
	f.Fuzz(func(t *testing.T, primary, secondary, projects, deployments, size, timeout, keys, inflight string) {
		const regionKey = "pk-fuzz-secret-4b1d"
		env := map[string]string{
			"GATEWAY_API_KEYS":           keys,
			"PRIMARY_ENDPOINT":           primary,
			"PRIMARY_RESOURCE_KEY":       regionKey,
			"SECONDARY_ENDPOINT":         secondary,
			"SECONDARY_RESOURCE_KEY":     regionKey,
			"SECONDARY_PROJECT_NAMES":    projects,
			"SECONDARY_DEPLOYMENT_NAMES": deployments,
			"MAX_REQUEST_BYTES":          size,
			"UPSTREAM_TIMEOUT":           timeout,
			"GATEWAY_MAX_INFLIGHT":       inflight,
		}
		cfg, err := Load(func(k string) string { return env[k] })
		if err != nil {
			msg := err.Error()
			require.NotContains(t, msg, regionKey, "error repeats a region key")
			require.True(t, strings.HasPrefix(msg, "invalid configuration"), "error does not say what failed: %q", msg)
			return
		}
		for name, ep := range map[string]*url.URL{"primary": cfg.PrimaryEndpoint, "secondary": cfg.SecondaryEndpoint} {
			require.NotNil(t, ep, "%s endpoint accepted", name)
			require.Contains(t, []string{"http", "https"}, ep.Scheme, "%s endpoint %v accepted", name, ep)
			require.NotEmpty(t, ep.Host, "%s endpoint %v accepted", name, ep)
			require.Nil(t, ep.User, "%s endpoint %v accepted", name, ep)
			require.Empty(t, ep.RawQuery, "%s endpoint %v accepted", name, ep)
		}
		for _, m := range []map[string]string{cfg.ProjectNames, cfg.DeploymentNames} {
			for from, to := range m {
				require.True(t, validName(from) && validName(to), "name map holds %q:%q", from, to)
			}
		}
		require.Positive(t, cfg.MaxRequestBytes, "accepted a non-positive setting: %+v", cfg)
		require.Positive(t, cfg.UpstreamTimeout, "accepted a non-positive setting: %+v", cfg)
		require.GreaterOrEqual(t, cfg.MaxInflight, 1, "accepted a non-positive setting: %+v", cfg)
		require.NotEmpty(t, cfg.APIKeys, "accepted a non-positive setting: %+v", cfg)
		for _, k := range cfg.APIKeys {
			require.NotEmpty(t, strings.TrimSpace(k.Secret.Reveal()), "accepted an empty gateway key")
		}
	})
}
