package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// legResult is one target under one load.
type legResult struct {
	group, label, target string
	skipped              string
	stats                stats
	shed                 int
	rps                  float64
	cpuPer1k             float64 // proxy CPU seconds per 1,000 requests
	rss                  int64   // proxy peak RSS, bytes
}

// report gathers a run's results and prints them as markdown.
type report struct {
	o         options
	t         *tools
	started   time.Time
	legs      []legResult
	rate      float64
	failovers []failoverResult
}

func newReport(o options, t *tools) *report { return &report{o: o, t: t, started: time.Now()} }

func (r *report) add(l legResult) { r.legs = append(r.legs, l) }

func (r *report) find(label, target string) (legResult, bool) {
	for _, l := range r.legs {
		if l.label == label && l.target == target && l.skipped == "" {
			return l, true
		}
	}
	return legResult{}, false
}

// bestRPS is target's highest closed-loop throughput.
func (r *report) bestRPS(target string) float64 {
	var best float64
	for _, l := range r.legs {
		if l.target == target && l.group == "closed" && l.stats.errors == 0 {
			best = max(best, l.rps)
		}
	}
	return best
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
	nginx := r.t.nginxVersion
	if nginx == "" {
		nginx = "not available (" + r.t.nginxSkip + ")"
	}
	rev := "unknown"
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		rev = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%d CPUs (%s), %s %s/%s, nginx %s; gateway built from %s; run started %s",
		runtime.NumCPU(), cpu, runtime.Version(), runtime.GOOS, runtime.GOARCH, nginx, rev,
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
	p("Machine: %s. Each leg: fresh processes, %s warm-up, %s measured.\n\n", r.machine(), r.o.warmup, r.o.duration)

	p("### Throughput and latency\n\n")
	p("A request is one HTTP call of the mix (a submit or a poll). \"N clients\": closed loop, N clients each on its own keep-alive connection sending back to back. ")
	if r.rate > 0 {
		p("\"%.0f req/s open\": open loop, a job (submit and poll) started every %s whatever the answers, at half the gateway's best closed-loop throughput unless -rate is given; a submit's latency counts from when it was due. ", r.rate, time.Duration(float64(time.Second)/(r.rate/2)).Round(time.Microsecond))
	}
	p("\"Added\" is the target's latency minus direct's under the same load. CPU and peak RSS are the proxy process's (nginx: master and workers summed).\n\n")
	p("| load | target | req/s | p50 | p99 | p99.9 | added p50 | added p99 | proxy CPU s / 1k req | proxy peak RSS | errors |\n")
	p("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, l := range r.legs {
		if l.skipped != "" {
			p("| %s | %s | skipped: %s | | | | | | | | |\n", l.label, l.target, l.skipped)
			continue
		}
		added50, added99, cpu, rss := "", "", "", ""
		if d, ok := r.find(l.label, targetDirect); ok && l.target != targetDirect {
			added50, added99 = signedMS(l.stats.p50-d.stats.p50), signedMS(l.stats.p99-d.stats.p99)
		}
		if l.target != targetDirect {
			cpu, rss = fmt.Sprintf("%.3f", l.cpuPer1k), fmt.Sprintf("%.1f MiB", float64(l.rss)/(1<<20))
		}
		errs := fmt.Sprint(l.stats.errors)
		if l.shed > 0 {
			errs += fmt.Sprintf(" (+%d jobs shed)", l.shed)
		}
		p("| %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |\n", l.label, l.target, l.rps,
			ms(l.stats.p50), ms(l.stats.p99), ms(l.stats.p999), added50, added99, cpu, rss, errs)
	}

	p("\n### Gateway / nginx\n\n")
	p("Above 1 is better for the gateway in req/s, worse in the others.\n\n")
	p("| load | req/s | p99 | added p99 | CPU per request | peak RSS |\n|---|--:|--:|--:|--:|--:|\n")
	seen := map[string]bool{}
	for _, l := range r.legs {
		if seen[l.label] {
			continue
		}
		seen[l.label] = true
		g, okG := r.find(l.label, targetGateway)
		n, okN := r.find(l.label, targetNginx)
		if !okG || !okN {
			continue
		}
		d, okD := r.find(l.label, targetDirect)
		addedRatio := "–"
		if okD {
			addedRatio = ratio(float64(g.stats.p99-d.stats.p99), float64(n.stats.p99-d.stats.p99))
			if n.stats.p99 <= d.stats.p99 || g.stats.p99 <= d.stats.p99 {
				addedRatio = fmt.Sprintf("%s vs %s", signedMS(g.stats.p99-d.stats.p99), signedMS(n.stats.p99-d.stats.p99))
			}
		}
		p("| %s | %s | %s | %s | %s | %s |\n", l.label, ratio(g.rps, n.rps),
			ratio(float64(g.stats.p99), float64(n.stats.p99)), addedRatio,
			ratio(g.cpuPer1k, n.cpuPer1k), ratio(float64(g.rss), float64(n.rss)))
	}

	if len(r.failovers) > 0 {
		ft, fo := r.o.failoverTimes, r.o.failover
		p("\n### Failover\n\n")
		p("%d clients run the mix through the target; after %s the primary fails for %s, then recovers for %s. "+
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
