package gateway

// The attack figures of docs/reliability.md, measured against the gateway
// binary (its own process, so its peak RSS is its own):
//
//	go test ./gateway -run TestAttackFigures -attack.figures -v
//
// It prints the markdown table docs/reliability.md shows. Without the
// flag it does nothing; attack_test.go runs the same attacks in process as
// regular tests.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/internal/testkit/loopback"
	"nergateway/internal/testkit/syncbuf"
)

var attackFigures = flag.Bool("attack.figures", false, "measure issue 10's attacks against the gateway binary and print docs/reliability.md's table")

// figureGateway is the gateway binary serving in its own process.
type figureGateway struct {
	cmd       *exec.Cmd
	url, ops  string
	addr      string
	exited    chan struct{}
	keyOther  string
	logs      *syncbuf.Buffer
	terminate func()
}

func startFigureGateway(t *testing.T, bin, primary, secondary string, env ...string) *figureGateway {
	t.Helper()
	addrs := loopback.FreeAddrs(t, 2)
	g := &figureGateway{addr: addrs[0], keyOther: "second-gateway-key-9e21", logs: &syncbuf.Buffer{}, exited: make(chan struct{})}
	ops := addrs[1]
	g.url, g.ops = "http://"+g.addr, "http://"+ops
	g.cmd = exec.Command(bin)
	g.cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"GATEWAY_ADDR=" + g.addr,
		"GATEWAY_OPS_ADDR=" + ops,
		"GATEWAY_API_KEYS=" + testGatewayKey + "," + g.keyOther,
		"GATEWAY_AUTHORING_KEYS=" + testAuthorKey,
		"PRIMARY_NAME=westus2",
		"SECONDARY_NAME=eastus",
		"PRIMARY_ENDPOINT=" + primary,
		"PRIMARY_RESOURCE_KEY=" + testPrimaryKey,
		"SECONDARY_ENDPOINT=" + secondary,
		"SECONDARY_RESOURCE_KEY=" + testSecondaryKey,
		"OTEL_SDK_DISABLED=true",
		"LOG_LEVEL=warn",
		// No GOMEMLIMIT, as the image and the Kubernetes kit ship it: the
		// gateway sets the soft limit from its budget itself.
	}, env...)
	g.cmd.Stdout, g.cmd.Stderr = io.Discard, g.logs
	require.NoError(t, g.cmd.Start())
	go func() { _ = g.cmd.Wait(); close(g.exited) }()
	g.terminate = func() {
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.exited:
		case <-time.After(30 * time.Second):
			_ = g.cmd.Process.Kill()
			<-g.exited
		}
	}
	t.Cleanup(g.terminate)
	eventually(t, "the gateway binary to serve", func() bool { return answers(g.url+"/readyz", http.StatusOK) })
	return g
}

// peakRSS is the process's high-water resident set (VmHWM), in MiB.
func (g *figureGateway) peakRSS(t *testing.T) float64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", g.cmd.Process.Pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			require.NoError(t, err)
			return float64(kb) / 1024
		}
	}
	require.FailNow(t, "no VmHWM")
	return 0
}

func TestAttackFigures(t *testing.T) {
	if !*attackFigures {
		t.Skip("a measurement, not a check: run with -attack.figures (attack_test.go holds the checks)")
	}
	bin := buildGateway(t)
	const budgetMiB = 128 // GATEWAY_MAX_BUFFERED_BYTES's default
	var rows []string
	row := func(attack, figure, target string) {
		rows = append(rows, "| "+attack+" | "+figure+" | "+target+" |")
	}

	sink := sinkRegion(t)
	t.Run("200 concurrent 4 MiB bodies", func(t *testing.T) {
		g := startFigureGateway(t, bin, sink, sink)
		statuses, _ := bigBodies(g, 200, 4<<20)
		rss := g.peakRSS(t)
		row("200 concurrent 4 MiB bodies", fmt.Sprintf("peak RSS %.0f MiB; answers %s", rss, describe(statuses)),
			fmt.Sprintf("< %d MiB (budget + 96 MiB)", budgetMiB+96))
	})
	t.Run("200 concurrent 4 MiB bodies, 64 MiB budget", func(t *testing.T) {
		g := startFigureGateway(t, bin, sink, sink, "GATEWAY_MAX_BUFFERED_BYTES=64MiB")
		statuses, _ := bigBodies(g, 200, 4<<20)
		rss := g.peakRSS(t)
		row("200 concurrent 4 MiB bodies, `GATEWAY_MAX_BUFFERED_BYTES=64MiB`", fmt.Sprintf("peak RSS %.0f MiB; answers %s", rss, describe(statuses)),
			"< 160 MiB (budget + 96 MiB)")
	})
	t.Run("300 never-polled 1 MiB submits with JOB_RESCUE=memory", func(t *testing.T) {
		f := floodRescueStore(t, bin)
		evicted := metricValue(t, f.g.ops, "gateway_rescue_uncovered_total", `reason="evicted"`)
		freshRescued, oldestResubmitted := f.primaryDies(t)
		yes := map[bool]string{true: "yes", false: "no"}
		row(fmt.Sprintf("%d never-polled ~1 MiB submits from one key, `JOB_RESCUE=memory` (`JOB_RESCUE_MAX_BYTES` 64 MiB), then the primary down", rescueFloodJobs),
			fmt.Sprintf("peak RSS %.0f MiB; answers %s; %.0f oldest uncovered (`evicted`); freshest rescued: %s; oldest resubmitted: %s",
				f.rss, describe(f.statuses), evicted, yes[freshRescued], yes[oldestResubmitted]),
			"< 256 MiB; all `202`; freshest rescued, oldest not")
	})
	t.Run("hostile key files", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "api-keys")
		require.NoError(t, os.WriteFile(path, []byte(testGatewayKey+"\n"), 0o600))
		g := startFigureGateway(t, bin, sink, sink, "GATEWAY_API_KEYS=", "GATEWAY_API_KEYS_FILE="+path)
		random := filepath.Join(dir, "random")
		rf, err := os.Create(random)
		require.NoError(t, err)
		_, err = io.Copy(rf, io.LimitReader(rand.Reader, 50<<20))
		require.NoError(t, err)
		require.NoError(t, rf.Close())
		empty := filepath.Join(dir, "empty")
		require.NoError(t, os.WriteFile(empty, nil, 0o600))
		line := filepath.Join(dir, "line")
		require.NoError(t, os.WriteFile(line, append(bytes.Repeat([]byte("k"), 10<<20), '\n'), 0o600))
		kept := 0
		for _, target := range []string{random, "/dev/zero", empty, line} {
			tmp := path + ".new"
			require.NoError(t, os.Symlink(target, tmp))
			require.NoError(t, os.Rename(tmp, path)) // as a Secret volume swaps its files
			time.Sleep(2500 * time.Millisecond)      // two re-reads
			req, _ := http.NewRequest(http.MethodPost, g.url+submitPath, strings.NewReader(string(chaosSubmitBody)))
			req.Header.Set(api.SubscriptionKeyHeader, testGatewayKey)
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					kept++
				}
			}
		}
		rss := g.peakRSS(t)
		row("`GATEWAY_API_KEYS_FILE` replaced in turn by 50 MB of random bytes, a symlink to `/dev/zero`, an empty file, one 10 MB line",
			fmt.Sprintf("the current key still accepted after %d of 4; peak RSS %.0f MiB; %d warnings", kept, rss, strings.Count(g.logs.String(), "keeping the current keys")),
			"4 of 4; memory flat")
	})
	t.Run("1,000 header-only 8 MiB Content-Lengths", func(t *testing.T) {
		g := startFigureGateway(t, bin, sink, sink)
		holdBodies(t, g.addr, 1000, 8<<20, nil)
		time.Sleep(time.Second)
		req, _ := http.NewRequest(http.MethodPost, g.url+submitPath, bigSubmit(1<<10))
		req.Header.Set(api.SubscriptionKeyHeader, g.keyOther)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		rss := g.peakRSS(t)
		row("1,000 header-only 8 MiB `Content-Length`s", fmt.Sprintf("peak RSS %.0f MiB; another request meanwhile: %d (the sink region's answer)", rss, resp.StatusCode),
			fmt.Sprintf("< %d MiB", budgetMiB+96))
	})

	primary := testRegion(t, "westus2", testPrimaryKey, 0)
	secondary := testRegion(t, "eastus", testSecondaryKey, 0)
	seedTestProject(t, primary, testProject, testDeployment)
	seedTestProject(t, secondary, testProject, testDeployment)
	t.Run("/metrics after 3,000 Hosts and 500 methods", func(t *testing.T) {
		g := startFigureGateway(t, bin, primary.URL, secondary.URL)
		send := func(method, host string) {
			req, _ := http.NewRequest(method, g.url+"/language/analyze-text/jobs/not-a-job-id", nil)
			req.Host = host
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		size := func() int {
			resp, err := http.Get(g.ops + "/metrics")
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return len(b)
		}
		send(http.MethodGet, "warm-up.example")
		send("WARMUP", "warm-up.example")
		before := size()
		for i := range 3000 {
			send(http.MethodGet, fmt.Sprintf("h%d.attacker.example:%d", i, 1024+i))
		}
		for i := range 500 {
			send("M"+strconv.Itoa(i), "attacker.example")
		}
		after := size()
		row("3,000 distinct `Host`s and 500 made-up methods, no key", fmt.Sprintf("`/metrics` %d → %d bytes (%+.1f %%)", before, after, 100*float64(after-before)/float64(before)), "< 5 %")
	})
	t.Run("a second key during 100 trickling bodies", func(t *testing.T) {
		g := startFigureGateway(t, bin, primary.URL, secondary.URL, "GATEWAY_MAX_INFLIGHT=50")
		holdBodies(t, g.addr, 100, 1000, func(c net.Conn) { _, _ = io.WriteString(c, " ") })
		time.Sleep(500 * time.Millisecond)
		accepted := 0
		for range 50 {
			req, _ := http.NewRequest(http.MethodPost, g.url+submitPath, strings.NewReader(string(chaosSubmitBody)))
			req.Header.Set(api.SubscriptionKeyHeader, g.keyOther)
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					accepted++
				}
			}
		}
		row("100 bodies trickling from one key (`GATEWAY_MAX_INFLIGHT=50`)", fmt.Sprintf("second key: %d of 50 submits `202`", accepted), "all `202`")
	})
	t.Run("probe 429 with a 2099 date", func(t *testing.T) {
		const maxPark, probeEvery = 5 * time.Second, time.Second
		var probes atomic.Int64
		var first429 atomic.Int64 // unix nanos
		// Every authoring read answers 429 (2099) until the cap has
		// passed: the worst a region can do.
		front := throttlingFront(t, primary.URL, func(r *http.Request) bool {
			if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/language/authoring/") {
				return false
			}
			if r.URL.Query().Get("top") == "1" {
				probes.Add(1)
			}
			if t0 := first429.Load(); t0 == 0 || time.Since(time.Unix(0, t0)) < maxPark {
				first429.CompareAndSwap(0, time.Now().UnixNano())
				return true
			}
			return false
		})
		before := primary.Calls("submit")
		g := startFigureGateway(t, bin, front.URL, secondary.URL, "REGION_MAX_PARK="+maxPark.String(), "HEALTH_PROBE_INTERVAL="+probeEvery.String())
		eventually(t, "a probe 429", func() bool { return first429.Load() != 0 })
		t0 := time.Unix(0, first429.Load())
		// Runtime: submits go on at the primary while authoring reads are parked.
		for range 5 {
			req, _ := http.NewRequest(http.MethodPost, g.url+submitPath, strings.NewReader(string(chaosSubmitBody)))
			req.Header.Set(api.SubscriptionKeyHeader, testGatewayKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
		}
		atPrimary := primary.Calls("submit") - before
		// Authoring reads: served again once the capped parking is over
		// and a probe (or a call) found the quota back.
		var servedAt time.Duration
		deadline := time.Now().Add(maxPark + 5*probeEvery)
		for time.Now().Before(deadline) {
			req, _ := http.NewRequest(http.MethodGet, g.url+api.AuthoringProjectsPath+"?api-version=2022-05-01", nil)
			req.Header.Set(api.SubscriptionKeyHeader, testAuthorKey)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					servedAt = time.Since(t0)
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		require.NotZero(t, servedAt, "authoring reads never served again")
		row(fmt.Sprintf("every authoring read (probes included) answered `429`, `Retry-After` in 2099, for %s (`REGION_MAX_PARK=%s`, probes every %s)", maxPark, maxPark, probeEvery),
			fmt.Sprintf("runtime: %d of 5 submits served by the primary during it; authoring reads served again %.1f s after the first 429", atPrimary, servedAt.Seconds()),
			fmt.Sprintf("≤ %s + one probe", maxPark))
	})

	fmt.Println("| attack | measured | target |")
	fmt.Println("|---|---|---|")
	for _, r := range rows {
		fmt.Println(r)
	}
}

// describe renders status counts ("150× 400, 50× 503").
func describe(statuses map[int]int) string {
	var parts []string
	for code := range 600 {
		if n := statuses[code]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d× %d", n, code))
		}
	}
	if n := statuses[-1]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d× transport error", n))
	}
	return strings.Join(parts, ", ")
}
