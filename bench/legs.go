package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	"nergateway/api"
)

// bencher runs the load legs and adds their results to the report.
type bencher struct {
	o   options
	t   *tools
	rep *report
	log io.Writer
}

// unavailable says why target cannot run here, or "".
func (b *bencher) unavailable(target string) string {
	switch target {
	case targetNginx:
		return b.t.nginx.skip
	case targetCaddy:
		return b.t.caddy.skip
	}
	return ""
}

// prepared is a stack ready for a load: what to send, and a client.
type prepared struct {
	s   *stack
	c   *client
	req wrkRequest
}

func (p *prepared) close() {
	p.c.close()
	p.s.close()
}

// prepare starts a fresh stack for target and builds load's request: for
// polls, one job submitted and polled to success beforehand (the regions'
// clocks stand still, so it never expires); for submits, the two-document
// job (the regions' clocks run, so the submitted jobs expire).
func (b *bencher) prepare(ctx context.Context, target, load string) (*prepared, error) {
	so := b.o.throughput
	so.expireJobs = load == loadSubmits
	s, err := startStack(ctx, b.t, target, so)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", target, err)
	}
	p := &prepared{s: s, c: newClient(s.base, s.key, 256)}
	switch load {
	case loadPolls:
		path, err := p.c.pollPath(ctx)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("%s: %w", target, err)
		}
		p.req = wrkRequest{method: http.MethodGet, path: path, key: s.key}
	case loadSubmits:
		p.req = wrkRequest{method: http.MethodPost, path: api.JobsPath + "?api-version=" + apiVersion, key: s.key, body: p.c.bodies[1]}
	}
	return p, nil
}

// fail records a leg whose answers were not all 2xx.
func (b *bencher) fail(leg, target string, r wrkResult) {
	if r.errors() == 0 {
		return
	}
	b.rep.failures = append(b.rep.failures, fmt.Sprintf("  %s via %s: %d non-2xx answers, %d socket errors; first: %s",
		leg, target, r.non2xx, r.sockErrs, r.firstBad))
}

// throughputLeg is one round of wrk sending load through target.
func (b *bencher) throughputLeg(ctx context.Context, round int, load, target string) error {
	res := throughputResult{load: load, target: target}
	if why := b.unavailable(target); why != "" {
		if round == 0 {
			res.skipped = why
			b.rep.addThroughput(res)
		}
		return nil
	}
	p, err := b.prepare(ctx, target, load)
	if err != nil {
		return err
	}
	defer p.close()
	if b.o.warmup > 0 {
		w, err := runWrk(ctx, b.t, p.s.base, p.req, b.o.connections, b.o.warmup)
		if err != nil {
			return err
		}
		b.fail(load+" (warm-up)", target, w)
	}
	var cpu0 float64
	if p.s.proxy != nil {
		cpu0 = p.s.proxy.cpuSeconds()
	}
	exports0 := b.t.otlp.exports.Load()
	r, err := runWrk(ctx, b.t, p.s.base, p.req, b.o.connections, b.o.duration)
	if err != nil {
		return err
	}
	res.wrk = r
	if p.s.proxy != nil && r.requests > 0 {
		res.cpuUs = (p.s.proxy.cpuSeconds() - cpu0) / float64(r.requests) * 1e6
	}
	if isTraced(target) && b.t.otlp.exports.Load() == exports0 {
		return fmt.Errorf("%s %s: the gateway exported no spans", load, target)
	}
	if err := p.s.exitedErr(); err != nil {
		return err
	}
	b.fail(load, target, r)
	b.rep.addThroughput(res)
	fmt.Fprintf(b.log, "bench: round %d %-8s %-22s %8.0f req/s  %6.1f µs CPU/req  p99 %s  non-2xx %d\n",
		round+1, load, target, r.rps(), res.cpuUs, ms(r.p99), r.errors())
	return ctx.Err()
}

// openLeg polls through target at rate requests/s, open loop.
func (b *bencher) openLeg(ctx context.Context, rate float64, target string) error {
	res := openResult{rate: rate, target: target}
	if why := b.unavailable(target); why != "" {
		res.skipped = why
		b.rep.addOpen(res)
		return nil
	}
	p, err := b.prepare(ctx, target, loadPolls)
	if err != nil {
		return err
	}
	defer p.close()
	var cpu []float64
	samples, shed := p.c.openLoop(ctx, p.req.path, rate, b.o.warmup, b.o.duration, func() {
		if p.s.proxy != nil {
			cpu = append(cpu, p.s.proxy.cpuSeconds())
		}
	})
	res.stats, res.shed = summarize(samples), shed
	if len(cpu) == 2 && res.stats.n > 0 {
		res.cpuUs = (cpu[1] - cpu[0]) / float64(res.stats.n) * 1e6
	}
	if err := p.s.exitedErr(); err != nil {
		return err
	}
	if res.stats.errors > 0 || shed > 0 {
		b.rep.failures = append(b.rep.failures, fmt.Sprintf("  %.0f req/s open via %s: %d requests failed (%s), %d shed",
			rate, target, res.stats.errors, failedStatuses(samples), shed))
	}
	b.rep.addOpen(res)
	fmt.Fprintf(b.log, "bench: %6.0f req/s open  %-22s p50 %s  p99 %s  errors %d\n", rate, target, ms(res.stats.p50), ms(res.stats.p99), res.stats.errors)
	return ctx.Err()
}

// connsLeg polls through target over b.o.conns connections and reads the
// proxy's memory before (at rest) and at the peak.
func (b *bencher) connsLeg(ctx context.Context, target string) error {
	res := connsResult{target: target}
	if why := b.unavailable(target); why != "" {
		res.skipped = why
		b.rep.addConns(res)
		return nil
	}
	p, err := b.prepare(ctx, target, loadPolls)
	if err != nil {
		return err
	}
	defer p.close()
	if p.s.proxy != nil {
		res.idleRSS = p.s.proxy.rss()
	}
	r, err := runWrk(ctx, b.t, p.s.base, p.req, b.o.conns, b.o.duration)
	if err != nil {
		return err
	}
	res.wrk = r
	if p.s.proxy != nil {
		res.peakRSS = p.s.proxy.peakRSS()
	}
	if err := p.s.exitedErr(); err != nil {
		return err
	}
	b.fail(fmt.Sprintf("%d connections", b.o.conns), target, r)
	b.rep.addConns(res)
	fmt.Fprintf(b.log, "bench: %d connections %-22s %8.0f req/s  idle %.1f MiB  peak %.1f MiB\n",
		b.o.conns, target, r.rps(), mib(res.idleRSS), mib(res.peakRSS))
	return ctx.Err()
}

// exitedErr reports a proxy that died during a leg.
func (s *stack) exitedErr() error {
	if s.proxy != nil && s.proxy.exited() {
		return fmt.Errorf("%s: the proxy exited during the run: %v\n%s", s.target, s.proxy.err, s.proxy.logs())
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// failedStatuses counts the answers of samples that were not 2xx by
// status, "0" for no answer (a transport error or the client's deadline):
// "503 ×12, 0 ×3".
func failedStatuses(samples []sample) string {
	counts := map[int]int{}
	for _, s := range samples {
		if !s.ok() {
			counts[s.status]++
		}
	}
	parts := make([]string, 0, len(counts))
	for _, status := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%d ×%d", status, counts[status]))
	}
	return strings.Join(parts, ", ")
}
