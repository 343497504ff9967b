package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/emulator"
	"nergateway/internal/testkit/nertest"
)

// This file drives the gateway with Azure's own JavaScript SDK,
// @azure/ai-language-text, pinned in testdata/jssdk/package.json and
// package-lock.json. The test installs it with npm the first time (CI has
// Node.js and npm; a machine without them fails the test, it never skips).
// testdata/jssdk/run.mjs is the client: it submits a custom NER batch,
// polls it to the end, pages through it, and cancels a second batch, then
// prints what it saw as JSON.

const (
	jsSDKDir = "testdata/jssdk"
	// jsSDKJobDuration is how long a job takes in the emulated regions:
	// long enough that the SDK polls several times and that its cancel
	// finds the job still running after a pause between submit and poll.
	jsSDKJobDuration = 2 * time.Second
	// jsReferenceKey is the key of the reference region that answers the
	// same job without any gateway; it is no key of the gateway's regions.
	jsReferenceKey = "reference-region-key-jssdk"
)

// jsDocuments is the batch the SDK submits: more documents than one page of
// two, non-ASCII text, and an emoji (two UTF-16 code units, one text
// element) in front of entities, so offsets in the wrong unit show.
var jsDocuments = []api.Document{
	{ID: "1", Language: "en", Text: "Contoso signs the lease in Köln."},
	{ID: "2", Language: "en", Text: "Fabrikam and Contoso meet in São Paulo."},
	{ID: "3", Language: "en", Text: "🙂 Fabrikam verklagt Contoso in Köln, nicht in São Paulo."},
	{ID: "4", Language: "en", Text: "Nothing to find here."},
	{ID: "5", Language: "en", Text: "Köln — Contoso — Köln."},
}

// What run.mjs prints.
type sdkEntity struct {
	Text            string  `json:"text"`
	Category        string  `json:"category"`
	Offset          int     `json:"offset"`
	Length          int     `json:"length"`
	ConfidenceScore float64 `json:"confidenceScore"`
	TextAtOffset    string  `json:"textAtOffset"`
}

type sdkAnalyze struct {
	JobID           string                 `json:"jobId"`
	OperationStatus string                 `json:"operationStatus"`
	ServiceStatus   string                 `json:"serviceStatus"`
	Pages           int                    `json:"pages"`
	PageSizes       []int                  `json:"pageSizes"`
	Documents       map[string][]sdkEntity `json:"documents"`
}

type sdkCancel struct {
	JobID              string `json:"jobId"`
	StatusBeforeCancel string `json:"statusBeforeCancel"`
	PollError          string `json:"pollError"`
	OperationStatus    string `json:"operationStatus"`
	ServiceStatus      string `json:"serviceStatus"`
}

type sdkExchange struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	Error   string            `json:"error"`
}

type sdkSummary struct {
	Steps struct {
		Analyze *sdkAnalyze `json:"analyze"`
		Cancel  *sdkCancel  `json:"cancel"`
	} `json:"steps"`
	Requests []sdkExchange `json:"requests"`
}

type sdkEvent struct {
	Event  string `json:"event"`
	Step   string `json:"step"`
	JobID  string `json:"jobId"`
	Status string `json:"status"`
}

var jsSDKInstall struct {
	once sync.Once
	node string
	err  error
}

// jsSDK returns the node binary, after installing the SDK with npm if
// node_modules is missing or older than the lock file.
func jsSDK(t *testing.T) string {
	t.Helper()
	jsSDKInstall.once.Do(func() { jsSDKInstall.node, jsSDKInstall.err = installJSSDK() })
	require.NoError(t, jsSDKInstall.err)
	return jsSDKInstall.node
}

func installJSSDK() (string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", errors.New("node is not on PATH: this test drives the gateway with Azure's JavaScript SDK and needs Node.js >= 20 and npm (CI installs them)")
	}
	if v, err := exec.Command(node, "-p", "process.versions.node").Output(); err != nil {
		return "", fmt.Errorf("running %s: %w", node, err)
	} else if major, _, _ := strings.Cut(strings.TrimSpace(string(v)), "."); nodeMajor(major) < 20 {
		return "", fmt.Errorf("node %s is too old: Azure's JavaScript SDK packages need Node.js >= 20", strings.TrimSpace(string(v)))
	}
	lock, err := os.Stat(filepath.Join(jsSDKDir, "package-lock.json"))
	lockExists := err == nil
	// npm writes node_modules/.package-lock.json last, so its presence
	// means a finished install; older than the lock means a stale one.
	if hidden, err := os.Stat(filepath.Join(jsSDKDir, "node_modules", ".package-lock.json")); err == nil &&
		(!lockExists || !hidden.ModTime().Before(lock.ModTime())) {
		if _, err := os.Stat(filepath.Join(jsSDKDir, "node_modules", "@azure", "ai-language-text", "package.json")); err == nil {
			return node, nil
		}
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", errors.New("npm is not on PATH: this test installs Azure's JavaScript SDK with npm (CI has it)")
	}
	args := []string{"ci"}
	if !lockExists {
		args = []string{"install"}
	}
	args = append(args, "--no-audit", "--no-fund", "--loglevel=error")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, args...)
	cmd.Dir = jsSDKDir
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("npm %s in %s: %w\n%s", strings.Join(args, " "), jsSDKDir, err, out)
	}
	return node, nil
}

// nodeMajor parses a major version, -1 when it is not a number.
func nodeMajor(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// runJSSDK runs one step of run.mjs against the gateway. With onSubmitted,
// the script stops after each submit (beginAnalyzeBatch has sent the job and
// polled it once) and goes on when onSubmitted returns.
func runJSSDK(t *testing.T, gw *testGateway, step string, onSubmitted func(sdkEvent), env ...string) sdkSummary {
	t.Helper()
	node := jsSDK(t)
	// Opening the script also puts it into go test's cache key.
	_, err := os.ReadFile(filepath.Join(jsSDKDir, "run.mjs"))
	require.NoError(t, err)
	docs, err := json.Marshal(jsDocuments)
	require.NoError(t, err)

	// Long enough for TestJavaScriptSDKPollerThroughAnOutage's 30 s outage.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "run.mjs")
	cmd.Dir = jsSDKDir
	// Only what the script needs: the gateway and its key, never a region
	// key; no proxy variables, so the SDK talks to loopback directly.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"GATEWAY_URL=" + gw.URL,
		"GATEWAY_KEY=" + testGatewayKey,
		"PROJECT=" + testProject,
		"DEPLOYMENT=" + testDeployment,
		"STEP=" + step,
		"DOCUMENTS=" + string(docs),
		"POLL_INTERVAL_MS=100",
	}
	if onSubmitted != nil {
		cmd.Env = append(cmd.Env, "PAUSE_AFTER_SUBMIT=1")
	}
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	waited := false
	defer func() {
		if !waited {
			cancel()
			_ = cmd.Wait()
		}
	}()

	var out bytes.Buffer
	var last string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		var ev sdkEvent
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Event != "" {
			require.Equal(t, "submitted", ev.Event, "unexpected event: %s", line)
			require.NotNil(t, onSubmitted, "the script paused without being asked to")
			onSubmitted(ev)
			_, err := io.WriteString(stdin, "go\n")
			require.NoError(t, err)
			continue
		}
		last = line
	}
	require.NoError(t, sc.Err())
	_ = stdin.Close()
	err = cmd.Wait()
	waited = true
	require.NoError(t, err, "node run.mjs (step %s) failed\nstderr:\n%s\nstdout:\n%s\ngateway logs:\n%s",
		step, stderr.String(), out.String(), gw.Logs.String())

	var sum sdkSummary
	require.NoError(t, json.Unmarshal([]byte(last), &sum), "summary line: %s\nstderr:\n%s", last, stderr.String())
	for _, x := range sum.Requests {
		t.Logf("jssdk %s: %s %s -> %d %s", step, x.Method, x.URL, x.Status, x.Error)
	}
	recordSDKTraffic(gw, sum)
	return sum
}

// recordSDKTraffic adds every response the SDK received to the suite's
// secret scan (TestMain), as the harness's own client does.
func recordSDKTraffic(gw *testGateway, sum sdkSummary) {
	rec := newTrafficRecord(gw.Primary, gw.Secondary)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, x := range sum.Requests {
		var dump strings.Builder
		fmt.Fprintf(&dump, "jssdk %s %s -> %d\n", x.Method, x.URL, x.Status)
		for k, v := range x.Headers {
			fmt.Fprintf(&dump, "%s: %s\n", k, v)
		}
		dump.WriteString(x.Body)
		rec.responses = append(rec.responses, dump.String())
	}
}

// referenceEntities is what a region's model finds in jsDocuments (in
// UTF-16 code units), asked directly, with no gateway and no SDK.
func referenceEntities(t *testing.T) map[string][]sdkEntity {
	t.Helper()
	ref := testRegion(t, "reference", jsReferenceKey, 0)
	seedTestProject(t, ref, testProject, testDeployment)
	req := api.SubmitRequest{Tasks: []api.Task{{
		Kind: api.KindCustomEntityRecognition,
		Parameters: api.TaskParameters{ProjectName: testProject, DeploymentName: testDeployment,
			StringIndexType: api.StringIndexUTF16},
	}}}
	req.AnalysisInput.Documents = jsDocuments
	body, err := json.Marshal(req)
	require.NoError(t, err)
	send := func(method, url string, body []byte) *http.Response {
		r, err := http.NewRequest(method, url, bytes.NewReader(body))
		require.NoError(t, err)
		r.Header.Set("Ocp-Apim-Subscription-Key", jsReferenceKey)
		r.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		return resp
	}
	resp := send(http.MethodPost, ref.URL+submitPath, body)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	resp = send(http.MethodGet, resp.Header.Get("Operation-Location")+"&top=25", nil)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var st api.JobState
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	require.Equal(t, api.StatusSucceeded, st.Status)
	want := map[string][]sdkEntity{}
	for _, d := range jsDocuments {
		want[d.ID] = []sdkEntity{}
	}
	for id, ents := range nertest.Entities(t, st) {
		for _, e := range ents {
			want[id] = append(want[id], sdkEntity{Text: e.Text, Category: e.Category, Offset: e.Offset,
				Length: e.Length, ConfidenceScore: e.ConfidenceScore, TextAtOffset: e.Text})
		}
	}
	return want
}

// utf16Slice is text[offset:offset+length] in UTF-16 code units.
func utf16Slice(text string, offset, length int) string {
	u := utf16.Encode([]rune(text))
	if offset < 0 || length < 0 || offset+length > len(u) {
		return fmt.Sprintf("<out of range %d+%d of %d>", offset, length, len(u))
	}
	return string(utf16.Decode(u[offset : offset+length]))
}

// checkSDKRun asserts what the SDK saw: the batch polled to succeeded and
// paged by twos through nextLink, entities as the model finds them, the
// second batch cancelled, every call on the gateway, nothing regional.
func checkSDKRun(t *testing.T, gw *testGateway, want map[string][]sdkEntity, analyze sdkSummary, cancel sdkSummary) {
	t.Helper()
	a := analyze.Steps.Analyze
	require.NotNil(t, a, "analyze step summary")
	assert.Regexp(t, uuidShape, a.JobID, "the SDK read a UUID-shaped job id")
	assert.Equal(t, "succeeded", a.OperationStatus)
	assert.Equal(t, api.StatusSucceeded, a.ServiceStatus)
	assert.Equal(t, 3, a.Pages, "five documents in pages of two")
	assert.Equal(t, []int{2, 2, 1}, a.PageSizes)
	assert.Equal(t, want, a.Documents, "the SDK's entities are the model's")
	for _, d := range jsDocuments {
		for _, e := range a.Documents[d.ID] {
			assert.Equal(t, e.Text, e.TextAtOffset, "document %s: offset/length index the JS string", d.ID)
			assert.Equal(t, e.Text, utf16Slice(d.Text, e.Offset, e.Length), "document %s: UTF-16 offsets", d.ID)
		}
	}
	require.NotEmpty(t, a.Documents["3"])
	assert.Equal(t, sdkEntity{Text: "Fabrikam", Category: "Party", Offset: 3, Length: 8, ConfidenceScore: 1, TextAtOffset: "Fabrikam"},
		a.Documents["3"][0], "after the emoji, in UTF-16 code units")

	c := cancel.Steps.Cancel
	require.NotNil(t, c, "cancel step summary")
	assert.Regexp(t, uuidShape, c.JobID)
	assert.NotEqual(t, a.JobID, c.JobID)
	assert.Equal(t, "running", c.StatusBeforeCancel, "the cancel found the job unfinished")
	assert.Equal(t, "canceled", c.OperationStatus)
	assert.Equal(t, "Operation was canceled", c.PollError)
	assert.Equal(t, api.StatusCancelled, c.ServiceStatus)

	jobs := gw.URL + "/language/analyze-text/jobs"
	counts := map[string]int{}
	for _, x := range append(append([]sdkExchange{}, analyze.Requests...), cancel.Requests...) {
		assert.Empty(t, x.Error, "%s %s", x.Method, x.URL)
		assert.True(t, strings.HasPrefix(x.URL, jobs), "the SDK called %s, not the gateway", x.URL)
		assert.Contains(t, x.URL, "api-version=2023-04-01")
		if loc, ok := x.Headers["operation-location"]; ok {
			assert.True(t, strings.HasPrefix(loc, jobs+"/"), "operation-location %q is not the gateway's", loc)
		}
		switch {
		case x.Method == http.MethodPost && strings.HasSuffix(strings.Split(x.URL, "?")[0], ":cancel"):
			counts["cancel"]++
			assert.Equal(t, jobs+"/"+c.JobID+":cancel?api-version=2023-04-01", x.URL)
			assert.Equal(t, http.StatusAccepted, x.Status)
		case x.Method == http.MethodPost:
			counts["submit"]++
			assert.Equal(t, http.StatusAccepted, x.Status)
		case x.Method == http.MethodGet:
			counts["job"]++
			assert.Equal(t, http.StatusOK, x.Status, "GET %s: %s", x.URL, x.Body)
			if strings.Contains(x.URL, "skip=") {
				counts["nextLink"]++
				assert.Contains(t, x.URL, "/jobs/"+a.JobID+"?", "a nextLink of the analyzed job")
			}
		}
	}
	assert.Equal(t, 2, counts["submit"])
	assert.Equal(t, 1, counts["cancel"])
	assert.Equal(t, 2, counts["nextLink"], "pages 2 and 3 came from the gateway's nextLinks")

	// The regions: the secondary did all of it, the primary none.
	assert.Equal(t, 2, gw.Secondary.Calls("submit"))
	assert.Equal(t, 1, gw.Secondary.Calls("cancel"))
	assert.Equal(t, counts["job"], gw.Secondary.Calls("job"), "every poll and page reached the secondary once")
	assert.Zero(t, gw.Primary.Calls("submit"))
	assert.Zero(t, gw.Primary.Calls("job"), "no poll or page went to the primary")
	assert.Zero(t, gw.Primary.Calls("cancel"))
}

// TestJavaScriptSDKThroughFailover drives the gateway with Azure's
// JavaScript SDK while the primary is down: a custom NER batch submitted,
// polled to the end and paged, and a second one cancelled.
func TestJavaScriptSDKThroughFailover(t *testing.T) {
	jsSDK(t)
	want := referenceEntities(t)
	regions := func(t *testing.T) (*emulator.Server, *emulator.Server) {
		primary := testRegion(t, "westus2", testPrimaryKey, jsSDKJobDuration)
		secondary := testRegion(t, "eastus", testSecondaryKey, jsSDKJobDuration)
		seedTestProject(t, primary, testProject, testDeployment)
		seedTestProject(t, secondary, testProject, testDeployment)
		return primary, secondary
	}

	t.Run("primary refusing", func(t *testing.T) {
		// No probes: the breaker stays closed, so each submit tries the
		// refusing primary and fails over within the same request.
		primary, secondary := regions(t)
		gw := startGatewayWith(t, primary, secondary, withEnv("HEALTH_PROBE_INTERVAL", "1h", "BREAKER_OPEN_TIMEOUT", "1h"))
		primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})

		analyze := runJSSDK(t, gw, "analyze", nil)
		cancel := runJSSDK(t, gw, "cancel", nil)
		checkSDKRun(t, gw, want, analyze, cancel)
		// Both submits tried the primary first (a breaker that opens resets
		// its counts, so count the recorded client-call failures).
		st := gw.regionStatus(t, "westus2")
		recent, _ := st["recentFailures"].([]any)
		clientFailures := 0
		for _, f := range recent {
			if f, ok := f.(map[string]any); ok && f["reason"] == "connection_error" && f["probe"] != true {
				clientFailures++
			}
		}
		assert.Equal(t, 2, clientFailures, "both submits tried the refusing primary first: %v", st)
	})

	t.Run("primary back between submit and poll", func(t *testing.T) {
		// Probes every 50ms: the primary's breaker opens while it is down
		// and closes again once it is back, so it takes new traffic while
		// the SDK still polls, pages and cancels jobs the secondary owns.
		primary, secondary := regions(t)
		gw := startGatewayWith(t, primary, secondary)
		breaker := func(state string) func() bool {
			return func() bool { return gw.regionStatus(t, "westus2")["breaker"] == state }
		}
		primaryBack := func(ev sdkEvent) {
			assert.Regexp(t, uuidShape, ev.JobID)
			primary.ClearFaults()
			eventually(t, "a probe to close the primary's breaker", breaker("closed"))
		}

		primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})
		eventually(t, "probes to open the primary's breaker", breaker("open"))
		analyze := runJSSDK(t, gw, "analyze", primaryBack)

		primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})
		eventually(t, "probes to open the primary's breaker", breaker("open"))
		cancel := runJSSDK(t, gw, "cancel", primaryBack)

		checkSDKRun(t, gw, want, analyze, cancel)
		// The primary was serving all along the SDK's polls: new work goes there.
		gw.submit(t, probeText)
		assert.Equal(t, 1, primary.Calls("submit"), "a new submit goes to the recovered primary")
	})
}

// TestJavaScriptSDKPollerCompletesARescuedJob: the primary accepts the
// SDK's batch and dies before it finishes; the SDK's poller keeps polling
// the same job id (calm answers until the rescue is due) and completes it
// from the secondary, where the gateway rescued it.
func TestJavaScriptSDKPollerCompletesARescuedJob(t *testing.T) {
	jsSDK(t)
	want := referenceEntities(t)
	primary := testRegion(t, "westus2", testPrimaryKey, time.Hour) // never finishes
	secondary := testRegion(t, "eastus", testSecondaryKey, jsSDKJobDuration)
	seedTestProject(t, primary, testProject, testDeployment)
	seedTestProject(t, secondary, testProject, testDeployment)
	gw := startGatewayWith(t, primary, secondary,
		withEnv(rescueTestEnv("memory")...))

	var submitted string
	primaryDies := func(ev sdkEvent) {
		submitted = ev.JobID
		primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})
	}
	sum := runJSSDK(t, gw, "analyze", primaryDies, "MAX_RETRIES=3")
	a := sum.Steps.Analyze
	require.NotNil(t, a)
	assert.Equal(t, submitted, a.JobID, "the poller finished the job it submitted")
	assert.Equal(t, "succeeded", a.OperationStatus)
	assert.Equal(t, api.StatusSucceeded, a.ServiceStatus)
	assert.Equal(t, []int{2, 2, 1}, a.PageSizes, "pages through the rescued job's nextLinks")
	assert.Equal(t, want, a.Documents, "the rescued job's entities are the model's")
	calm := 0
	for _, x := range sum.Requests {
		assert.True(t, strings.HasPrefix(x.URL, gw.URL+"/language/analyze-text/jobs"), "the SDK called %s", x.URL)
		if x.Method == http.MethodGet {
			assert.Equal(t, http.StatusOK, x.Status, "GET %s: %s", x.URL, x.Body)
		}
		if x.Method == http.MethodGet && x.Status == http.StatusOK && x.Headers["apim-request-id"] == "" {
			calm++ // the gateway's calm answer (a region's carries its request id)
			assert.NotEmpty(t, x.Headers["retry-after"], "a calm answer without Retry-After: %s", x.Body)
		}
		if x.Method == http.MethodGet && x.Status == http.StatusOK && strings.Contains(x.Body, `"jobId"`) {
			assert.Contains(t, x.Body, `"jobId":"`+submitted+`"`, "every job body names the client's job")
		}
	}
	assert.Positive(t, calm, "the poller met the outage (calm answers with Retry-After) before the rescue")
	assert.Equal(t, 1, primary.Calls("submit"))
	assert.Equal(t, 1, secondary.Calls("submit"), "one resubmit: the rescue")
}

// TestJavaScriptSDKPollerThroughAnOutage: the primary accepts the SDK's
// batch and then refuses every connection for 30 s. With rescue off and
// the SDK's retries off, its poller gets calm answers (200, the status its
// last real poll read, with Retry-After) all through the outage and
// completes the job from the primary once it is back, without raising.
func TestJavaScriptSDKPollerThroughAnOutage(t *testing.T) {
	const outage = 30 * time.Second
	jsSDK(t)
	want := referenceEntities(t)
	primary := testRegion(t, "westus2", testPrimaryKey, jsSDKJobDuration)
	secondary := testRegion(t, "eastus", testSecondaryKey, jsSDKJobDuration)
	seedTestProject(t, primary, testProject, testDeployment)
	seedTestProject(t, secondary, testProject, testDeployment)
	gw := startGatewayWith(t, primary, secondary)

	var submitted string
	var down time.Time
	primaryDown := func(ev sdkEvent) {
		submitted, down = ev.JobID, time.Now()
		primary.SetFault(emulator.Fault{Down: emulator.DownRefuse})
		back := time.AfterFunc(outage, primary.ClearFaults)
		t.Cleanup(func() { back.Stop() })
	}
	sum := runJSSDK(t, gw, "analyze", primaryDown)
	a := sum.Steps.Analyze
	require.NotNil(t, a)
	assert.Equal(t, submitted, a.JobID)
	assert.Equal(t, "succeeded", a.OperationStatus)
	assert.Equal(t, api.StatusSucceeded, a.ServiceStatus)
	assert.Equal(t, []int{2, 2, 1}, a.PageSizes)
	assert.Equal(t, want, a.Documents, "the primary's entities, after the outage")
	calm, last := 0, time.Time{}
	for _, x := range sum.Requests {
		assert.Empty(t, x.Error, "%s %s", x.Method, x.URL)
		if x.Method != http.MethodGet {
			continue
		}
		assert.Equal(t, http.StatusOK, x.Status, "GET %s: %s", x.URL, x.Body)
		if x.Headers["apim-request-id"] == "" { // the gateway's calm answer (a region's carries its request id)
			calm++
			assert.Regexp(t, `"status":"(notStarted|running)"`, x.Body, "what the last real poll said")
			assert.Contains(t, x.Body, `"jobId":"`+submitted+`"`)
			assert.NotEmpty(t, x.Headers["retry-after"], "a calm answer without Retry-After: %s %v", x.Body, x.Headers)
		}
	}
	last = time.Now()
	assert.GreaterOrEqual(t, last.Sub(down), outage, "the job finished after the outage")
	assert.Greater(t, calm, 5, "the poller kept polling through the outage")
	assert.Zero(t, secondary.Calls("submit"), "rescue is off")
	t.Logf("%d calm answers over the %v outage", calm, outage)
}
