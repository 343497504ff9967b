package gateway

// Hostile input: each table sends what a broken or malicious client might,
// checks the answer (an Azure-shaped error from the gateway, or the
// region's own answer passed through where the client is at fault), and
// then checks that the gateway still serves a good request.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/emulator"
)

// assertAzureError checks that body is Azure's error envelope with a code
// and a message, the shape SDKs parse.
func assertAzureError(t *testing.T, body []byte, msgAndArgs ...any) api.Error {
	t.Helper()
	var e api.ErrorResponse
	require.NoError(t, json.Unmarshal(body, &e), "not JSON: %q %v", body, msgAndArgs)
	assert.NotEmpty(t, e.Error.Code, "error code: %s %v", body, msgAndArgs)
	assert.NotEmpty(t, e.Error.Message, "error message: %s %v", body, msgAndArgs)
	return e.Error
}

// stillServes submits a job and polls it to success.
func stillServes(t *testing.T, gw *testGateway) {
	t.Helper()
	assertEntities(t, gw.wait(t, gw.submit(t, probeText)))
}

// totalCalls is every call a region received, except health probes.
func totalCalls(s *emulator.Server) int {
	n := 0
	for route, c := range s.AllCalls() {
		if route != "listProjects" {
			n += c
		}
	}
	return n
}

// rawExchange writes req on a fresh connection and returns the status line
// and whatever followed, until the server closes or 3 s pass.
func rawExchange(t *testing.T, addr, req string) (status string, rest string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(3*time.Second)))
	_, err = io.WriteString(conn, req)
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	status, _ = br.ReadString('\n')
	b, _ := io.ReadAll(br)
	return strings.TrimSpace(status), string(b)
}

func TestHostileJobIDs(t *testing.T) {
	gw := startGateway(t)
	id := jobIDOf(gw.submit(t, probeText))
	// A token whose check does not match the rest: UUID-shaped, marker
	// variant, but not a token; the regions are asked about it as is.
	forged := []byte(id)
	v, err := strconv.ParseUint(id[14:15], 16, 8)
	require.NoError(t, err)
	forged[14] = "0123456789abcdef"[v^1] // flips one check bit
	for _, tt := range []struct {
		name, path string
		// local: answered by the gateway without calling a region.
		local bool
	}{
		{"dot-dot segments", "/language/analyze-text/jobs/../../authoring/analyze-text/projects", true},
		{"encoded slash", "/language/analyze-text/jobs/x%2F..%2F..%2Fauthoring%2Fanalyze-text%2Fprojects", true},
		{"encoded backslash", "/language/analyze-text/jobs/..%5C..%5Cauthoring", true},
		{"encoded dot-dot", "/language/analyze-text/jobs/%2E%2E", true},
		{"NUL", "/language/analyze-text/jobs/abc%00def", true},
		{"CRLF in the id", "/language/analyze-text/jobs/abc%0D%0AX-Injected:%201", true},
		{"space", "/language/analyze-text/jobs/abc%20def", true},
		{"percent", "/language/analyze-text/jobs/abc%25def", true},
		{"too long", "/language/analyze-text/jobs/" + strings.Repeat("a", 200), true},
		{"unicode", "/language/analyze-text/jobs/%C3%A9t%C3%A9", true},
		{"empty", "/language/analyze-text/jobs/", true},
		{"cancel of nothing", "/language/analyze-text/jobs/:cancel", true},
		{"not a job id", "/language/analyze-text/jobs/not-a-job-id", true},
		{"cancel of not a job id", "/language/analyze-text/jobs/not-a-job-id:cancel", true},
		{"authoring-style id", "/language/analyze-text/jobs/4d37982f-1111_637858368000000000", true},
		{"host in the id", "/language/analyze-text/jobs/evil.example.com", true},
		{"absolute URL in the id", "/language/analyze-text/jobs/http:%2F%2Fevil.example.com%2F", true},
		// Well-formed but unknown: every region is asked, each says 404,
		// and Azure's 404 is what the client gets.
		{"short hex id", "/language/analyze-text/jobs/0123456789abcdef", true},
		{"token with a forged check", "/language/analyze-text/jobs/" + string(forged), false},
		{"unknown v4 id", "/language/analyze-text/jobs/c0f2a446-5b5e-4a2d-9a3e-3f2a7d5b8e11", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := totalCalls(gw.Primary) + totalCalls(gw.Secondary)
			resp, body := gw.do(t, http.MethodGet, tt.path+"?api-version=2023-04-01", nil)
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s", body)
			assertAzureError(t, body)
			assert.Empty(t, resp.Header.Get("X-Injected"))
			if tt.local {
				assert.Equal(t, before, totalCalls(gw.Primary)+totalCalls(gw.Secondary), "no region was called")
			}
		})
	}
	// Traversal through the raw request line, which Go's client would not
	// send: the id is still checked, the path never reaches a region.
	before := totalCalls(gw.Primary) + totalCalls(gw.Secondary)
	addr := strings.TrimPrefix(gw.URL, "http://")
	status, rest := rawExchange(t, addr, "GET /language/analyze-text/jobs/..%2f..%2fauthoring/analyze-text/projects?api-version=2022-05-01 HTTP/1.1\r\nHost: gw\r\nOcp-Apim-Subscription-Key: "+testGatewayKey+"\r\nConnection: close\r\n\r\n")
	assert.Contains(t, status, "404", rest)
	assert.Equal(t, before, totalCalls(gw.Primary)+totalCalls(gw.Secondary))
	stillServes(t, gw)
}

func TestHostileHeaders(t *testing.T) {
	gw := startGateway(t)
	addr := strings.TrimPrefix(gw.URL, "http://")
	key := "Ocp-Apim-Subscription-Key: " + testGatewayKey + "\r\n"
	for _, tt := range []struct {
		name, req  string
		wantStatus string
	}{
		// net/http refuses these before any handler runs: the answer is
		// its plain-text 400/431 and the connection is closed. No handler
		// (and so no region) ever sees the request.
		{"bare CR in a header value", "GET /healthz HTTP/1.1\r\nHost: gw\r\nX-A: a\rX-Injected: 1\r\n\r\n", "400"},
		{"bare LF inside a header line", "GET /healthz HTTP/1.1\r\nHost: gw\r\nX-A: a\nX-Injected 1\r\n\r\n", "400"},
		{"NUL in a header value", "GET /healthz HTTP/1.1\r\nHost: gw\r\nX-A: a\x00b\r\n\r\n", "400"},
		{"space before the colon", "GET /healthz HTTP/1.1\r\nHost: gw\r\nX-A : b\r\n\r\n", "400"},
		{"two Host headers", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400"},
		{"two Content-Lengths", "POST " + submitPath + " HTTP/1.1\r\nHost: gw\r\n" + key + "Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcd", "400"},
		{"header above MaxHeaderBytes", "GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Big: " + strings.Repeat("a", 200<<10) + "\r\n\r\n", "431"},
		{"many headers above MaxHeaderBytes", "GET /healthz HTTP/1.1\r\nHost: gw\r\n" + strings.Repeat("X-Many: "+strings.Repeat("b", 100)+"\r\n", 1000) + "\r\n", "431"},
		{"CRLF in the request target", "GET /healthz\r\nX-Injected: 1 HTTP/1.1\r\nHost: gw\r\n\r\n", "400"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := totalCalls(gw.Primary) + totalCalls(gw.Secondary)
			status, rest := rawExchange(t, addr, tt.req)
			assert.Contains(t, status, tt.wantStatus, "%s", rest)
			assert.NotContains(t, rest, "X-Injected: 1\r\n")
			assert.Equal(t, before, totalCalls(gw.Primary)+totalCalls(gw.Secondary), "no region was called")
		})
	}
	// Content-Length with chunked: Transfer-Encoding wins (RFC 9112 6.1),
	// so no second request can be smuggled in the body; here the body is
	// empty and the region's own 400 for it comes back.
	t.Run("Content-Length and chunked", func(t *testing.T) {
		status, rest := rawExchange(t, addr, "POST "+submitPath+" HTTP/1.1\r\nHost: gw\r\n"+key+
			"Content-Length: 60\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
		assert.Contains(t, status, "400", rest)
		assert.NotContains(t, rest, "HTTP/1.1", "one answer, nothing smuggled")
	})
	// Header values the client library accepts but that must not steer
	// anything: the gateway keeps its own key, host and hop-by-hop rules.
	t.Run("hop-by-hop and credential headers are not forwarded", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, gw.URL+submitPath, strings.NewReader(string(chaosSubmitBody)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(api.SubscriptionKeyHeader, testGatewayKey)
		req.Header.Set("Connection", "X-Drop-Me")
		req.Header.Set("X-Drop-Me", "1")
		req.Header.Set("Authorization", "Bearer client-token")
		resp, err := gw.Client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	})
	// A query carrying CRLF stays encoded on its way upstream: the region
	// sees one (bad) api-version and answers its own 400, passed through.
	t.Run("CRLF in the query", func(t *testing.T) {
		resp, body := gw.do(t, http.MethodPost, "/language/analyze-text/jobs?api-version=2023-04-01%0D%0AX-Injected:%201", submitBody(probeText))
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", body)
		assert.Empty(t, resp.Header.Get("X-Injected"))
		assertAzureError(t, body)
		assert.Zero(t, gw.Secondary.Calls("submit"), "a client's 400 is not failed over")
	})
	stillServes(t, gw)
}

func TestHostileBodies(t *testing.T) {
	// The same bodies through the primary (relayed unchanged) and, with the
	// primary down, through the secondary with name mapping (the body is
	// scanned and rewritten): the region's answer must be the same.
	primary := testRegion(t, "westus2", testPrimaryKey, 0)
	secondary := testRegion(t, "eastus", testSecondaryKey, 0)
	seedTestProject(t, primary, testProject, testDeployment)
	seedTestProject(t, secondary, testProject+"-dr", testDeployment)
	gw := startGatewayWith(t, primary, secondary, withEnv(
		"SECONDARY_PROJECT_NAMES", testProject+":"+testProject+"-dr",
		"MAX_REQUEST_BYTES", "64KiB",
		"HEALTH_PROBE_INTERVAL", "1h"))

	good := string(chaosSubmitBody)
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	deepArr := `{"tasks":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`
	dupProject := strings.Replace(good, `"projectName":"`+testProject+`"`, `"projectName":"nope","projectName":"`+testProject+`"`, 1)
	require.NotEqual(t, good, dupProject)
	for _, tt := range []struct {
		name, contentType, body string
		want                    int
	}{
		{"invalid UTF-8 in text", "application/json", strings.Replace(good, "Contoso", "Cont\xff\xfeoso", 1), http.StatusAccepted},
		{"invalid UTF-8 in a key", "application/json", strings.Replace(good, `"tasks"`, "\"ta\xc3sks\"", 1), http.StatusBadRequest},
		{"lone surrogate escape", "application/json", strings.Replace(good, "Contoso", `Cont\ud800oso`, 1), http.StatusAccepted},
		{"deeply nested object", "application/json", deep, http.StatusBadRequest},
		{"deeply nested tasks", "application/json", deepArr, http.StatusBadRequest},
		{"duplicate projectName keys (last wins, as in Go and .NET)", "application/json", dupProject, http.StatusAccepted},
		{"not JSON", "application/json", "tasks=1&x=2", http.StatusBadRequest},
		{"truncated JSON", "application/json", good[:len(good)/2], http.StatusBadRequest},
		{"JSON array", "application/json", "[" + good + "]", http.StatusBadRequest},
		{"empty body", "application/json", "", http.StatusBadRequest},
		{"null", "application/json", "null", http.StatusBadRequest},
		{"text/plain content type", "text/plain", good, http.StatusAccepted},
		{"XML content type and body", "application/xml", "<tasks/>", http.StatusBadRequest},
		{"form content type", "application/x-www-form-urlencoded", "tasks=1", http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var direct, failedOver int
			for _, down := range []bool{false, true} {
				primary.ClearFaults()
				if down {
					primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})
				}
				subBefore := secondary.Calls("submit")
				req, err := http.NewRequest(http.MethodPost, gw.URL+submitPath, strings.NewReader(tt.body))
				require.NoError(t, err)
				req.Header.Set("Content-Type", tt.contentType)
				req.Header.Set(api.SubscriptionKeyHeader, testGatewayKey)
				resp, err := gw.Client.Do(req)
				require.NoError(t, err)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 400 {
					assertAzureError(t, body, "down=%v", down)
				}
				if down {
					failedOver = resp.StatusCode
				} else {
					direct = resp.StatusCode
					assert.Equal(t, subBefore, secondary.Calls("submit"), "a client's error is never failed over")
				}
			}
			primary.ClearFaults()
			assert.Equal(t, tt.want, direct, "through the primary")
			assert.Equal(t, direct, failedOver, "the same answer through the secondary, with names mapped")
		})
	}

	t.Run("bodies above MAX_REQUEST_BYTES", func(t *testing.T) {
		big := `{"x":"` + strings.Repeat("a", 100<<10) + `"}`
		for _, chunked := range []bool{false, true} {
			var rd io.Reader = strings.NewReader(big)
			if chunked {
				rd = io.MultiReader(strings.NewReader(big)) // no length known: sent chunked
			}
			req, err := http.NewRequest(http.MethodPost, gw.URL+submitPath, rd)
			require.NoError(t, err)
			req.Header.Set(api.SubscriptionKeyHeader, testGatewayKey)
			resp, err := gw.Client.Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "chunked=%v", chunked)
			assert.Equal(t, api.CodeRequestTooLarge, assertAzureError(t, body).Code)
		}
	})
	stillServes(t, gw)
}

func TestHostileMethodsAndVersions(t *testing.T) {
	gw := startGateway(t)
	id := jobIDOf(gw.submit(t, probeText))
	for _, tt := range []struct {
		method, path string
		want         int
		allow        string
	}{
		{http.MethodDelete, submitPath, http.StatusMethodNotAllowed, http.MethodPost},
		{http.MethodPut, submitPath, http.StatusMethodNotAllowed, http.MethodPost},
		{http.MethodGet, submitPath, http.StatusMethodNotAllowed, http.MethodPost},
		{"TRACE", submitPath, http.StatusMethodNotAllowed, http.MethodPost},
		{"PROPFIND", submitPath, http.StatusMethodNotAllowed, http.MethodPost},
		{http.MethodPost, "/language/analyze-text/jobs/" + id + "?api-version=2023-04-01", http.StatusMethodNotAllowed, http.MethodGet},
		{http.MethodDelete, "/language/analyze-text/jobs/" + id + "?api-version=2023-04-01", http.StatusMethodNotAllowed, http.MethodGet},
		{http.MethodGet, "/language/analyze-text/jobs/" + id + ":cancel?api-version=2023-04-01", http.StatusMethodNotAllowed, http.MethodPost},
		{http.MethodGet, "/language/:analyze-text?api-version=2023-04-01", http.StatusMethodNotAllowed, http.MethodPost},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, ""},
		{http.MethodDelete, gw.OpsURL + "/status", http.StatusMethodNotAllowed, ""},
		{http.MethodPut, gw.OpsURL + "/metrics", http.StatusMethodNotAllowed, ""},
		{http.MethodGet, gw.OpsURL + "/admin/replication/sync", http.StatusMethodNotAllowed, ""},
		{http.MethodGet, "/nothing-here", http.StatusNotFound, ""},
		{http.MethodGet, "/language/unknown", http.StatusNotFound, ""},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			before := totalCalls(gw.Primary) + totalCalls(gw.Secondary)
			resp, body := gw.do(t, tt.method, tt.path, nil)
			assert.Equal(t, tt.want, resp.StatusCode, "%s", body)
			assertAzureError(t, body)
			if tt.allow != "" && tt.method != "PROPFIND" {
				// (chi answers a method it does not know itself, without
				// Allow; the proxy never sees it.)
				assert.Equal(t, tt.allow, resp.Header.Get("Allow"))
			}
			assert.Equal(t, before, totalCalls(gw.Primary)+totalCalls(gw.Secondary), "no region was called")
		})
	}
	// api-version: missing or unknown is the client's fault; Azure's 4xx
	// comes back as it is, never failed over.
	for _, path := range []string{
		"/language/analyze-text/jobs",
		"/language/analyze-text/jobs?api-version=",
		"/language/analyze-text/jobs?api-version=1999-01-01",
		"/language/analyze-text/jobs/" + id,
	} {
		t.Run("api-version "+path, func(t *testing.T) {
			var body any
			if !strings.Contains(path, id) {
				body = submitBody(probeText)
			}
			method := http.MethodPost
			if body == nil {
				method = http.MethodGet
			}
			resp, data := gw.do(t, method, path, body)
			assert.GreaterOrEqual(t, resp.StatusCode, 400, "%s", data)
			assert.Less(t, resp.StatusCode, 500, "%s", data)
			assertAzureError(t, data)
			assert.Zero(t, gw.Secondary.Calls("submit"), "not failed over")
		})
	}
	stillServes(t, gw)
}

// TestHostileSlowClients: slowloris and friends cost a bounded time. The
// server's timeouts are shortened through options.limits so CI does not
// wait the production 10 s.
func TestHostileSlowClients(t *testing.T) {
	primary := testRegion(t, "westus2", testPrimaryKey, 0)
	secondary := testRegion(t, "eastus", testSecondaryKey, 0)
	seedTestProject(t, primary, testProject, testDeployment)
	seedTestProject(t, secondary, testProject, testDeployment)
	limits := &serverLimits{readHeader: 300 * time.Millisecond, read: time.Second, write: 5 * time.Second,
		idle: 500 * time.Millisecond, maxHeaderBytes: 16 << 10}
	gw := startGatewaySetup(t, gatewaySetup{primary: primary, secondary: secondary, limits: limits},
		withEnv("GATEWAY_BODY_TIMEOUT", "1s"))
	addr := strings.TrimPrefix(gw.URL, "http://")

	// closedWithin opens a connection, runs feed on it, and reports how
	// long until the server closed it.
	closedWithin := func(t *testing.T, feed func(net.Conn)) time.Duration {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		start := time.Now()
		feed(conn)
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, _ = io.Copy(io.Discard, conn) // until the server closes
		return time.Since(start)
	}
	t.Run("slowloris: headers never finish", func(t *testing.T) {
		d := closedWithin(t, func(c net.Conn) {
			_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: gw\r\n")
			for range 3 {
				time.Sleep(100 * time.Millisecond)
				_, _ = io.WriteString(c, "X-Slow: 1\r\n") // a byte now and then keeps no one alive
			}
		})
		assert.Less(t, d, 3*time.Second, "closed by ReadHeaderTimeout")
	})
	t.Run("slow body", func(t *testing.T) {
		status, _ := rawExchange(t, addr, "POST "+submitPath+" HTTP/1.1\r\nHost: gw\r\nOcp-Apim-Subscription-Key: "+testGatewayKey+"\r\nContent-Length: 1000\r\n\r\n{")
		assert.Contains(t, status, "408", "a body that does not arrive within GATEWAY_BODY_TIMEOUT")
		assert.Zero(t, primary.Calls("submit")+secondary.Calls("submit"), "a half-sent body never reaches a region")
	})
	t.Run("idle keep-alive connection", func(t *testing.T) {
		d := closedWithin(t, func(c net.Conn) {
			_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
		})
		assert.Less(t, d, 3*time.Second, "closed by IdleTimeout")
	})
	t.Run("header above the configured MaxHeaderBytes", func(t *testing.T) {
		status, _ := rawExchange(t, addr, "GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Big: "+strings.Repeat("a", 40<<10)+"\r\n\r\n")
		assert.Contains(t, status, "431")
	})
	t.Run("many slow clients do not starve a good one", func(t *testing.T) {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range 100 {
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: gw\r\n")
			conns = append(conns, c)
		}
		start := time.Now()
		stillServes(t, gw)
		assert.Less(t, time.Since(start), 5*time.Second)
	})
	stillServes(t, gw)
}

// TestInflightLimit: beyond GATEWAY_MAX_INFLIGHT concurrent requests the
// gateway answers 503 with Retry-After in Azure's shape at once, without
// buffering the body or calling a region, and serves again once the
// requests in flight finish.
func TestInflightLimit(t *testing.T) {
	const limit = 4
	gw := startGateway(t, withEnv("GATEWAY_MAX_INFLIGHT", fmt.Sprint(limit), "HEALTH_PROBE_INTERVAL", "1h", "UPSTREAM_TIMEOUT", "10s"))
	gw.Primary.SetFault(emulator.Fault{LatencyMS: 2000, Routes: []string{"submit"}})
	var wg sync.WaitGroup
	for range limit {
		wg.Go(func() {
			resp, body := gw.do(t, http.MethodPost, submitPath, submitBody(probeText))
			assert.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)
		})
	}
	eventually(t, "the slow submits to reach the primary", func() bool { return gw.Primary.Calls("submit") == limit })
	for range 3 {
		resp, body := gw.do(t, http.MethodPost, submitPath, submitBody(probeText))
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", body)
		assert.Equal(t, "1", resp.Header.Get("Retry-After"))
		assert.Equal(t, api.CodeServiceUnavailable, assertAzureError(t, body).Code)
	}
	// Operational endpoints are outside the bound: probes still see the
	// gateway while it sheds load.
	resp, _ := gw.do(t, http.MethodGet, "/readyz", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	wg.Wait()
	assert.Equal(t, limit, gw.Primary.Calls("submit"), "refused requests never reached a region")
	assert.Zero(t, gw.Secondary.Calls("submit"))
	gw.Primary.ClearFaults()
	stillServes(t, gw)
}

// TestServerLimitsAreSet: every timeout of the client-facing server is set
// (a zero would mean "no limit" to net/http) and ordered sensibly.
func TestServerLimitsAreSet(t *testing.T) {
	l := defaultServerLimits
	for name, d := range map[string]time.Duration{"readHeader": l.readHeader, "read": l.read, "write": l.write, "idle": l.idle} {
		assert.Positive(t, d, name)
	}
	assert.LessOrEqual(t, l.readHeader, l.read)
	assert.Positive(t, l.maxHeaderBytes)
	assert.LessOrEqual(t, l.maxHeaderBytes, 1<<20)
}
