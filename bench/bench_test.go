package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"nergateway/api"
	"nergateway/internal/testkit/testtool"
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
	if err != nil {
		t.Fatalf("bench -quick: %v", err)
	}
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(written, stdout.Bytes()) {
		t.Error("-out differs from what was printed")
	}
	report := stdout.String()
	for _, want := range []string{
		"### Throughput and CPU per request", "### Open loop: latency added", "### Memory at 64 connections",
		"### The issue's targets", "### Failover",
		"| polls | direct |", "| polls | nginx |", "| polls | net/http floor |", "| polls | caddy |", "| polls | gateway |",
		"| polls | gateway, telemetry off |", "| polls | gateway, traces 100 % |", "| submits | gateway |",
		"| 100 req/s | gateway |", "| gateway | ",
		"| refuse | gateway |", "| blackhole | gateway |", "| 503 | gateway |",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	// Every leg must have carried traffic, or the bench measured nothing.
	for line := range strings.SplitSeq(report, "\n") {
		if (strings.HasPrefix(line, "| polls | ") || strings.HasPrefix(line, "| submits | ")) && !strings.Contains(line, "skipped") {
			if f := strings.Split(line, "|"); len(f) < 4 || strings.TrimSpace(f[3]) == "0" {
				t.Errorf("a leg served no requests: %s", line)
			}
		}
	}
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions([]string{"-quick", "-rounds", "2", "-targets", "gateway, floor"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.rounds != 2 {
		t.Errorf("rounds = %d, want 2 (an explicit -rounds wins over -quick)", o.rounds)
	}
	if len(o.targets) != 2 || o.targets[0] != targetGateway || o.targets[1] != targetFloor {
		t.Errorf("targets = %q", o.targets)
	}
	for _, bad := range [][]string{{"-rounds", "0"}, {"-targets", "envoy"}, {"-duration", "0s"}, {"-profile-load", "mix"}, {"-legs", "soak"}, {"extra"}} {
		if _, err := parseOptions(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("parseOptions(%q) accepted", bad)
		}
	}
}

// TestShippedEnvIsTheImages: the bench runs the gateway with the Go
// runtime settings of the image (GODEBUG; GOMEMLIMIT if it set one), so its memory
// figures are what ships; when the Dockerfile changes them, so must it.
func TestShippedEnvIsTheImages(t *testing.T) {
	dockerfile, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var image []string
	for _, m := range regexp.MustCompile(`(?m)^ENV (GO[A-Z]+=\S+)$`).FindAllStringSubmatch(string(dockerfile), -1) {
		image = append(image, m[1])
	}
	if !slices.Equal(image, shippedEnv) {
		t.Errorf("the Dockerfile sets %q, the bench runs the gateway with %q", image, shippedEnv)
	}
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
		if err != nil {
			t.Fatal(err)
		}
		if (o.baselineEnv == nil) != (tt.want == nil) || !slices.Equal(o.baselineEnv, tt.want) {
			t.Errorf("-baseline-env %q: %q, want %q", tt.flag, o.baselineEnv, tt.want)
		}
	}
	if _, err := parseOptions([]string{"-baseline-env", "GOGC"}, &bytes.Buffer{}); err == nil {
		t.Error("-baseline-env GOGC (no value) accepted")
	}
}

func TestStageCopiesTheBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "proxy")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := stage(bin, filepath.Join(dir, "staged"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(got)
	if err != nil || string(b) != "#!/bin/sh\n" {
		t.Errorf("staged copy %q: %q, %v", got, b, err)
	}
	if fi, err := os.Stat(got); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("staged copy not executable: %v %v", fi.Mode(), err)
	}
	if got, err := stage("", filepath.Join(dir, "none")); got != "" || err != nil {
		t.Errorf("stage(\"\") = %q, %v; want nothing to stage", got, err)
	}
}

func TestNginxConf(t *testing.T) {
	p := &region{url: "http://127.0.0.1:5001", key: "k"}
	s := &region{url: "http://127.0.0.1:5002", key: "k"}
	conf := nginxConf("/tmp/x", 8080, p, s, stackOptions{upstreamTimeout: time.Second, breakerFailures: 5, openTimeout: 2 * time.Second})
	for _, want := range []string{
		"listen 127.0.0.1:8080 backlog=4096;", "server 127.0.0.1:5001 max_fails=5 fail_timeout=2s;", "server 127.0.0.1:5002 backup;",
		"non_idempotent", `proxy_set_header Ocp-Apim-Subscription-Key "k";`, "proxy_read_timeout 1000ms;", "daemon off;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q:\n%s", want, conf)
		}
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
		if !strings.Contains(conf, want) {
			t.Errorf("Caddyfile lacks %q:\n%s", want, conf)
		}
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
	if err != nil {
		t.Fatal(err)
	}
	srv.Close() // every answer counted by the server is in before we compare
	// wrk stops counting with up to one request per connection in flight.
	if sent := bad.Load(); r.requests == 0 || int64(r.non2xx) > sent || int64(r.non2xx) < sent-2 || r.non2xx < r.requests/3 {
		t.Errorf("wrk counted %d non-2xx of %d answers; the server sent %d non-2xx", r.non2xx, r.requests, sent)
	}
	if !strings.HasPrefix(r.firstBad, "404") && !strings.HasPrefix(r.firstBad, "302") {
		t.Errorf("first bad answer = %q", r.firstBad)
	}
	rep := &report{}
	(&bencher{rep: rep}).fail("polls", "x", r)
	if len(rep.failures) != 1 {
		t.Errorf("failures = %q, want the leg recorded", rep.failures)
	}
}
