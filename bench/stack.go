package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"nergateway/api"
	"nergateway/emulator"
	"nergateway/internal/testkit/testtool"
)

// Targets: where the load generator sends its requests.
const (
	targetDirect = "direct"
	targetNginx  = "nginx"
	// targetFloor is bench/floor: buffer the body, swap the key, one
	// http.Transport round trip, relay. What any Go proxy pays.
	targetFloor = "net/http floor"
	// targetCaddy is Debian's Caddy with reverse_proxy: the best-known Go
	// proxy.
	targetCaddy   = "caddy"
	targetGateway = "gateway"
	// targetGatewayNoTel is the gateway with OTEL_SDK_DISABLED=true, to
	// show what its metrics cost.
	targetGatewayNoTel = "gateway, telemetry off"
	// targetGatewayTraced is the gateway sampling every request and
	// exporting the spans over OTLP/HTTP (to a sink in the bench process),
	// to show what tracing costs when it is on.
	targetGatewayTraced = "gateway, traces 100 %"
	// targetBefore and targetBeforeTraced are the gateway and its traced
	// variant run from -baseline-binary (an earlier build), so before and
	// after come from one run.
	targetBefore       = "gateway before"
	targetBeforeTraced = "gateway before, traces 100 %"
)

// targetFlags are the names -targets takes.
var targetFlags = map[string]string{
	"direct": targetDirect, "nginx": targetNginx, "floor": targetFloor, "caddy": targetCaddy,
	"gateway": targetGateway, "gateway-notel": targetGatewayNoTel, "gateway-traced": targetGatewayTraced,
}

// isGateway tells the gateway's variants apart from the other proxies.
func isGateway(target string) bool {
	switch target {
	case targetGateway, targetGatewayNoTel, targetGatewayTraced, targetBefore, targetBeforeTraced:
		return true
	}
	return false
}

// isTraced tells the targets that sample and export every request.
func isTraced(target string) bool {
	return target == targetGatewayTraced || target == targetBeforeTraced
}

// Names the stack gives the emulated project and the key clients send to a
// proxy.
const (
	projectName    = "bench"
	deploymentName = "production"
	gatewayKey     = "bench-client-key"
	apiVersion     = "2023-04-01"
	// secondaryMarker is a category only the secondary's model knows, so a
	// job's result says which region ran it (see seedFor).
	secondaryMarker = "ServedBySecondary"
)

// tools are the binaries a run needs.
type tools struct {
	gateway, emulator, floor string
	gatewayBefore            string // -baseline-binary
	nginx, caddy, wrk        external
	tmp                      string
	gatewayEnv               []string // added to the gateway's environment
	baselineEnv              []string // -baseline-env; nil: shippedEnv
	otlp                     *otlpSink
}

// shippedEnv is the Go runtime's environment in the gateway's image (the
// Dockerfile's ENV lines, which deployments/k8s repeats): every gateway
// target runs with it, so the bench measures the memory settings that
// ship. TestShippedEnvIsTheImages keeps it equal to the Dockerfile. There
// is no GOMEMLIMIT: the gateway sets its soft limit from its budget.
var shippedEnv = []string{"GODEBUG=adaptivestackstart=0"}

// buildBinaries builds the gateway, the emulator and the floor proxy into
// dir with the go command that runs the bench (the module is found from the
// working directory, the repository or its bench/ directory), static and
// without build paths as the Dockerfile builds them: a cgo build maps libc
// and the dynamic loader too, about 1.5 MiB more resident than what ships.
func buildBinaries(ctx context.Context, dir string) (gateway, emu, floor string, err error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-o", dir+string(filepath.Separator),
		"nergateway/cmd/gateway", "nergateway/cmd/emulator", "nergateway/bench/floor")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", "", "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return filepath.Join(dir, "gateway"), filepath.Join(dir, "emulator"), filepath.Join(dir, "floor"), nil
}

// stage copies a proxy binary to path, written as an image layer writes
// it, and returns path ("" stays ""). Every Go proxy runs from such a copy:
// the same binary measured 19.8 MiB of resident file pages at rest run from
// a copy and 22.4 MiB run straight from the linker's output (more of its
// pclntab mapped), so the gateway just built would otherwise be charged
// 2.6 MiB that a -baseline-binary built earlier, or the image, is not.
func stage(bin, path string) (string, error) {
	if bin == "" {
		return "", nil
	}
	src, err := os.Open(bin)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return "", fmt.Errorf("staging %s: %w", bin, err)
	}
	return path, dst.Close()
}

// external is a program from Debian's packages.
type external struct {
	path, version string
	skip          string // why it is unavailable; empty when path is set
}

// externals are the programs the bench runs beside its own, with how to
// ask their version. The bench never installs them: scripts/provision does.
var externals = []struct {
	name        string
	versionArgs []string
}{
	{"nginx", []string{"-v"}},
	{"caddy", []string{"version"}},
	{"wrk", []string{"-v"}},
}

// findExternals returns nginx, Caddy and wrk; a missing one's skip says
// so and how to install it.
func findExternals(ctx context.Context) map[string]external {
	found := map[string]external{}
	for _, e := range externals {
		p, err := testtool.Find(e.name)
		if err != nil {
			found[e.name] = external{skip: err.Error()}
			continue
		}
		out, _ := exec.CommandContext(ctx, p, e.versionArgs...).CombinedOutput()
		v, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		v = strings.TrimPrefix(v, "nginx version: nginx/")
		v = strings.TrimPrefix(strings.TrimPrefix(v, "wrk "), "debian/")
		v, _, _ = strings.Cut(v, " ")
		found[e.name] = external{path: p, version: v}
	}
	return found
}

// region is one emulator process.
type region struct {
	name, url, admin, key string
	p                     *proc
}

// trainingText holds every span the models know. The job documents reuse
// these words, so each result has entities to report and map.
const trainingText = "Contoso Pharmaceuticals hired Maria Garcia in Seattle. Fabrikam shipped the order to Lisbon."

// seedFor is the project both regions serve. The secondary's model also
// tags "Fabrikam" with secondaryMarker, so the bench can tell from a job's
// result which region ran it, per request and without polling counters.
func seedFor(secondary bool) emulator.SeedProject {
	span := func(category, text string) api.Label {
		return api.Label{Category: category, Offset: strings.Index(trainingText, text), Length: len(text)}
	}
	labels := []api.Label{
		span("Organization", "Contoso Pharmaceuticals"),
		span("Person", "Maria Garcia"),
		span("Location", "Seattle"),
		span("Location", "Lisbon"),
	}
	if secondary {
		labels = append(labels, span(secondaryMarker, "Fabrikam"))
	}
	return emulator.SeedProject{
		Name:           projectName,
		DeploymentName: deploymentName,
		Documents:      []emulator.SeedDocument{{Name: "doc1.txt", Text: trainingText, Labels: labels}},
	}
}

// startRegion starts an emulator with zero job duration and a manual clock
// (see clockTicker) and the bench project deployed.
func startRegion(ctx context.Context, t *tools, name, key string, secondary bool) (*region, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	port, aport := ports[0], ports[1]
	seed, err := json.Marshal(seedFor(secondary))
	if err != nil {
		return nil, err
	}
	seedFile := filepath.Join(t.tmp, fmt.Sprintf("seed-%s-%d.json", name, port))
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		return nil, err
	}
	r := &region{
		name:  name,
		url:   fmt.Sprintf("http://127.0.0.1:%d", port),
		admin: fmt.Sprintf("http://127.0.0.1:%d", aport),
		key:   key,
	}
	r.p, err = startProc("emulator "+name, t.emulator, []string{
		"-addr", fmt.Sprintf("127.0.0.1:%d", port), "-admin-addr", fmt.Sprintf("127.0.0.1:%d", aport),
		"-name", name, "-key", key, "-job-duration", "0", "-manual-clock", "-seed", seedFile,
	}, nil, t.tmp, syscall.SIGKILL, nil)
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, r.p, "the emulator's admin API", func() bool {
		return r.adminCall(ctx, http.MethodGet, "/_emulator/calls", "") == nil
	}); err != nil {
		r.p.stop()
		return nil, err
	}
	return r, nil
}

// adminClient talks to the emulators' admin listeners.
var adminClient = &http.Client{Timeout: 5 * time.Second}

func (r *region) adminCall(ctx context.Context, method, path, body string) error {
	_, err := r.adminDo(ctx, method, path, body)
	return err
}

func (r *region) adminDo(ctx context.Context, method, path, body string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.admin+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return b, nil
}

// calls is the emulator's request count per route.
func (r *region) calls(ctx context.Context) (map[string]int, error) {
	b, err := r.adminDo(ctx, http.MethodGet, "/_emulator/calls", "")
	if err != nil {
		return nil, err
	}
	m := map[string]int{}
	return m, json.Unmarshal(b, &m)
}

// stackOptions tune the gateway (and nginx's equivalent settings).
type stackOptions struct {
	upstreamTimeout time.Duration
	breakerFailures int
	openTimeout     time.Duration
	probeInterval   time.Duration
	// expireJobs moves the regions' clocks on (clockTicker) so the jobs
	// of a submitting load expire; without it a job lives the whole run
	// (a load that polls one job needs that).
	expireJobs bool
}

// stack is two regions and, unless the target is direct, one proxy in
// front of them. Every leg starts a fresh stack, so each proxy's peak RSS
// and the emulators' job tables start from nothing.
type stack struct {
	target             string
	primary, secondary *region
	proxy              *proc // nil for direct
	base, key          string
	ops                string // the gateway's GATEWAY_OPS_ADDR base URL (/metrics)
	breaker            *breakerLog
	stopClock          func()
}

func startStack(ctx context.Context, t *tools, target string, o stackOptions) (s *stack, err error) {
	s = &stack{target: target, breaker: &breakerLog{}}
	defer func() {
		if err != nil {
			s.close()
			s = nil
		}
	}()
	// nginx and Caddy send one key to whichever upstream they pick, so their
	// regions share a key; the gateway gets a key per region, as in
	// production.
	pk, sk := "primary-region-key", "secondary-region-key"
	if target == targetNginx || target == targetCaddy {
		pk, sk = "shared-region-key", "shared-region-key"
	}
	if s.primary, err = startRegion(ctx, t, "primary", pk, false); err != nil {
		return s, err
	}
	if s.secondary, err = startRegion(ctx, t, "secondary", sk, true); err != nil {
		return s, err
	}
	if o.expireJobs {
		s.stopClock = clockTicker(s.primary, s.secondary)
	}
	port, err := freePort()
	if err != nil {
		return s, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s.base, s.key = "http://"+addr, gatewayKey
	// A proxy is ready when a client's authoring read goes through it.
	ready := func() bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+api.AuthoringProjectsPath+"?api-version=2022-05-01", nil)
		req.Header.Set(api.SubscriptionKeyHeader, gatewayKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	switch target {
	case targetDirect:
		s.base, s.key = s.primary.url, pk
		return s, nil
	case targetGateway, targetGatewayNoTel, targetGatewayTraced, targetBefore, targetBeforeTraced:
		opsPort, err := freePort()
		if err != nil {
			return s, err
		}
		s.ops = fmt.Sprintf("http://127.0.0.1:%d", opsPort)
		env := []string{
			"GATEWAY_ADDR=" + addr,
			"GATEWAY_OPS_ADDR=" + fmt.Sprintf("127.0.0.1:%d", opsPort),
			"GATEWAY_API_KEYS=" + gatewayKey,
			"PRIMARY_ENDPOINT=" + s.primary.url, "PRIMARY_RESOURCE_KEY=" + pk,
			"SECONDARY_ENDPOINT=" + s.secondary.url, "SECONDARY_RESOURCE_KEY=" + sk,
			"UPSTREAM_TIMEOUT=" + o.upstreamTimeout.String(),
			"BREAKER_CONSECUTIVE_FAILURES=" + strconv.Itoa(o.breakerFailures),
			"BREAKER_OPEN_TIMEOUT=" + o.openTimeout.String(),
			"HEALTH_PROBE_INTERVAL=" + o.probeInterval.String(),
			"REPLICATION_ENABLED=false",
			"LOG_LEVEL=warn", "LOG_FORMAT=json",
		}
		bin, runtimeEnv := t.gateway, shippedEnv
		if target == targetBefore || target == targetBeforeTraced {
			bin = t.gatewayBefore
			if t.baselineEnv != nil {
				runtimeEnv = t.baselineEnv
			}
		}
		env = append(append(env, runtimeEnv...), t.gatewayEnv...)
		switch {
		case target == targetGatewayNoTel:
			env = append(env, "OTEL_SDK_DISABLED=true")
		case isTraced(target):
			env = append(env, "OTEL_TRACES_EXPORTER=otlp", "OTEL_TRACES_SAMPLER=always_on",
				"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf",
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="+t.otlp.url+"/v1/traces")
		}
		if s.proxy, err = startProc("gateway", bin, nil, env, t.tmp, syscall.SIGKILL, s.breaker.line); err != nil {
			return s, err
		}
		return s, waitFor(ctx, s.proxy, "the gateway's /readyz", func() bool { return httpOK(ctx, s.base+"/readyz") })
	case targetFloor:
		env := []string{"FLOOR_CLIENT_KEY=" + gatewayKey, "FLOOR_REGION_KEY=" + pk}
		if s.proxy, err = startProc("floor", t.floor, []string{"-addr", addr, "-upstream", s.primary.url}, env, t.tmp, syscall.SIGKILL, nil); err != nil {
			return s, err
		}
		return s, waitFor(ctx, s.proxy, "the floor proxy", ready)
	case targetCaddy:
		dir, err := os.MkdirTemp(t.tmp, "caddy-")
		if err != nil {
			return s, err
		}
		conf := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(conf, []byte(caddyfile(port, s.primary, s.secondary, o)), 0o600); err != nil {
			return s, err
		}
		env := []string{"XDG_DATA_HOME=" + dir, "XDG_CONFIG_HOME=" + dir}
		if s.proxy, err = startProc("caddy", t.caddy.path, []string{"run", "--config", conf, "--adapter", "caddyfile"}, env, dir, syscall.SIGKILL, nil); err != nil {
			return s, err
		}
		return s, waitFor(ctx, s.proxy, "caddy", ready)
	case targetNginx:
		dir, err := os.MkdirTemp(t.tmp, "nginx-")
		if err != nil {
			return s, err
		}
		conf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(conf, []byte(nginxConf(dir, port, s.primary, s.secondary, o)), 0o600); err != nil {
			return s, err
		}
		if s.proxy, err = startProc("nginx", t.nginx.path, []string{"-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")}, nil, dir, syscall.SIGTERM, nil); err != nil {
			return s, err
		}
		return s, waitFor(ctx, s.proxy, "nginx", ready)
	}
	return s, fmt.Errorf("unknown target %q", target)
}

func httpOK(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (s *stack) close() {
	if s.stopClock != nil {
		s.stopClock()
	}
	s.proxy.stop()
	if s.primary != nil {
		s.primary.p.stop()
	}
	if s.secondary != nil {
		s.secondary.p.stop()
	}
}

// clockTicker moves the emulators' manual clocks an hour every 80 ms, so a
// runtime job expires (24 h) about two seconds after it was created. The
// emulator scans every job it holds on every request (Emulator.settle), so
// without this its job table, and its per-request cost, grows with the
// run, and the later legs would measure the emulator instead of the proxy.
func clockTicker(regions ...*region) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(80 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				for _, r := range regions {
					_ = r.adminCall(ctx, http.MethodPost, "/_emulator/clock/advance?d=1h", "")
				}
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// nginxConf is the closest nginx equivalent of the gateway: the primary
// with the secondary as backup, the next upstream tried on the errors the
// gateway fails over on (POST included), the client key checked and the
// region key set, keep-alive to the upstreams, timeouts as the gateway's.
func nginxConf(dir string, port int, primary, secondary *region, o stackOptions) string {
	var b bytes.Buffer
	host := func(u string) string { return strings.TrimPrefix(u, "http://") }
	fmt.Fprintf(&b, `daemon off;
master_process on;
worker_processes auto;
worker_rlimit_nofile 16384;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path %[1]s/client_body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  client_max_body_size 8m;
  keepalive_requests 1000000;
  map $http_ocp_apim_subscription_key $client_key_ok { %[2]q 1; default 0; }
  upstream regions {
    server %[3]s max_fails=%[5]d fail_timeout=%[6]ds;
    server %[4]s backup;
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:%[7]d backlog=4096;
    location / {
      if ($client_key_ok = 0) { return 401; }
      proxy_pass http://regions;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Ocp-Apim-Subscription-Key %[8]q;
      proxy_next_upstream error timeout http_502 http_503 http_504 http_429 non_idempotent;
      proxy_connect_timeout %[9]dms;
      proxy_send_timeout %[9]dms;
      proxy_read_timeout %[9]dms;
    }
  }
}
`, dir, gatewayKey, host(primary.url), host(secondary.url), o.breakerFailures,
		max(1, int(o.openTimeout/time.Second)), port, primary.key, o.upstreamTimeout.Milliseconds())
	return b.String()
}

// caddyfile is Caddy's closest equivalent of the nginx configuration:
// the client key checked, the region key set, the primary first and the
// secondary when the primary is marked down (passive health checks with
// the gateway's breaker settings), keep-alive to the upstreams.
func caddyfile(port int, primary, secondary *region, o stackOptions) string {
	host := func(u string) string { return strings.TrimPrefix(u, "http://") }
	return fmt.Sprintf(`{
	admin off
	auto_https off
}
http://127.0.0.1:%[1]d {
	bind 127.0.0.1
	@badkey not header %[2]s %[3]q
	respond @badkey 401
	reverse_proxy %[4]s %[5]s {
		lb_policy first
		lb_try_duration %[6]dms
		fail_duration %[7]ds
		max_fails %[8]d
		header_up %[2]s %[9]q
		transport http {
			dial_timeout %[6]dms
			response_header_timeout %[6]dms
			keepalive_idle_conns_per_host 256
		}
	}
}
`, port, api.SubscriptionKeyHeader, gatewayKey, host(primary.url), host(secondary.url),
		o.upstreamTimeout.Milliseconds(), max(1, int(o.openTimeout/time.Second)), o.breakerFailures, primary.key)
}

// breakerLog collects the gateway's breaker transitions from its JSON log.
type breakerLog struct {
	mu     sync.Mutex
	events []breakerEvent
}

type breakerEvent struct {
	at               time.Time
	region, from, to string
}

func (l *breakerLog) line(s string) {
	var e struct {
		Time   time.Time `json:"time"`
		Msg    string    `json:"msg"`
		Region string    `json:"region"`
		From   string    `json:"from"`
		To     string    `json:"to"`
	}
	if json.Unmarshal([]byte(s), &e) != nil || e.Msg != "region breaker changed state" {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, breakerEvent{at: e.Time, region: e.Region, from: e.From, to: e.To})
}

// first returns the first transition of region to state at or after t.
func (l *breakerLog) first(region, to string, after time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.region == region && e.to == to && !e.at.Before(after) {
			return e.at, true
		}
	}
	return time.Time{}, false
}
