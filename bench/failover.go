package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// fault is a way the primary fails, as the emulator's admin API injects it.
type fault struct {
	name, body string
}

var faults = []fault{
	// The listener closes (new connections refused) and requests on open
	// keep-alive connections are reset.
	{"refuse", `{"down":"refuse"}`},
	// Requests are accepted and never answered.
	{"blackhole", `{"latencyMs":3600000}`},
	{"503", `{"status":503}`},
}

// failoverTiming is the phases of one failover run.
type failoverTiming struct {
	healthy, down, recovery time.Duration
	workers                 int
}

// failoverResult is what one fault did to clients of one target.
type failoverResult struct {
	fault, target string
	skipped       string

	firstSecondary time.Duration // fault to the first answer from the secondary; -1 never
	breakerOpen    time.Duration // fault to the primary's breaker opening; -1 never or n/a
	submitErrors   int
	pollErrors     int
	errorCodes     string // e.g. "poll 503 ×12"
	requests       int

	before     stats // submits before the fault
	closed     stats // submits from the fault until the breaker opened
	open       stats // submits while the breaker was open and the fault lasted
	duringDown stats // every submit while the fault lasted

	breakerClosed  time.Duration // recovery to the breaker closing; -1 never or n/a
	firstPrimary   time.Duration // recovery to the first answer from the primary again; -1 never
	secondaryCalls int           // submits the secondary's counter saw
	secondaryJobs  int           // jobs the client saw run in the secondary
}

// runFailover drives the mix through target while the primary fails as f
// and comes back.
func runFailover(ctx context.Context, t *tools, target string, f fault, o stackOptions, ft failoverTiming) (failoverResult, error) {
	res := failoverResult{fault: f.name, target: target}
	s, err := startStack(ctx, t, target, o)
	if err != nil {
		return res, err
	}
	defer s.close()
	c := newClient(s.base, s.key, ft.workers)
	defer c.close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg      sync.WaitGroup
		results = make([][]sample, ft.workers)
		stop    = make(chan struct{})
	)
	for w := range ft.workers {
		wg.Go(func() {
			var out []sample
			for n := w; ; n += ft.workers {
				select {
				case <-stop:
					results[w] = out
					return
				default:
				}
				out = c.op(ctx, n, time.Time{}, out)
			}
		})
	}
	time.Sleep(ft.healthy)
	tFault := time.Now()
	faultErr := s.primary.adminCall(ctx, http.MethodPost, "/_emulator/faults", f.body)
	time.Sleep(ft.down)
	tRecover := time.Now()
	clearErr := s.primary.adminCall(ctx, http.MethodDelete, "/_emulator/faults", "")
	time.Sleep(ft.recovery)
	close(stop)
	wg.Wait()
	if faultErr != nil || clearErr != nil {
		return res, fmt.Errorf("setting the %s fault: %v; clearing it: %v", f.name, faultErr, clearErr)
	}
	var all []sample
	for _, r := range results {
		all = append(all, r...)
	}
	if calls, err := s.secondary.calls(ctx); err == nil {
		res.secondaryCalls = calls["submit"]
	}

	fault, recover := c.since(tFault), c.since(tRecover)
	res.breakerOpen, res.breakerClosed = -1, -1
	openAt := time.Duration(-1)
	if target == targetGateway {
		if at, ok := s.breaker.first("primary", "open", tFault); ok {
			openAt = c.since(at)
			res.breakerOpen = openAt - fault
		}
		if at, ok := s.breaker.first("primary", "closed", tRecover); ok {
			res.breakerClosed = c.since(at) - recover
		}
	}
	res.firstSecondary, res.firstPrimary = -1, -1
	codes := map[string]int{}
	var before, closed, open, down []sample
	for _, sm := range all {
		res.requests++
		if !sm.ok() {
			kind := "submit"
			if sm.kind == kindPoll {
				kind = "poll"
				res.pollErrors++
			} else {
				res.submitErrors++
			}
			code := fmt.Sprint(sm.status)
			if sm.status == 0 {
				code = "no answer"
			}
			codes[kind+" "+code]++
		}
		if sm.kind != kindSubmit {
			continue
		}
		if sm.known && sm.secondary {
			res.secondaryJobs++
			if d := sm.end - fault; sm.end >= fault && (res.firstSecondary < 0 || d < res.firstSecondary) {
				res.firstSecondary = d
			}
		}
		if sm.known && !sm.secondary && sm.start >= recover {
			if d := sm.end - recover; res.firstPrimary < 0 || d < res.firstPrimary {
				res.firstPrimary = d
			}
		}
		switch {
		case sm.start < fault:
			before = append(before, sm)
		case sm.start < recover:
			down = append(down, sm)
			if openAt >= 0 && sm.start >= openAt {
				open = append(open, sm)
			} else if openAt >= 0 {
				closed = append(closed, sm)
			}
		}
	}
	res.before, res.closed, res.open, res.duringDown = summarize(before), summarize(closed), summarize(open), summarize(down)
	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, codes[k]))
	}
	res.errorCodes = strings.Join(parts, ", ")
	return res, nil
}
