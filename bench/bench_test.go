package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQuickRun is the CI smoke run of the benchmark command: it builds the
// binaries, runs every leg and every failover scenario end to end with a
// tiny load, and checks that the report came out. It asserts nothing about
// the figures (CI machines are noisy and shared). Without nginx (not
// installed and not installable: not root, no network), the nginx legs are
// reported as skipped and the rest still runs.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("the smoke run starts processes for about a minute")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
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
		"### Throughput and latency", "### Gateway / nginx", "### Failover",
		"| 1 client | direct |", "| 1 client | gateway |", "| 1 client | nginx |",
		"| refuse | gateway |", "| blackhole | gateway |", "| 503 | gateway |",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	// Every leg must have carried traffic, or the bench measured nothing.
	for line := range strings.SplitSeq(report, "\n") {
		if strings.HasPrefix(line, "| 1 client | ") && !strings.Contains(line, "skipped") {
			if f := strings.Split(line, "|"); len(f) < 4 || strings.TrimSpace(f[3]) == "0" {
				t.Errorf("a leg served no requests: %s", line)
			}
		}
	}
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions([]string{"-quick", "-concurrency", "2, 4"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.levels) != 2 || o.levels[0] != 2 || o.levels[1] != 4 {
		t.Errorf("levels = %v, want [2 4] (an explicit -concurrency wins over -quick)", o.levels)
	}
	for _, bad := range [][]string{{"-concurrency", "0"}, {"-concurrency", "x"}, {"-duration", "0s"}, {"extra"}} {
		if _, err := parseOptions(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("parseOptions(%q) accepted", bad)
		}
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
