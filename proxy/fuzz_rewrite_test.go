package proxy

// Fuzz targets for the rewriting seams a client or a region can feed: the
// upstream request built from a client's request (never a host that is not
// configured), operation URLs from a region (always the gateway's, never a
// region's host), and answer bodies (valid JSON stays valid, unknown fields
// are kept byte for byte, ids and names are mapped).

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"nergateway/api"
	"nergateway/internal/region"
	"nergateway/internal/route"
	"nergateway/internal/secret"

	"github.com/stretchr/testify/require"
)

const (
	fuzzPrimary   = "https://myres.cognitiveservices.azure.com/"
	fuzzSecondary = "https://dr.cognitiveservices.azure.com/prefix"
	fuzzPublic    = "https://gw.example.com/ner"
)

// fuzzProxy is a proxy in front of two Azure-like endpoints (the secondary
// with a path and different project and deployment names). It is never
// started: the fuzz targets call its rewriting functions directly.
func fuzzProxy(t testing.TB) *Proxy {
	t.Helper()
	var regions []*region.Region
	for i, raw := range []string{fuzzPrimary, fuzzSecondary} {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		role, name := region.RolePrimary, "westus2"
		if i == 1 {
			role, name = region.RoleSecondary, "eastus"
		}
		r, err := region.New(region.Config{Name: name, Role: role, Endpoint: u, Key: secret.Secret("region-key-" + name)})
		require.NoError(t, err)
		regions = append(regions, r)
	}
	p, err := New(Config{Regions: regions,
		ProjectNames: map[string]string{"proj": "proj-dr"}, DeploymentNames: map[string]string{"prod": "prod-dr"}})
	require.NoError(t, err)
	return p
}

// FuzzOutRequest: whatever path, query, Host and headers a client sends,
// every upstream request goes to a configured region's scheme and host,
// also once serialized and parsed again (no '@', '//' or '#' in a path
// can move the authority), and carries the region's key, never the
// client's key or forwarding headers.
func FuzzOutRequest(f *testing.F) {
	tok, _ := encodeToken("c0f2a446-5b5e-4a2d-9a3e-3f2a7d5b8e11", 1)
	for _, s := range [][4]string{
		{api.JobsPath, "api-version=2023-04-01", "gw.example.com", "X-Forwarded-Host: evil.example.com"},
		{api.JobsPath + "/" + tok, "api-version=2023-04-01&nextLink=http://evil.example.com/", "evil.example.com", "Forwarded: host=evil"},
		{api.JobsPath + "/" + tok + api.CancelSuffix, "", "gw", "Authorization: Bearer x"},
		{"/language/authoring/analyze-text/projects//evil.example.com/x", "api-version=2022-05-01", "gw", ""},
		{"/language/authoring/analyze-text/projects/x@evil.example.com:443", "a=%2F%2Fevil", "gw", ""},
		{"/language/authoring/analyze-text/projects/%2F%2Fevil.example.com", "", "gw", "Host: evil"},
		{"/language/authoring/../../evil", "", "gw", ""},
		{"/language/authoring/analyze-text/projects/p#@evil.example.com", "q=1#frag", "gw", ""},
		{api.SyncAnalyzePath, "api-version=2023-04-01", "[::1]:8080", "Connection: X-Drop"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	p := fuzzProxy(f)
	f.Fuzz(func(t *testing.T, rawPath, rawQuery, host, header string) {
		target := rawPath
		if rawQuery != "" {
			target += "?" + rawQuery
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{Method: http.MethodPost, URL: u, Host: host, Header: http.Header{}, Body: http.NoBody}
		r.Header.Set(api.SubscriptionKeyHeader, "client-gateway-key")
		if name, value, ok := strings.Cut(header, ":"); ok && name != "" {
			r.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
		r = r.WithContext(context.Background())
		c, err := p.newCall(r)
		if err != nil {
			return
		}
		for idx, reg := range p.regions {
			out := p.outRequest(context.Background(), c, idx, nil)
			err := reg.Authorize(out)
			require.NoError(t, err, "region %d: authorize: %v", idx, err)
			ep := reg.Endpoint()
			require.Equal(t, ep.Scheme, out.URL.Scheme, "region %d: upstream request to %s://%s (Host %q)", idx, out.URL.Scheme, out.URL.Host, out.Host)
			require.Equal(t, ep.Host, out.URL.Host, "region %d: upstream request to %s://%s (Host %q)", idx, out.URL.Scheme, out.URL.Host, out.Host)
			require.Equal(t, ep.Host, out.Host, "region %d: upstream request to %s://%s (Host %q)", idx, out.URL.Scheme, out.URL.Host, out.Host)
			// The transport dials out.URL.Host and writes RequestURI on
			// the request line: as the region parses that line, the path
			// stays under the endpoint's /language/.
			again, err := url.ParseRequestURI(out.URL.RequestURI())
			require.NoError(t, err, "region %d: request line %q parses to %v (%v)", idx, out.URL.RequestURI(), again, err)
			require.Equal(t, "", again.Host, "region %d: request line %q parses to %v (%v)", idx, out.URL.RequestURI(), again, err)
			require.Nil(t, again.User, "region %d: request line %q parses to %v (%v)", idx, out.URL.RequestURI(), again, err)
			require.True(t, strings.HasPrefix(again.Path, strings.TrimSuffix(ep.Path, "/")+"/language/"), "region %d: path %q left /language/", idx, again.Path)
			got := out.Header.Get(api.SubscriptionKeyHeader)
			require.Equal(t, reg.Key().Reveal(), got, "region %d: key header %q", idx, got)
			for _, h := range []string{"Authorization", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "Connection"} {
				require.Equal(t, "", out.Header.Get(h), "region %d: %s forwarded", idx, h)
			}
		}
	})
}

// FuzzRewriteLocation: an operation URL from a region comes back either
// pointing at the gateway, or unchanged when it names no region at all;
// it never names a region's host.
func FuzzRewriteLocation(f *testing.F) {
	id := "c0f2a446-5b5e-4a2d-9a3e-3f2a7d5b8e11"
	for _, s := range []string{
		"https://myres.cognitiveservices.azure.com/language/analyze-text/jobs/" + id + "?api-version=2023-04-01",
		"https://dr.cognitiveservices.azure.com/prefix/language/analyze-text/jobs/" + id + ":cancel",
		"https://MYRES.cognitiveservices.azure.com/language/authoring/analyze-text/projects/p/jobs/x",
		"https://westus2.api.cognitive.microsoft.com/language/analyze-text/jobs/" + id,
		"/language/analyze-text/jobs/" + id,
		"https://evil.example.com/x",
		"https://myres.cognitiveservices.azure.com@evil.example.com/language/",
		"https://evil.example.com/language/x?u=https://myres.cognitiveservices.azure.com",
		"http://[::1]:80/language/x",
		"https://myres.cognitiveservices.azure.com/language/analyze-text/jobs/" + id + "?api-version=2023-04-01&x=https://myres.cognitiveservices.azure.com",
		"https://myres.cognitiveservices.azure.com/language/x/myres.cognitiveservices.azure.com/y",
		"https://myres.cognitiveservices.azure.com/language/x?u=https%3A%2F%2FMYRES.cognitiveservices.azure.com",
		"%zz",
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
	}
	p := fuzzProxy(f)
	f.Fuzz(func(t *testing.T, v string, which uint8) {
		idx := int(which % 2)
		c := &call{public: fuzzPublic, publicHost: hostOf(fuzzPublic), r: &http.Request{}}
		out, ok := p.rewriteLocation(v, c, idx)
		if !ok {
			return
		}
		if out == v {
			// Relayed unchanged only when it names no region at all.
			require.False(t, p.mentionsRegion([]string{out}), "%q relayed unchanged, naming a region host", out)
			return
		}
		require.True(t, strings.HasPrefix(out, fuzzPublic+"/language/"), "rewritten to %q, not the gateway's URL", out)
		require.False(t, p.mentionsRegion([]string{out[len(fuzzPublic):]}), "rewritten to %q, which still names a region host", out)
	})
}

// FuzzResponseBody: a job body from a region, with fuzzed names, ids,
// extra fields and query, is rewritten into valid JSON in which the job id
// is the client's token, nextLink is the gateway's, the secondary's names
// are mapped back, and an unknown field comes back byte for byte. Any
// body without a region URL, id or mapped name comes back unchanged.
func FuzzResponseBody(f *testing.F) {
	f.Add("proj-dr", "prod-dr", `{"nested":[1,"x",null]}`, "$skip=20&$top=20&api-version=2023-04-01", uint8(1))
	f.Add("proj", "prod", `"https://dr.cognitiveservices.azure.com/prefix"`, "", uint8(0))
	f.Add("other", "prod-dr", `"\u0070roj-dr"`, "a=b", uint8(1))
	f.Add(`pr"oj`, "", `{}`, "x=%2F", uint8(1))
	p := fuzzProxy(f)
	upstreamID := "c0f2a446-5b5e-4a2d-9a3e-3f2a7d5b8e11"
	f.Fuzz(func(t *testing.T, project, deployment, extra, query string, which uint8) {
		idx := int(which % 2)
		if !json.Valid([]byte(extra)) {
			return
		}
		tok, _ := encodeToken(upstreamID, idx)
		ep := strings.TrimSuffix([]string{fuzzPrimary, fuzzSecondary}[idx], "/")
		pj, _ := json.Marshal(project)
		dj, _ := json.Marshal(deployment)
		nl, _ := json.Marshal(ep + api.JobsPath + "/" + upstreamID + "?" + query)
		src := `{"jobId":"` + upstreamID + `","status":"succeeded","extraField":` + extra +
			`,"tasks":{"items":[{"kind":"CustomEntityRecognitionLROResults","results":{"projectName":` + string(pj) +
			`,"deploymentName":` + string(dj) + `,"documents":[]}}]},"nextLink":` + string(nl) + `}`
		c := &call{public: fuzzPublic, publicHost: hostOf(fuzzPublic), route: route.Job, clientID: tok, upstreamID: upstreamID, r: &http.Request{}}
		out := p.responseBody(nil, c, idx, []byte(src))
		require.True(t, json.Valid(out), "invalid JSON:\n%s\nfrom\n%s", out, src)
		var got struct {
			JobID      string          `json:"jobId"`
			ExtraField json.RawMessage `json:"extraField"`
			NextLink   string          `json:"nextLink"`
			Tasks      struct {
				Items []struct {
					Results struct {
						ProjectName    string `json:"projectName"`
						DeploymentName string `json:"deploymentName"`
					} `json:"results"`
				} `json:"items"`
			} `json:"tasks"`
		}
		require.NoError(t, json.Unmarshal(out, &got))
		require.Equal(t, tok, got.JobID, "jobId, want the token")
		require.True(t, strings.HasPrefix(got.NextLink, fuzzPublic+api.JobsPath+"/"+tok), "nextLink %q is not the gateway's", got.NextLink)
		needles := [][]byte{[]byte("cognitiveservices.azure.com"), []byte(upstreamID), []byte(`\`), []byte("proj-dr"), []byte("prod-dr")}
		clean := func(b []byte) bool {
			for _, n := range needles {
				if bytes.Contains(b, n) {
					return false
				}
			}
			return true
		}
		require.False(t, clean([]byte(extra)) && !bytes.Contains(out, []byte(`"extraField":`+extra+`,"tasks"`)), "unknown field changed: %s -> %s", extra, got.ExtraField)
		// What the names are once JSON-encoded (invalid UTF-8 becomes
		// U+FFFD), which is what the region would have sent.
		roundTrip := func(js []byte) string {
			var v string
			_ = json.Unmarshal(js, &v)
			return v
		}
		wantProject, wantDeployment := roundTrip(pj), roundTrip(dj)
		if idx == 1 {
			if project == "proj-dr" {
				wantProject = "proj"
			}
			if deployment == "prod-dr" {
				wantDeployment = "prod"
			}
		}
		if r := got.Tasks.Items[0].Results; clean(pj) && clean(dj) || idx == 1 && (project == "proj-dr" || deployment == "prod-dr") {
			require.Equal(t, wantProject, r.ProjectName, "names//")
			require.Equal(t, wantDeployment, r.DeploymentName, "names//")
		}
		// No needle at all: not one byte changes.
		plain := `{"status":"running","extraField":` + extra + `}`
		if clean([]byte(plain)) {
			out := p.responseBody(nil, c, idx, []byte(plain))
			require.Equal(t, string([]byte(plain)), string(out), "a body with nothing to rewrite changed:\n%s\n%s", plain, out)
		}
	})
}
