package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"nergateway/api"
	"nergateway/internal/testkit/testtool"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQuickRun is the CI smoke run of the benchmark command: it builds the
// binaries, runs every leg and every failover scenario end to end with a
// tiny load, and checks that the report came out. It asserts nothing about
// the figures (CI machines are noisy and shared), but run fails when any
// answer in a load leg was not 2xx. Without wrk it skips; without nginx or
// Caddy their legs are reported as skipped and the rest still runs (under
// CI, where scripts/provision installed them, a missing one fails).
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("the smoke run starts processes for about a minute")
	}
	testtool.Need(t, "wrk")
	if testtool.Required() {
		testtool.Need(t, "nginx")
		testtool.Need(t, "caddy")
	}
	// The bound covers building the three binaries too: on a fresh machine
	// (a cold build cache, static and -trimpath as the image builds them)
	// under load that alone took over 5 minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	t.Cleanup(cancel)
	out := filepath.Join(t.TempDir(), "results.md")
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"-quick", "-out", out}, &stdout, &stderr)
	t.Log(stderr.String())
	require.NoError(t, err, "bench -quick")
	written, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, stdout.String(), string(written), "-out differs from what was printed")
	report := stdout.String()
	for _, want := range []string{
		"### Throughput and CPU per request", "### Open loop: latency added", "### Memory at 64 connections",
		"### The issue's targets", "### Failover",
		"| polls | direct |", "| polls | nginx |", "| polls | net/http floor |", "| polls | caddy |", "| polls | gateway |",
		"| polls | gateway, telemetry off |", "| polls | gateway, traces 100 % |", "| submits | gateway |",
		"| 100 req/s | gateway |", "| gateway | ",
		"| refuse | gateway |", "| blackhole | gateway |", "| 503 | gateway |",
	} {
		assert.Contains(t, report, want, "report lacks %q", want)
	}
	// Every leg must have carried traffic, or the bench measured nothing.
	for line := range strings.SplitSeq(report, "\n") {
		if (strings.HasPrefix(line, "| polls | ") || strings.HasPrefix(line, "| submits | ")) && !strings.Contains(line, "skipped") {
			f := strings.Split(line, "|")
			assert.True(t, len(f) >= 4 && strings.TrimSpace(f[3]) != "0", "a leg served no requests: %s", line)
		}
	}
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions([]string{"-quick", "-rounds", "2", "-targets", "gateway, floor"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 2, o.rounds, "rounds: an explicit -rounds wins over -quick")
	assert.Equal(t, []string{targetGateway, targetFloor}, o.targets, "targets")
	for _, bad := range [][]string{{"-rounds", "0"}, {"-targets", "envoy"}, {"-duration", "0s"}, {"-profile-load", "mix"}, {"-legs", "soak"}, {"extra"}} {
		_, err := parseOptions(bad, &bytes.Buffer{})
		assert.Error(t, err, "parseOptions(%q) accepted", bad)
	}
}

// TestShippedEnvIsTheImages: the bench runs the gateway with the Go
// runtime settings of the image (GODEBUG; GOMEMLIMIT if it set one), so its memory
// figures are what ships; when the Dockerfile changes them, so must it.
func TestShippedEnvIsTheImages(t *testing.T) {
	dockerfile, err := os.ReadFile("../Dockerfile")
	require.NoError(t, err)
	var image []string
	for _, m := range regexp.MustCompile(`(?m)^ENV (GO[A-Z]+=\S+)$`).FindAllStringSubmatch(string(dockerfile), -1) {
		image = append(image, m[1])
	}
	assert.Equal(t, shippedEnv, image, "the Dockerfile sets %q, the bench runs the gateway with %q", image, shippedEnv)
}

func TestBaselineEnv(t *testing.T) {
	for _, tt := range []struct {
		flag string
		want []string
	}{
		{"", nil}, // nil: the baseline runs with shippedEnv, as the gateway
		{"none", []string{}},
		{"GOMEMLIMIT=192MiB", []string{"GOMEMLIMIT=192MiB"}},
	} {
		o, err := parseOptions([]string{"-baseline-env", tt.flag}, &bytes.Buffer{})
		require.NoError(t, err)
		assert.Equal(t, tt.want, o.baselineEnv, "-baseline-env %q", tt.flag)
	}
	_, err := parseOptions([]string{"-baseline-env", "GOGC"}, &bytes.Buffer{})
	assert.Error(t, err, "-baseline-env GOGC (no value) accepted")
}

func TestStageCopiesTheBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "proxy")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	got, err := stage(bin, filepath.Join(dir, "staged"))
	require.NoError(t, err)
	b, err := os.ReadFile(got)
	if assert.NoError(t, err, "staged copy %q", got) {
		assert.Equal(t, "#!/bin/sh\n", string(b), "staged copy %q", got)
	}
	if fi, err := os.Stat(got); assert.NoError(t, err, "staged copy") {
		assert.NotZero(t, fi.Mode().Perm()&0o100, "staged copy not executable: %v", fi.Mode())
	}
	got, err = stage("", filepath.Join(dir, "none"))
	assert.NoError(t, err, "stage(\"\"): want nothing to stage")
	assert.Empty(t, got, "stage(\"\"): want nothing to stage")
}

func TestNginxConf(t *testing.T) {
	p := &region{url: "http://127.0.0.1:5001", key: "k"}
	s := &region{url: "http://127.0.0.1:5002", key: "k"}
	conf := nginxConf("/tmp/x", 8080, p, s, stackOptions{upstreamTimeout: time.Second, breakerFailures: 5, openTimeout: 2 * time.Second})
	for _, want := range []string{
		"listen 127.0.0.1:8080 backlog=4096;", "server 127.0.0.1:5001 max_fails=5 fail_timeout=2s;", "server 127.0.0.1:5002 backup;",
		"non_idempotent", `proxy_set_header Ocp-Apim-Subscription-Key "k";`, "proxy_read_timeout 1000ms;", "daemon off;",
	} {
		assert.Contains(t, conf, want, "nginx.conf lacks %q", want)
	}
}

func TestCaddyfile(t *testing.T) {
	p := &region{url: "http://127.0.0.1:5001", key: "k"}
	s := &region{url: "http://127.0.0.1:5002", key: "k"}
	conf := caddyfile(8080, p, s, stackOptions{upstreamTimeout: time.Second, breakerFailures: 5, openTimeout: 2 * time.Second})
	for _, want := range []string{
		"http://127.0.0.1:8080 {", "reverse_proxy 127.0.0.1:5001 127.0.0.1:5002 {", "lb_policy first", "max_fails 5", "fail_duration 2s",
		`header_up Ocp-Apim-Subscription-Key "k"`, `@badkey not header Ocp-Apim-Subscription-Key "bench-client-key"`, "admin off",
	} {
		assert.Contains(t, conf, want, "Caddyfile lacks %q", want)
	}
}

// TestWrkCountsNon2xx runs wrk against a server that answers every fifth
// request 302 and every third 404 and checks the bench counts each of them: a
// proxy that answers for itself must fail the run, not look fast.
func TestWrkCountsNon2xx(t *testing.T) {
	testtool.Need(t, "wrk")
	ext := findExternals(t.Context())
	var n, bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(api.SubscriptionKeyHeader) != "k" || r.URL.RequestURI() != "/p?q=1" {
			w.WriteHeader(http.StatusBadRequest)
			bad.Add(1)
			return
		}
		switch i := n.Add(1); {
		case i%5 == 0:
			w.WriteHeader(http.StatusFound)
			bad.Add(1)
		case i%3 == 0:
			w.WriteHeader(http.StatusNotFound)
			bad.Add(1)
		}
	}))
	defer srv.Close()
	tl := &tools{tmp: t.TempDir(), wrk: ext["wrk"]}
	r, err := runWrk(t.Context(), tl, srv.URL, wrkRequest{method: http.MethodGet, path: "/p?q=1", key: "k"}, 2, time.Second)
	require.NoError(t, err)
	srv.Close() // every answer counted by the server is in before we compare
	// wrk stops counting with up to one request per connection in flight.
	sent := bad.Load()
	assert.True(t, r.requests != 0 && int64(r.non2xx) <= sent && int64(r.non2xx) >= sent-2 && r.non2xx >= r.requests/3,
		"wrk counted %d non-2xx of %d answers; the server sent %d non-2xx", r.non2xx, r.requests, sent)
	assert.Regexp(t, `^(404|302)`, r.firstBad, "first bad answer")
	rep := &report{}
	(&bencher{rep: rep}).fail("polls", "x", r)
	assert.Len(t, rep.failures, 1, "failures: want the leg recorded")
}
