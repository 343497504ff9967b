package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/internal/testkit/loopback"
	"nergateway/internal/testkit/recorded"
)

// The tests below put the real gateway in front of a region that answers
// what Azure answered (internal/testkit/recorded: Microsoft's recordings of its
// SDK tests against live Language resources) and replay the recorded
// requests through it. Every answer must come back as Azure gave it except
// for the gateway's documented rewrites (docs/DESIGN.md): the region's
// host in operation-location, nextLink and resultUrl becomes the
// gateway's, and a runtime jobId becomes the gateway's token. Each
// rewritten link is then followed through the gateway, as the SDKs do,
// and must reach the recorded next request.

// replayThroughGateway starts a gateway whose primary replays c and whose
// secondary answers nothing but probes, sends c's requests (with key)
// through it and compares every answer with Azure's.
func replayThroughGateway(t *testing.T, c recorded.Conversation, key string) *recorded.Replayer {
	t.Helper()
	return replayWith(t, c, key, replayOptions{})
}

// replayOptions put the recorded region behind the secondary instead.
type replayOptions struct {
	// onSecondary: the primary refuses connections and the secondary
	// replays, under the names of names.
	onSecondary bool
	// names are the client's JSON members for the recorded ones
	// (`"projectName":"Example-ner-project"` -> `"projectName":"contracts"`):
	// the gateway maps them to the secondary's and back.
	names map[string]string
	env   []string
}

func replayWith(t *testing.T, c recorded.Conversation, key string, o replayOptions) *recorded.Replayer {
	t.Helper()
	replaying := recorded.NewReplayer(c, testPrimaryKey)
	if o.onSecondary {
		replaying = recorded.NewReplayer(c, testSecondaryKey)
	}
	rs := httptest.NewServer(replaying)
	t.Cleanup(rs.Close)
	replaying.SetOrigin(rs.URL)
	idle := recorded.NewReplayer(recorded.Conversation{Name: "the idle region"}, testSecondaryKey)
	setup := gatewaySetup{primaryURL: rs.URL}
	if o.onSecondary {
		setup = gatewaySetup{primaryURL: "http://" + loopback.FreeAddr(t), secondaryURL: rs.URL}
	} else {
		is := httptest.NewServer(idle)
		t.Cleanup(is.Close)
		idle.SetOrigin(is.URL)
		setup.secondaryURL = is.URL
	}
	gw := startGatewaySetup(t, setup, withEnv(o.env...))
	toClient := func(b []byte) []byte {
		s := string(b)
		for rec, client := range o.names {
			s = strings.ReplaceAll(s, rec, client)
		}
		return []byte(s)
	}
	toRecorded := func(b []byte) []byte {
		s := string(b)
		for rec, client := range o.names {
			s = strings.ReplaceAll(s, client, rec)
		}
		return []byte(s)
	}
	primary := replaying

	links := map[string]string{} // a link Azure gave -> the gateway's
	ids := map[string]string{}   // a job id Azure gave -> the gateway's
	for i, e := range c.Entries {
		target, followUp := links[e.RequestURI]
		if !followUp {
			target = gw.URL + recorded.SubstituteIDs(e.PathAndQuery(), ids)
		}
		var body any
		if e.HasRequestBody() {
			body = toClient(e.RequestBodyBytes())
		}
		resp, got := gw.do(t, e.RequestMethod, target, body, key)
		if len(o.names) > 0 && e.HasResponseBody() {
			for rec, client := range o.names {
				if strings.Contains(string(e.ResponseBodyBytes()), rec) {
					assert.Contains(t, string(got), client, "entry %d: names mapped back to the client's", i)
				}
			}
			got = toRecorded(got)
		}
		where := e.RequestMethod + " " + e.PathAndQuery()
		require.Equal(t, e.StatusCode, resp.StatusCode, "entry %d: %s: %s\nregion: %v", i, where, got, primary.Err())

		for k, v := range e.ResponseHeaders {
			switch strings.ToLower(k) {
			case "date", "content-length", "transfer-encoding", "connection":
				continue
			case "operation-location":
				g := resp.Header.Get(k)
				ids[recorded.LastSegment(v)] = recorded.LastSegment(g)
				links[v] = g
				assert.Equal(t, gw.URL+recorded.SubstituteIDs(strings.TrimPrefix(v, e.Origin()), ids), g,
					"entry %d: %s: operation-location: only the host and the job id change", i, where)
			default:
				assert.Equal(t, v, resp.Header.Get(k), "entry %d: %s: header %s as Azure sent it", i, where, k)
			}
		}
		if !e.HasResponseBody() {
			assert.Empty(t, got, "entry %d: %s", i, where)
			continue
		}
		var want, have map[string]any
		require.NoError(t, json.Unmarshal(e.ResponseBodyBytes(), &want))
		require.NoError(t, json.Unmarshal(got, &have), "entry %d: %s: %s", i, where, got)
		// The documented rewrites, checked and then undone, so what is
		// left must be Azure's answer exactly.
		if id, ok := want["jobId"].(string); ok {
			if token, ok := ids[id]; ok {
				assert.Equal(t, token, have["jobId"], "entry %d: %s: jobId is the operation-location's", i, where)
				have["jobId"] = id
			}
		}
		for _, k := range []string{"nextLink", "resultUrl"} {
			if w, ok := want[k].(string); ok {
				g, _ := have[k].(string)
				assert.Equal(t, gw.URL+recorded.SubstituteIDs(strings.TrimPrefix(w, e.Origin()), ids), g,
					"entry %d: %s: %s: only the host and the job id change", i, where, k)
				links[w] = g
				have[k] = w
			}
		}
		assert.Equal(t, want, have, "entry %d: %s: the body is Azure's", i, where)
	}
	require.NoError(t, primary.Err())
	assert.Equal(t, len(c.Entries), primary.Served(), "every recorded request reached the region once")
	require.NoError(t, idle.Err())
	return primary
}

func loadConversation(t *testing.T, name string) recorded.Conversation {
	t.Helper()
	c, err := recorded.Load(name)
	require.NoError(t, err)
	return c
}

func TestGatewayRelaysRecordedRuntimeTraffic(t *testing.T) {
	for _, name := range []string{
		"runtime-custom-ner-2023-04-01",
		"runtime-custom-ner-2025-11-15-preview",
		"runtime-custom-partial-error-2022-10-01-preview",
		"runtime-paging-2023-04-01", // follows the rewritten nextLink
		"runtime-cancel-2023-04-01", // cancels by the token, follows the cancel's operation-location
		"runtime-400-model-version-2022-10-01-preview",
	} {
		t.Run(name, func(t *testing.T) {
			replayThroughGateway(t, loadConversation(t, name), testGatewayKey)
		})
	}
	// The same conversation answered by the secondary, whose project and
	// deployment have other names: the gateway maps the client's names
	// to the secondary's on the way in (the replaying region checks the
	// body is the recorded one) and back on the way out.
	t.Run("runtime-custom-ner-2025-11-15-preview on the secondary, names mapped", func(t *testing.T) {
		replayWith(t, loadConversation(t, "runtime-custom-ner-2025-11-15-preview"), testGatewayKey, replayOptions{
			onSecondary: true,
			names: map[string]string{`"projectName":"Example-ner-project"`: `"projectName":"contracts"`,
				`"deploymentName":"TestDeployment"`: `"deploymentName":"production"`},
			env: []string{"SECONDARY_PROJECT_NAMES", "contracts:Example-ner-project", "SECONDARY_DEPLOYMENT_NAMES", "production:TestDeployment"},
		})
	})
}

func TestGatewayRelaysRecordedAuthoringTraffic(t *testing.T) {
	for _, name := range []string{
		"authoring-import-classification-2025-05-15-preview",
		"authoring-train-2025-05-15-preview",
		"authoring-deploy-2025-05-15-preview",
		"authoring-project-get-2025-05-15-preview",
	} {
		t.Run(name, func(t *testing.T) {
			replayThroughGateway(t, loadConversation(t, name), testAuthorKey)
		})
	}
	t.Run("export, then its resultUrl", func(t *testing.T) {
		c := loadConversation(t, "authoring-export-2025-05-15-preview")
		// The recording stops at the succeeded job; the result it points
		// to is fetched as the replication worker fetches it, through the
		// rewritten resultUrl. Its answer (an exported project, here the
		// recorded classification project) is not part of the recording.
		imp := loadConversation(t, "authoring-import-classification-2025-05-15-preview")
		var st struct{ ResultURL string }
		require.NoError(t, json.Unmarshal(c.Entries[len(c.Entries)-1].ResponseBodyBytes(), &st))
		c.Entries = append(c.Entries, recorded.Entry{RequestURI: st.ResultURL, RequestMethod: http.MethodGet, StatusCode: http.StatusOK,
			ResponseHeaders: map[string]string{"Content-Type": "application/json; charset=utf-8"},
			ResponseBody:    imp.Entries[0].RequestBody})
		replayThroughGateway(t, c, testAuthorKey)
	})
}

// TestGatewayServesDoubleSlashPaths: Python's azure-ai-textanalytics-authoring
// 1.0.0b1 async client (and the 6.0.0b1 runtime one) sends //language/...
// when its endpoint ends in "/", and Azure answers 202; so does the gateway,
// which sends the region the one-slash path.
func TestGatewayServesDoubleSlashPaths(t *testing.T) {
	for name, key := range map[string]string{
		"authoring-export-doubleslash-2025-05-15-preview":   testAuthorKey,
		"runtime-custom-ner-doubleslash-2025-11-15-preview": testGatewayKey,
	} {
		t.Run(name, func(t *testing.T) {
			c := loadConversation(t, name)
			require.True(t, strings.HasPrefix(c.Entries[0].PathAndQuery(), "//language/"), "the recording's client sent //language")
			rp := replayThroughGateway(t, c, key)
			require.NotEmpty(t, rp.Paths())
			assert.True(t, strings.HasPrefix(rp.Paths()[0], "/language/"), "the region got %s", rp.Paths()[0])
		})
	}
}

// TestGatewayRefusesAWrongKeyAsAzureDoes: the gateway's own 401 is the
// front door's, body and headers (runtime-401-2022-10-01-preview). Azure's
// carries an apim-request-id, the id of the region's request; the
// gateway's refusal reached no region.
func TestGatewayRefusesAWrongKeyAsAzureDoes(t *testing.T) {
	c := loadConversation(t, "runtime-401-2022-10-01-preview")
	e := c.Entries[0]
	gw := startGateway(t)
	for _, key := range []string{"wrong-gateway-key-8c2e", ""} {
		resp, body := gw.do(t, e.RequestMethod, gw.URL+e.PathAndQuery(), e.RequestBodyBytes(), key)
		require.Equal(t, e.StatusCode, resp.StatusCode)
		assert.JSONEq(t, string(e.ResponseBodyBytes()), string(body))
		assert.Equal(t, e.ResponseHeaders["Content-Type"], resp.Header.Get("Content-Type"))
		assert.Empty(t, resp.Header.Get("x-ms-error-code"), "Azure's 401 has none")
	}
	resp, body := gw.do(t, http.MethodGet, "//language/authoring/analyze-text/projects?api-version=2023-04-01", nil, "wrong-key-3f9a")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a // path meets the key check too")
	assert.JSONEq(t, string(e.ResponseBodyBytes()), string(body))
	assert.Equal(t, api.CodeFrontDoorUnauthorized, assertAzureError(t, body).Code)
}
