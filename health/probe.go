// Package health actively probes each region and serves the load
// balancer's and the operator's views of the gateway: /healthz, /readyz and
// /status. Probe verdicts go through the same breaker as client calls, so an
// open breaker half-opens and closes by probe (failback) without a client
// request paying for the trial.
package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"nergateway/api"
	"nergateway/internal/region"
	"nergateway/internal/scrub"
)

// Region is what the prober needs of a region; *region.Region has it. It is
// declared here so health does not depend on how regions are wired.
type Region interface {
	Name() string
	Endpoint() *url.URL
	Authorize(*http.Request) error
	Begin() (*region.Attempt, error)
	Judge(region.Answer, time.Time) region.Verdict
	RecordProbe(region.ProbeResult)
}

// ProberConfig configures the active probes. Zero values take docs/DESIGN.md's
// defaults.
type ProberConfig struct {
	// Regions are probed independently, each on its own goroutine.
	Regions []Region
	// Interval between probes of one region; zero means 10s.
	Interval time.Duration
	// Timeout of one probe; zero means 10s (UPSTREAM_TIMEOUT).
	Timeout time.Duration
	// APIVersion is AUTHORING_API_VERSION; empty means 2022-05-01.
	APIVersion string
	// Client sends the probes; nil means a client with no timeout of its own.
	Client *http.Client
	// Logger gets one line per verdict change; nil discards.
	Logger *slog.Logger
}

// Prober probes every region every Interval.
type Prober struct {
	cfg ProberConfig
	log *slog.Logger
}

// NewProber validates cfg and applies defaults.
func NewProber(cfg ProberConfig) (*Prober, error) {
	if len(cfg.Regions) == 0 {
		return nil, errors.New("health: no regions to probe")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = "2022-05-01"
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Prober{cfg: cfg, log: log}, nil
}

// Run probes until ctx is done, then returns after every probe stopped.
func (p *Prober) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, r := range p.cfg.Regions {
		wg.Go(func() { p.loop(ctx, r) })
	}
	wg.Wait()
	return nil
}

func (p *Prober) loop(ctx context.Context, r Region) {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	wasHealthy := true
	for {
		res := p.Probe(ctx, r)
		if ctx.Err() != nil {
			return
		}
		if !res.Skipped && res.Healthy != wasHealthy {
			wasHealthy = res.Healthy
			p.log.LogAttrs(ctx, levelFor(res.Healthy), "region probe verdict changed",
				slog.String("region", r.Name()), slog.Bool("healthy", res.Healthy),
				slog.Int("status", res.Status), slog.String("error", res.Error))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func levelFor(healthy bool) slog.Level {
	if healthy {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

// Probe sends one probe to r through its breaker and records the result.
// While the breaker is open the probe is skipped: the breaker's open
// timeout decides when the next trial may go. The answer is judged by the
// region's rulebook like a client call's, as an authoring read: a 429
// parks only that scope (capped at REGION_MAX_PARK) and, like any 4xx,
// neither opens nor closes the breaker. A probe the gateway cannot
// authorize (no valid token) is skipped too, and never charged.
func (p *Prober) Probe(ctx context.Context, r Region) region.ProbeResult {
	res := region.ProbeResult{At: time.Now().UTC()}
	attempt, err := r.Begin()
	if err != nil {
		res.Skipped = true
		res.Outcome = region.OutcomeBreakerOpen
		res.Error = "breaker open"
		r.RecordProbe(res)
		return res
	}
	start := time.Now()
	status, header, err := p.send(ctx, r)
	res.Latency = time.Since(start)
	res.Status = status
	v := r.Judge(region.Answer{Scope: region.ScopeAuthoringRead, Probe: true, Status: status, Header: header,
		Err: err, Canceled: ctx.Err() != nil}, time.Now())
	attempt.Finish(v)
	if v.Outcome == region.OutcomeCanceled {
		return res // shutting down says nothing about the region
	}
	if v.Outcome == region.OutcomeNoCredential {
		// Nothing was sent: the gateway holds no valid credential. That is
		// its own failure, shown by the credential's state (and logged
		// once by it), not a verdict on the region.
		res.Skipped, res.Outcome, res.Error = true, v.Outcome, scrub.Cause(err)
		r.RecordProbe(res)
		return res
	}
	res.Outcome = v.Outcome
	res.Healthy = v.Outcome == region.OutcomeOK && status == http.StatusOK
	switch {
	case err != nil:
		res.Error = scrub.Cause(err)
	case !res.Healthy:
		res.Error = "status " + strconv.Itoa(status)
	}
	r.RecordProbe(res)
	return res
}

// send performs the probe call of docs/DESIGN.md: GET the authoring project list
// with top=1 and the region's key.
func (p *Prober) send(ctx context.Context, r Region) (int, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	u := *r.Endpoint()
	u.Path += api.AuthoringProjectsPath
	u.RawQuery = url.Values{"api-version": {p.cfg.APIVersion}, "top": {"1"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, nil, fmt.Errorf("build probe: %w", err)
	}
	if err := r.Authorize(req); err != nil {
		return 0, nil, fmt.Errorf("authorize probe: %w", err)
	}
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, resp.Header, nil
}
