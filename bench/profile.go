package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// pprofFile is compiled into a second, profiling-only gateway binary with
// go build -overlay, so the gateway's sources stay as they are and the
// measured binary carries no profiling endpoint.
const pprofFile = `package main

import (
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on DefaultServeMux
	"os"
)

// init serves pprof on BENCH_PPROF_ADDR (bench -profile only).
func init() {
	addr := os.Getenv("BENCH_PPROF_ADDR")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic(err)
	}
	go func() { _ = http.Serve(ln, nil) }()
}
`

// buildProfilingGateway builds cmd/gateway plus pprofFile into dir.
func buildProfilingGateway(ctx context.Context, dir string) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	pkgDir, err := exec.CommandContext(ctx, goCmd, "list", "-f", "{{.Dir}}", "nergateway/cmd/gateway").Output()
	if err != nil {
		return "", fmt.Errorf("go list: %w", err)
	}
	src := filepath.Join(dir, "bench_pprof.go")
	if err := os.WriteFile(src, []byte(pprofFile), 0o600); err != nil {
		return "", err
	}
	overlay, err := json.Marshal(map[string]map[string]string{
		"Replace": {filepath.Join(strings.TrimSpace(string(pkgDir)), "zz_bench_pprof.go"): src},
	})
	if err != nil {
		return "", err
	}
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o600); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "gateway-pprof")
	out, err := exec.CommandContext(ctx, goCmd, "build", "-overlay", overlayFile, "-o", bin, "nergateway/cmd/gateway").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build -overlay: %w\n%s", err, out)
	}
	return bin, nil
}

// profileGateway runs the mix through the profiling gateway with clients
// workers and saves a CPU profile of the measured window and heap profiles
// at its end into outDir.
func profileGateway(ctx context.Context, t *tools, o options, clients int, outDir string, log io.Writer) error {
	bin, err := buildProfilingGateway(ctx, t.tmp)
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	pt := *t
	pt.gateway = bin
	pt.gatewayEnv = append(slices.Clone(t.gatewayEnv), fmt.Sprintf("BENCH_PPROF_ADDR=127.0.0.1:%d", port))
	s, err := startStack(ctx, &pt, targetGateway, o.throughput)
	if err != nil {
		return err
	}
	defer s.close()
	c := newClient(s.base, s.key, clients)
	defer c.close()
	pprofURL := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", port)
	fetch := func(path, file string) error {
		if !strings.HasPrefix(path, "http") {
			path = pprofURL + path
		}
		resp, err := http.Get(path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		f, err := os.Create(filepath.Join(outDir, file))
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, resp.Body); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	cpuErr := make(chan error, 1)
	started := false
	samples := c.closedLoop(ctx, clients, o.warmup, o.duration, func() {
		if started { // at the window's end, while the clients are still busy
			_ = fetch(s.ops+"/metrics", "gateway.metrics.txt")
			_ = fetch("heap", "gateway.heap-busy.pprof")
			return
		}
		if !started { // at the window's start
			started = true
			go func() {
				cpuErr <- fetch(fmt.Sprintf("profile?seconds=%d", max(1, int(o.duration/time.Second))), "gateway.cpu.pprof")
			}()
		}
	})
	if err := <-cpuErr; err != nil {
		return err
	}
	if err := fetch("heap", "gateway.heap.pprof"); err != nil {
		return err
	}
	if err := fetch("goroutine", "gateway.goroutine.pprof"); err != nil {
		return err
	}
	st := summarize(samples)
	fmt.Fprintf(log, "bench: profiled the gateway at %d clients: %d requests; go tool pprof -top %s\n",
		clients, st.n, filepath.Join(outDir, "gateway.cpu.pprof"))
	return nil
}
