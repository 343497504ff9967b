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
	"sync"
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
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-overlay", overlayFile, "-o", bin, "nergateway/cmd/gateway")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as buildBinaries
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build -overlay: %w\n%s", err, out)
	}
	return bin, nil
}

// profileGateway runs o.profileLoad through the profiling gateway with wrk
// (o.profileConns connections) and saves a CPU profile of the measured
// window, heap profiles during and after it, the goroutines and /metrics
// into o.profileDir.
func profileGateway(ctx context.Context, t *tools, o options, log io.Writer) error {
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
	b := &bencher{o: o, t: &pt, log: log}
	target := targetGateway
	if o.profileTraced {
		target = targetGatewayTraced
	}
	prep, err := b.prepare(ctx, target, o.profileLoad)
	if err != nil {
		return err
	}
	defer prep.close()
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
		f, err := os.Create(filepath.Join(o.profileDir, file))
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, resp.Body); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
		return err
	}
	secs := max(1, int(o.duration/time.Second))
	var wg sync.WaitGroup
	var cpuErr error
	wg.Go(func() {
		time.Sleep(o.warmup)
		cpuErr = fetch(fmt.Sprintf("profile?seconds=%d", secs), "gateway.cpu.pprof")
	})
	wg.Go(func() {
		// Near the window's end, while wrk is still busy.
		time.Sleep(o.warmup + time.Duration(secs)*time.Second*9/10)
		_ = fetch(prep.s.ops+"/metrics", "gateway.metrics.txt")
		_ = fetch("heap", "gateway.heap-busy.pprof")
		_ = fetch("goroutine", "gateway.goroutine-busy.pprof")
	})
	r, err := runWrk(ctx, t, prep.s.base, prep.req, o.profileConns, o.warmup+time.Duration(secs+1)*time.Second)
	wg.Wait()
	if err != nil {
		return err
	}
	if cpuErr != nil {
		return cpuErr
	}
	if err := fetch("heap", "gateway.heap.pprof"); err != nil {
		return err
	}
	fmt.Fprintf(log, "bench: profiled the gateway under %s over %d connections: %.0f req/s, %d not 2xx; go tool pprof -top %s\n",
		o.profileLoad, o.profileConns, r.rps(), r.errors(), filepath.Join(o.profileDir, "gateway.cpu.pprof"))
	return nil
}
