package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// throughputResult is one round of one target under one wrk load.
type throughputResult struct {
	load, target string
	skipped      string
	wrk          wrkResult
	cpuUs        float64 // proxy CPU µs per request
}

// openResult is one target under one open-loop rate.
type openResult struct {
	rate    float64
	target  string
	skipped string
	stats   stats
	shed    int
	cpuUs   float64
}

// connsResult is one target under the many-connections load.
type connsResult struct {
	target           string
	skipped          string
	wrk              wrkResult
	idleRSS, peakRSS int64
}

// report gathers a run's results and prints them as markdown.
type report struct {
	o          options
	t          *tools
	started    time.Time
	rev        string // what the gateway was built from
	throughput []throughputResult
	open       []openResult
	conns      []connsResult
	failovers  []failoverResult
	failures   []string // legs with answers that were not 2xx
}

// newReport starts a report; the tree's revision is read now, when the
// binaries were just built from it, not when the run ends.
func newReport(o options, t *tools) *report {
	rev := "unknown"
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		rev = strings.TrimSpace(string(out))
	}
	if o.gatewayBinary != "" {
		rev = o.gatewayBinary
	}
	return &report{o: o, t: t, started: time.Now(), rev: rev}
}

func (r *report) addThroughput(l throughputResult) { r.throughput = append(r.throughput, l) }
func (r *report) addOpen(l openResult)             { r.open = append(r.open, l) }
func (r *report) addConns(l connsResult)           { r.conns = append(r.conns, l) }

// rounds are the measured rounds of load through target.
func (r *report) rounds(load, target string) []throughputResult {
	var out []throughputResult
	for _, l := range r.throughput {
		if l.load == load && l.target == target && l.skipped == "" {
			out = append(out, l)
		}
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// medianRPS is the median throughput of load through target over the rounds.
func (r *report) medianRPS(load, target string) float64 {
	var v []float64
	for _, l := range r.rounds(load, target) {
		v = append(v, l.wrk.rps())
	}
	return median(v)
}

// medianCPU is the median proxy CPU µs per request of load through target.
func (r *report) medianCPU(load, target string) float64 {
	var v []float64
	for _, l := range r.rounds(load, target) {
		v = append(v, l.cpuUs)
	}
	return median(v)
}

func (r *report) findOpen(rate float64, target string) (openResult, bool) {
	for _, l := range r.open {
		if l.rate == rate && l.target == target && l.skipped == "" {
			return l, true
		}
	}
	return openResult{}, false
}

func (r *report) findConns(target string) (connsResult, bool) {
	for _, l := range r.conns {
		if l.target == target && l.skipped == "" {
			return l, true
		}
	}
	return connsResult{}, false
}

// ms prints a duration in milliseconds.
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case d < 0:
		return "never"
	case f < 10:
		return fmt.Sprintf("%.2f ms", f)
	case f < 100:
		return fmt.Sprintf("%.1f ms", f)
	default:
		return fmt.Sprintf("%.0f ms", f)
	}
}

// signedMS prints a latency difference.
func signedMS(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	if f >= 10 || f <= -10 {
		return fmt.Sprintf("%+.1f ms", f)
	}
	return fmt.Sprintf("%+.2f ms", f)
}

func ratio(a, b float64) string {
	if b == 0 || a == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// machine describes where the run happened.
func (r *report) machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	version := func(e external) string {
		if e.path == "" {
			return "not available (" + e.skip + ")"
		}
		return e.version
	}
	return fmt.Sprintf("%d CPUs (%s), %s %s/%s, nginx %s, Caddy %s, wrk %s; gateway built from %s; run started %s",
		runtime.NumCPU(), cpu, runtime.Version(), runtime.GOOS, runtime.GOARCH,
		version(r.t.nginx), version(r.t.caddy), version(r.t.wrk), r.rev,
		r.started.UTC().Format("2006-01-02 15:04 MST"))
}

func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	mode := "full"
	if r.o.quick {
		mode = "quick (smoke run; figures are not meaningful)"
	}
	p("## Results: %s\n\n", mode)
	p("Machine: %s. Every leg below ran in this one run, each on fresh processes; %s warm-up, %s measured per leg.\n\n", r.machine(), r.o.warmup, r.o.duration)

	p("### Throughput and CPU per request\n\n")
	p("wrk, one thread, %d connections: *polls* GET one job (submitted and polled to success beforehand; the region's v4 job id, or the gateway's token for it), "+
		"*submits* POST a two-document job. Median of %d rounds (rounds interleave the targets). "+
		"CPU is the proxy process's utime+stime over the window per request (nginx: master and workers). "+
		"*CPU ÷ floor* and *req/s ÷ Caddy* are the issue's two ratios; *CPU ÷ Caddy* is the second one's cause: on two cores shared with "+
		"the regions and wrk, throughput follows the CPU a proxy leaves to them.\n\n", r.o.connections, r.o.rounds)
	p("| load | target | req/s | req/s per round | CPU µs / request | CPU ÷ floor | CPU ÷ Caddy | req/s ÷ Caddy | p99 (closed loop) | non-2xx |\n")
	p("|---|---|--:|---|--:|--:|--:|--:|--:|--:|\n")
	for _, load := range []string{loadPolls, loadSubmits} {
		for _, target := range r.o.targets {
			rounds := r.rounds(load, target)
			if len(rounds) == 0 {
				for _, l := range r.throughput {
					if l.load == load && l.target == target && l.skipped != "" {
						p("| %s | %s | skipped: %s | | | | | | | |\n", load, target, l.skipped)
					}
				}
				continue
			}
			var per []string
			var p99s []float64
			bad := 0
			for _, l := range rounds {
				per = append(per, fmt.Sprintf("%.0f", l.wrk.rps()))
				p99s = append(p99s, float64(l.wrk.p99))
				bad += l.wrk.errors()
			}
			cpu, cpuRatio, cpuCaddy := "–", "–", "–"
			if target != targetDirect {
				cpu = fmt.Sprintf("%.1f", r.medianCPU(load, target))
				cpuRatio = ratio(r.medianCPU(load, target), r.medianCPU(load, targetFloor))
				cpuCaddy = ratio(r.medianCPU(load, target), r.medianCPU(load, targetCaddy))
			}
			p("| %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %d |\n", load, target, r.medianRPS(load, target), strings.Join(per, ", "),
				cpu, cpuRatio, cpuCaddy, ratio(r.medianRPS(load, target), r.medianRPS(load, targetCaddy)), ms(time.Duration(median(p99s))), bad)
		}
	}

	if len(r.open) > 0 {
		p("\n### Open loop: latency added\n\n")
		p("Polls of one job sent at a fixed rate whatever the answers (Go `net/http` client in the bench process, one goroutine per request); " +
			"a request's latency counts from when it was due, so a stall is not hidden. The higher rate is half the gateway's median polls/s above unless -rate is given. " +
			"*Added* is the target's percentile minus direct's at the same rate.\n\n")
		p("| rate | target | p50 | p99 | p99.9 | added p50 | added p99 | CPU µs / request | errors |\n|---|---|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, l := range r.open {
			label := fmt.Sprintf("%.0f req/s", l.rate)
			if l.skipped != "" {
				p("| %s | %s | skipped: %s | | | | | | |\n", label, l.target, l.skipped)
				continue
			}
			added50, added99, cpu := "", "", ""
			if d, ok := r.findOpen(l.rate, targetDirect); ok && l.target != targetDirect {
				added50, added99 = signedMS(l.stats.p50-d.stats.p50), signedMS(l.stats.p99-d.stats.p99)
				cpu = fmt.Sprintf("%.1f", l.cpuUs)
			}
			errs := fmt.Sprint(l.stats.errors)
			if l.shed > 0 {
				errs += fmt.Sprintf(" (+%d shed)", l.shed)
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", label, l.target, ms(l.stats.p50), ms(l.stats.p99), ms(l.stats.p999), added50, added99, cpu, errs)
		}
	}

	if len(r.conns) > 0 {
		p("\n### Memory at %d connections\n\n", r.o.conns)
		p("wrk, one thread, %d connections polling one job for %s. *At rest*: the proxy's VmRSS after start and one job, before the load; *peak*: its VmHWM after the load "+
			"(nginx: summed over master and workers, which counts shared pages once per process).\n\n", r.o.conns, r.o.duration)
		p("| target | req/s | RSS at rest | peak RSS | non-2xx |\n|---|--:|--:|--:|--:|\n")
		for _, l := range r.conns {
			if l.skipped != "" {
				p("| %s | skipped: %s | | | |\n", l.target, l.skipped)
				continue
			}
			idle, peak := "–", "–"
			if l.target != targetDirect {
				idle, peak = fmt.Sprintf("%.1f MiB", mib(l.idleRSS)), fmt.Sprintf("%.1f MiB", mib(l.peakRSS))
			}
			p("| %s | %.0f | %s | %s | %d |\n", l.target, l.wrk.rps(), idle, peak, l.wrk.errors())
		}
	}

	r.targetsTable(p)

	if len(r.failovers) > 0 {
		ft, fo := r.o.failoverTimes, r.o.failover
		p("\n### Failover\n\n")
		p("%d clients run the mix (submit a job of one to three documents, poll it until it succeeded) through the target; after %s the primary fails for %s, then recovers for %s. "+
			"Gateway settings: UPSTREAM_TIMEOUT=%s, BREAKER_CONSECUTIVE_FAILURES=%d, BREAKER_OPEN_TIMEOUT=%s, HEALTH_PROBE_INTERVAL=%s; "+
			"nginx: the same timeouts, max_fails=%d fail_timeout=%ds. "+
			"Times count from the moment the bench injected the fault (or cleared it) to the end of the first client request "+
			"that the secondary (or the primary again) served, told from the job's result. Latencies are of submits.\n\n",
			ft.workers, ft.healthy, ft.down, ft.recovery, fo.upstreamTimeout, fo.breakerFailures, fo.openTimeout, fo.probeInterval,
			fo.breakerFailures, max(1, int(fo.openTimeout/time.Second)))
		p("| fault | via | first served by secondary | breaker open after | client errors | submit p50 / max before the fault | submit p50 / max until the breaker opened | submit p50 / p99 / max once open | breaker closed after recovery | primary serves again after | jobs on secondary (client / counter) |\n")
		p("|---|---|--:|--:|---|--:|--:|--:|--:|--:|--:|\n")
		for _, f := range r.failovers {
			if f.skipped != "" {
				p("| %s | %s | skipped: %s | | | | | | | | |\n", f.fault, f.target, f.skipped)
				continue
			}
			errs := "none"
			if f.errorCodes != "" {
				errs = f.errorCodes
			}
			errs += fmt.Sprintf(" (of %d)", f.requests)
			na := func(d time.Duration) string {
				if f.target != targetGateway {
					return "n/a"
				}
				return ms(d)
			}
			closed, open := "n/a", "all while down: "+latencies(f.duringDown, true)
			if f.target == targetGateway {
				closed, open = latencies(f.closed, false), latencies(f.open, true)
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d / %d |\n", f.fault, f.target,
				ms(f.firstSecondary), na(f.breakerOpen), errs, latencies(f.before, false), closed, open,
				na(f.breakerClosed), ms(f.firstPrimary), f.secondaryJobs, f.secondaryCalls)
		}
	}
	return b.String()
}

// targetsTable prints the figures as this run measured them, for
// the gateway and, with -baseline-binary, for the gateway before.
func (r *report) targetsTable(p func(string, ...any)) {
	type row struct{ figure, target, before, after, met string }
	var rows []row
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "no"
	}
	// figure measures one gateway (plain, traced); ok is false when the
	// run lacks what it needs.
	add := func(figure, target string, measure func(gw, traced string) (string, string, bool)) {
		after, met, ok := measure(targetGateway, targetGatewayTraced)
		before, _, okB := measure(targetBefore, targetBeforeTraced)
		if !ok && !okB {
			return
		}
		if !ok {
			after, met = "–", "no"
		}
		if !okB {
			before = "–"
		}
		rows = append(rows, row{figure, target, before, after, met})
	}
	for _, load := range []string{loadPolls, loadSubmits} {
		add("CPU per request, "+load, "≤ 1.2 × the net/http floor", func(gw, _ string) (string, string, bool) {
			g, f := r.medianCPU(load, gw), r.medianCPU(load, targetFloor)
			return fmt.Sprintf("%.1f µs vs %.1f µs: %.2f ×", g, f, g/f), yes(g/f <= 1.2), g > 0 && f > 0
		})
		add("throughput, "+load, "≥ 1.5 × Caddy's", func(gw, _ string) (string, string, bool) {
			g, c := r.medianRPS(load, gw), r.medianRPS(load, targetCaddy)
			return fmt.Sprintf("%.0f vs %.0f req/s: %.2f ×", g, c, g/c), yes(g/c >= 1.5), g > 0 && c > 0
		})
	}
	var rates []float64
	for _, l := range r.open {
		if !slices.Contains(rates, l.rate) {
			rates = append(rates, l.rate)
		}
	}
	for _, rate := range rates {
		limit, what := time.Millisecond, "at half the gateway's maximum"
		if rate == r.o.lowRate {
			limit, what = 300*time.Microsecond, "at a light load"
		}
		add(fmt.Sprintf("p99 added, %.0f req/s open loop (%s)", rate, what), "< "+ms(limit), func(gw, _ string) (string, string, bool) {
			g, okG := r.findOpen(rate, gw)
			d, okD := r.findOpen(rate, targetDirect)
			added := g.stats.p99 - d.stats.p99
			met := yes(added < limit)
			switch {
			case g.stats.errors > 0 || g.shed > 0:
				met = fmt.Sprintf("no (%d failed, %d shed)", g.stats.errors, g.shed)
			case added < 0:
				// Direct slower than through a proxy: the machine
				// disturbed direct's leg, and the difference says nothing.
				met = "inconclusive (direct's p99 the higher)"
			}
			return fmt.Sprintf("%s (%s vs direct %s)", signedMS(added), ms(g.stats.p99), ms(d.stats.p99)), met, okG && okD
		})
	}
	add(fmt.Sprintf("peak RSS at %d connections", r.o.conns), "< 64 MiB", func(gw, _ string) (string, string, bool) {
		g, ok := r.findConns(gw)
		return fmt.Sprintf("%.1f MiB", mib(g.peakRSS)), yes(g.peakRSS < 64<<20), ok
	})
	add("RSS at rest", "< 20 MiB", func(gw, _ string) (string, string, bool) {
		g, ok := r.findConns(gw)
		return fmt.Sprintf("%.1f MiB", mib(g.idleRSS)), yes(g.idleRSS < 20<<20), ok
	})
	for _, load := range []string{loadPolls, loadSubmits} {
		add("CPU per request with every request traced and exported, "+load, "≤ 1.25 × untraced", func(gw, traced string) (string, string, bool) {
			tr, g := r.medianCPU(load, traced), r.medianCPU(load, gw)
			return fmt.Sprintf("%.1f µs vs %.1f µs: %.2f ×", tr, g, tr/g), yes(tr/g <= 1.25), tr > 0 && g > 0
		})
	}
	if len(rows) == 0 {
		return
	}
	p("\n### The issue's targets\n\n")
	if r.o.baseline != "" {
		p("*Before* is `%s` (-baseline-binary), measured in the same run as the gateway built from the tree.\n\n", r.o.baseline)
		p("| figure | target | before | after | met? |\n|---|---|---|---|---|\n")
		for _, x := range rows {
			p("| %s | %s | %s | %s | %s |\n", x.figure, x.target, x.before, x.after, x.met)
		}
		return
	}
	p("| figure | target | measured | met? |\n|---|---|---|---|\n")
	for _, x := range rows {
		p("| %s | %s | %s | %s |\n", x.figure, x.target, x.after, x.met)
	}
}

// latencies prints p50 / (p99 /) max and the count of a window's submits.
func latencies(st stats, p99 bool) string {
	if st.n == 0 {
		return "none sent"
	}
	if p99 {
		return fmt.Sprintf("%s / %s / %s (%d)", ms(st.p50), ms(st.p99), ms(st.max), st.n)
	}
	return fmt.Sprintf("%s / %s (%d)", ms(st.p50), ms(st.max), st.n)
}
