package gateway

// Shutdown under load: SIGTERM (or run's context cancelled) while 100
// requests are in flight against slow regions. Readiness turns 503 first,
// every request in flight completes, and the process exits cleanly within
// GATEWAY_DRAIN_DELAY + GATEWAY_DRAIN_TIMEOUT.

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/emulator"
	"nergateway/internal/testkit/loopback"
)

const (
	shutdownInflight   = 100
	shutdownLatency    = 1500 * time.Millisecond // each submit at the region
	shutdownDrainDelay = 500 * time.Millisecond
	shutdownDrain      = 10 * time.Second
)

// shutdownLoad sends shutdownInflight submits at once and returns a
// function that waits for them and reports the statuses they got.
func shutdownLoad(client *http.Client, base string) (wait func() map[int]int) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range shutdownInflight {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodPost, base+submitPath, strings.NewReader(string(chaosSubmitBody)))
			if err != nil {
				panic(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(api.SubscriptionKeyHeader, testGatewayKey)
			status := -1
			if resp, err := client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			}
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		})
	}
	return func() map[int]int { wg.Wait(); return statuses }
}

// readyzDuringDrain polls /readyz on fresh connections until it answers
// 503 and reports whether it did while requests were still in flight.
func readyzDuringDrain(t *testing.T, base string, inflightDone *atomic.Bool) bool {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	deadline := time.Now().Add(shutdownDrainDelay + time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				return !inflightDone.Load()
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func TestShutdownUnderLoadInProcess(t *testing.T) {
	gw := startGateway(t, withEnv(
		"GATEWAY_DRAIN_DELAY", shutdownDrainDelay.String(),
		"GATEWAY_DRAIN_TIMEOUT", shutdownDrain.String(),
		"UPSTREAM_TIMEOUT", "5s",
		"LOG_LEVEL", "info"))
	gw.Primary.SetFault(emulator.Fault{LatencyMS: int(shutdownLatency / time.Millisecond), Routes: []string{"submit"}})
	wait := shutdownLoad(gw.Client, gw.URL)
	eventually(t, "every submit to be in flight at the region", func() bool { return gw.Primary.Calls("submit") == shutdownInflight })

	var inflightDone atomic.Bool
	stopped := make(chan error, 1)
	start := time.Now()
	go func() { stopped <- gw.stop() }()
	assert.True(t, readyzDuringDrain(t, gw.URL, &inflightDone), "/readyz answered 503 while the requests were in flight")

	statuses := wait()
	inflightDone.Store(true)
	assert.Equal(t, map[int]int{http.StatusAccepted: shutdownInflight}, statuses, "every request in flight completed")
	require.NoError(t, <-stopped, "run returned cleanly")
	took := time.Since(start)
	assert.Less(t, took, shutdownDrainDelay+shutdownDrain, "within the drain bound")
	assert.GreaterOrEqual(t, took, shutdownDrainDelay, "kept accepting for GATEWAY_DRAIN_DELAY")
	assert.Zero(t, gw.Secondary.Calls("submit"), "nothing failed over during the drain")

	// Stopped means stopped: the listener is gone.
	_, err := http.Get(gw.URL + "/healthz")
	assert.Error(t, err)
	logs := gw.Logs.String()
	assert.Less(t, strings.Index(logs, "gateway draining"), strings.Index(logs, "gateway stopped"))
}

// TestShutdownUnderLoadSIGTERM does the same with the real binary and a
// real signal: exit status 0.
func TestShutdownUnderLoadSIGTERM(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGTERM")
	}
	bin := buildGateway(t) // skips under -short

	primary := testRegion(t, "westus2", testPrimaryKey, 0)
	secondary := testRegion(t, "eastus", testSecondaryKey, 0)
	seedTestProject(t, primary, testProject, testDeployment)
	seedTestProject(t, secondary, testProject, testDeployment)
	primary.SetFault(emulator.Fault{LatencyMS: int(shutdownLatency / time.Millisecond), Routes: []string{"submit"}})
	rec := newTrafficRecord(primary, secondary)
	addrs := loopback.FreeAddrs(t, 2)
	addr := addrs[0]
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"GATEWAY_ADDR=" + addr,
		"GATEWAY_OPS_ADDR=" + addrs[1],
		"GATEWAY_API_KEYS=" + testGatewayKey,
		"PRIMARY_NAME=westus2",
		"SECONDARY_NAME=eastus",
		"PRIMARY_ENDPOINT=" + primary.URL,
		"PRIMARY_RESOURCE_KEY=" + testPrimaryKey,
		"SECONDARY_ENDPOINT=" + secondary.URL,
		"SECONDARY_RESOURCE_KEY=" + testSecondaryKey,
		"UPSTREAM_TIMEOUT=5s",
		"HEALTH_PROBE_INTERVAL=100ms",
		"GATEWAY_DRAIN_DELAY=" + shutdownDrainDelay.String(),
		"GATEWAY_DRAIN_TIMEOUT=" + shutdownDrain.String(),
		"OTEL_SDK_DISABLED=true",
	}
	logs := rec.newLog()
	cmd.Stdout, cmd.Stderr = rec.newLog(), logs
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	base := "http://" + addr
	client := &http.Client{Transport: recordingTransport{next: &http.Transport{}, rec: rec}, Timeout: 30 * time.Second}
	eventually(t, "the binary to serve", func() bool { return answers(base+"/readyz", http.StatusOK) })

	wait := shutdownLoad(client, base)
	eventually(t, "every submit to be in flight at the region", func() bool { return primary.Calls("submit") == shutdownInflight })
	start := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	var inflightDone atomic.Bool
	assert.True(t, readyzDuringDrain(t, base, &inflightDone), "/readyz answered 503 while the requests were in flight")
	statuses := wait()
	inflightDone.Store(true)
	assert.Equal(t, map[int]int{http.StatusAccepted: shutdownInflight}, statuses, "every request in flight completed")

	select {
	case <-exited:
		var exit *exec.ExitError
		require.False(t, errors.As(waitErr, &exit), "exit status %v\nlogs:\n%s", waitErr, logs.String())
		require.NoError(t, waitErr)
		assert.Equal(t, 0, cmd.ProcessState.ExitCode())
	case <-time.After(shutdownDrainDelay + shutdownDrain + 5*time.Second):
		require.FailNow(t, "the binary did not exit within the drain bound", "logs:\n%s", logs.String())
	}
	took := time.Since(start)
	assert.Less(t, took, shutdownDrainDelay+shutdownDrain, "within the drain bound")
	assert.Contains(t, logs.String(), "gateway stopped")
	t.Logf("SIGTERM to exit 0 with %d requests in flight: %s", shutdownInflight, took.Round(time.Millisecond))
}

// TestDrainSwitchesKeepAlivesOff: a keep-alive client that never retries
// sees no reset across a drain. Once draining starts every answer says
// Connection: close, so the client's connection ends cleanly after an
// answer instead of being closed under a request it is writing.
func TestDrainSwitchesKeepAlivesOff(t *testing.T) {
	gw := startGateway(t, withEnv("GATEWAY_DRAIN_DELAY", "2s", "LOG_LEVEL", "info"))
	stillServes(t, gw)
	conn, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	br := bufio.NewReader(conn)
	exchange := func() *http.Response {
		t.Helper()
		require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
		_, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
		require.NoError(t, err, "the request was written")
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err, "an answer, not a reset")
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	first := exchange()
	require.False(t, first.Close, "keep-alive before the drain")

	stopped := make(chan error, 1)
	go func() { stopped <- gw.stop() }()
	eventually(t, "draining", func() bool { return answers(gw.URL+"/readyz", http.StatusServiceUnavailable) })
	// The same connection, idle across the start of the drain: answered,
	// and told to close.
	second := exchange()
	assert.Equal(t, http.StatusOK, second.StatusCode)
	assert.True(t, second.Close, "Connection: close once draining")
	_, err = br.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "the gateway closed the connection after the answer")
	require.NoError(t, <-stopped)
}
