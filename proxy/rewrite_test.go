package proxy

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"nergateway/internal/region"
	"nergateway/internal/secret"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMapNamesKeepsEverythingElse(t *testing.T) {
	projects := newNameMap(map[string]string{"proj": "proj-dr"})
	deployments := newNameMap(map[string]string{"prod": "prod-dr"})
	in := `{ "displayName" : "proj",
  "analysisInput":{"documents":[{"id":"1","text":"proj and prod are words here","language":"en"}]},
  "tasks":[
    {"kind":"CustomEntityRecognition","parameters":{"projectName":"proj","deploymentName":"prod","stringIndexType":"Utf16CodeUnit","x":1.50e3}},
    {"kind":"CustomEntityRecognition","parameters":{"projectName":"other","deploymentName":"prod"},"futureTaskField":{"nested":[null,true]}}
  ],
  "futureTopField":"\u00e9\"proj\""}`
	want := strings.Replace(in, `"projectName":"proj"`, `"projectName":"proj-dr"`, 1)
	want = strings.ReplaceAll(want, `"deploymentName":"prod"`, `"deploymentName":"prod-dr"`)
	got := mapNames([]byte(in), requestNamePaths, projects, deployments)
	require.Equal(t, want, string(got), "got\n%s\nwant\n%s", got, want)

	// Mapping back restores the client's names in results.
	back := mapNames([]byte(`{"jobId":"x","tasks":{"items":[{"results":{"projectName":"proj-dr","deploymentName":"prod-dr","documents":[{"id":"1","entities":[{"text":"proj-dr"}]}]}}]}}`),
		resultNamePaths, newNameMap(map[string]string{"proj-dr": "proj"}), newNameMap(map[string]string{"prod-dr": "prod"}))
	want = `{"jobId":"x","tasks":{"items":[{"results":{"projectName":"proj","deploymentName":"prod","documents":[{"id":"1","entities":[{"text":"proj-dr"}]}]}}]}}`
	require.Equal(t, want, string(back), "mapped back:\n%s\nwant\n%s", back, want)

	// Sync calls: parameters at the top.
	sync := mapNames([]byte(`{"kind":"EntityRecognition","parameters":{"projectName":"proj","modelVersion":"latest"}}`), requestNamePaths, projects, deployments)
	assert.True(t, bytes.Contains(sync, []byte(`"projectName":"proj-dr"`)), "sync parameters not mapped: %s", sync)

	// Escaped and differently-cased member names still match; escaped
	// values are compared unescaped.
	esc := mapNames([]byte(`{"tasks":[{"parameters":{"ProjectName":"pr\u006fj"}}]}`), requestNamePaths, projects, deployments)
	assert.Equal(t, `{"tasks":[{"parameters":{"ProjectName":"proj-dr"}}]}`, string(esc), "escaped: %s", esc)

	// Not JSON, or nothing mentioned: the very same bytes come back.
	for _, s := range []string{`{"tasks":[{"parameters":{"projectName":"proj"}}]`, `{"tasks":[]}`, ``, `proj`} {
		got := mapNames([]byte(s), requestNamePaths, projects, deployments)
		assert.Equal(t, s, string(got), "mapNames(%q) = %q", s, got)
	}
}

func TestReplaceAllHostBoundary(t *testing.T) {
	reps := []replacement{
		{old: []byte("http://10.0.0.1:80"), new: "https://gw", hostBoundary: true},
		{old: []byte("10.0.0.1:80"), new: "gw", hostBoundary: true},
		{old: []byte("c0f2a446-5b5e-4a2d-9a3e-3f2a7d5b8e11"), new: "TOKEN"},
	}
	in := `{"a":"http://10.0.0.1:80/language/x/c0f2a446-5b5e-4a2d-9a3e-3f2a7d5b8e11?q=1","b":"http://10.0.0.1:8080/y","c":"on 10.0.0.1:80.","d":"10.0.0.1:80"}`
	want := `{"a":"https://gw/language/x/TOKEN?q=1","b":"http://10.0.0.1:8080/y","c":"on gw.","d":"gw"}`
	got, changed := replaceAll(nil, []byte(in), reps)
	require.Equal(t, want, string(got), "got\n%s\nwant\n%s", got, want)
	require.True(t, changed, "got\n%s\nwant\n%s", got, want)
	got, changed = replaceAll(nil, []byte("nothing here"), reps)
	if assert.False(t, changed, "got %q %v", got, changed) {
		assert.Equal(t, "nothing here", string(got), "got %q %v", got, changed)
	}
}

func TestRewriteLocation(t *testing.T) {
	ep, _ := url.Parse("https://myres.cognitiveservices.azure.com/")
	r0, _ := region.New(region.Config{Name: "westus2", Role: region.RolePrimary, Endpoint: ep, Key: secret.Secret("k")})
	ep1, _ := url.Parse("https://dr.cognitiveservices.azure.com/prefix")
	r1, _ := region.New(region.Config{Name: "eastus", Role: region.RoleSecondary, Endpoint: ep1, Key: secret.Secret("k")})
	p, err := New(Config{Regions: []*region.Region{r0, r1}})
	require.NoError(t, err)
	id := "c0f2a446-5b5e-4a2d-9a3e-3f2a7d5b8e11"
	tok0, _ := encodeToken(id, 0)
	tok1, _ := encodeToken(id, 1)
	c := &call{public: "https://gw.example.com/ner", r: &http.Request{}}
	for _, tt := range []struct {
		in   string
		idx  int
		want string
		ok   bool
	}{
		{"https://myres.cognitiveservices.azure.com/language/analyze-text/jobs/" + id + "?api-version=2023-04-01", 0,
			"https://gw.example.com/ner/language/analyze-text/jobs/" + tok0 + "?api-version=2023-04-01", true},
		{"https://dr.cognitiveservices.azure.com/prefix/language/analyze-text/jobs/" + id, 1,
			"https://gw.example.com/ner/language/analyze-text/jobs/" + tok1, true},
		// A regional host other than the configured one is still a region URL.
		{"https://westus2.api.cognitive.microsoft.com/language/analyze-text/jobs/" + id + ":cancel?api-version=2022-05-01", 0,
			"https://gw.example.com/ner/language/analyze-text/jobs/" + tok0 + ":cancel?api-version=2022-05-01", true},
		{"https://myres.cognitiveservices.azure.com/language/authoring/analyze-text/projects/p/train/jobs/abc_123?api-version=2022-05-01", 0,
			"https://gw.example.com/ner/language/authoring/analyze-text/projects/p/train/jobs/abc_123?api-version=2022-05-01", true},
		{"https://myres.cognitiveservices.azure.com/somewhere-else", 0, "", false},
		{"/relative/path", 0, "/relative/path", true},
		{"https://storage.example.com/blob", 0, "https://storage.example.com/blob", true},
	} {
		got, ok := p.rewriteLocation(tt.in, c, tt.idx)
		assert.Equal(t, tt.ok, ok, "rewriteLocation(%q) = %q %v, want %q %v", tt.in, got, ok, tt.want, tt.ok)
		assert.False(t, ok && got != tt.want, "rewriteLocation(%q) = %q %v, want %q %v", tt.in, got, ok, tt.want, tt.ok)
	}
	// A non-v4 id is handed out as is and its owner remembered.
	odd := "00012345-0000-1000-8000-000000000000"
	got, _ := p.rewriteLocation("https://dr.cognitiveservices.azure.com/prefix/language/analyze-text/jobs/"+odd, c, 1)
	assert.True(t, strings.HasSuffix(got, "/jobs/"+odd), "passthrough id rewritten: %s", got)
	owner, ok := p.owners.get(odd, time.Now())
	if assert.True(t, ok, "owner of %s not remembered: %d %v", odd, owner, ok) {
		assert.Equal(t, 1, owner, "owner of %s not remembered: %d %v", odd, owner, ok)
	}
}

func TestUpstreamHeader(t *testing.T) {
	in := http.Header{
		"Ocp-Apim-Subscription-Key": {"client"},
		"Authorization":             {"Bearer x"},
		"Connection":                {"keep-alive, X-Hop"},
		"X-Hop":                     {"1"},
		"Te":                        {"trailers"},
		"Accept-Encoding":           {"gzip"},
		"Content-Type":              {"application/json"},
		"X-Ms-Client-Request-Id":    {"abc"},
		"Traceparent":               {"00-..."},
		"User-Agent":                {"azsdk-js-ai-language-text/1.1.0"},
		"Accept":                    {"application/json"},
		"Cookie":                    {"session=1"},
		"X-Http-Method-Override":    {"DELETE"},
		"Ocp_apim_subscription_key": {"client"},
		"X-Forwarded-For":           {"10.0.0.1"},
		"X-Forwarded-Host":          {"evil.example"},
		"Forwarded":                 {"for=1.2.3.4"},
		"Expect":                    {"100-continue"},
		"Content-Length":            {"12"},
	}
	out := upstreamHeader(in)
	for _, k := range []string{"Ocp-Apim-Subscription-Key", "Authorization", "Connection", "X-Hop", "Te", "Accept-Encoding",
		"Cookie", "X-Http-Method-Override", "Ocp_apim_subscription_key", "X-Forwarded-For", "X-Forwarded-Host", "Forwarded", "Expect", "Content-Length"} {
		assert.Equal(t, "", out.Get(k), "%s forwarded", k)
	}
	for _, k := range []string{"Content-Type", "X-Ms-Client-Request-Id", "Traceparent", "User-Agent", "Accept"} {
		assert.NotEqual(t, "", out.Get(k), "%s dropped", k)
	}
	assert.NotEqual(t, "", in.Get("Ocp-Apim-Subscription-Key"), "the client's header map was modified")
}
