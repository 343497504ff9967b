package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// Serve runs the gateway until ctx is done, then drains: readiness turns
// 503, in-flight requests finish within GATEWAY_DRAIN_TIMEOUT, background
// work stops, telemetry is flushed. It returns once everything stopped.
// A Gateway serves once.
func (g *Gateway) Serve(ctx context.Context) error {
	if g.deps.MemoryLimit {
		defer setMemoryLimit(g.cfg, g.deps.getenv, g.log)()
	}
	defer g.up.close()
	defer flushTelemetry(ctx, g.tel, g.log)
	if g.rescue != nil {
		defer g.rescue.Close() // after the background parts stopped (below)
	}
	ln, err := listen(g.deps.Listener, g.cfg.Addr)
	if err != nil {
		return err
	}
	opsLn, err := listen(g.deps.OpsListener, g.cfg.OpsAddr)
	if err != nil {
		_ = ln.Close()
		return err
	}
	background, stopped, stop := g.runBackground(ctx)
	defer stop()
	failure := g.serve(ctx, stopped, ln, opsLn)
	stop() // after the drain: the proxy follows orphaned submits until then
	if err := background.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		failure = errors.Join(failure, err)
	}
	g.log.Info("gateway stopped")
	return failure
}

// runBackground starts the parts that work beside the servers: the token
// renewer, the probes, the proxy's followers, the replication worker, the
// key file watchers and the rescue store's pings. The first to fail stops
// the others and closes stopped; stop ends them all.
func (g *Gateway) runBackground(ctx context.Context) (_ *errgroup.Group, stopped <-chan struct{}, stop context.CancelFunc) {
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	group, gctx := errgroup.WithContext(runCtx)
	group.Go(func() error { return g.up.run(gctx) })
	group.Go(func() error { return g.prober.Run(gctx) })
	group.Go(func() error { return g.proxy.Run(gctx) })
	if g.worker != nil {
		group.Go(func() error {
			// Its first check runs once the first token request ended, not
			// before: a failure then is the credential's, and says so.
			_ = g.up.wait(gctx)
			return g.worker.Run(gctx)
		})
	}
	for _, w := range g.keys.watchers {
		group.Go(func() error { return w.Run(gctx) })
	}
	if g.rescue != nil {
		group.Go(func() error { return g.rescue.Run(gctx) })
	}
	return group, gctx.Done(), stop
}

// serve runs the client and the ops server under one group until ctx is
// done, a background part stopped or a server failed, then drains them;
// it returns the first server failure, or the drain's.
func (g *Gateway) serve(ctx context.Context, stopped <-chan struct{}, ln, opsLn net.Listener) error {
	limits := defaultServerLimits
	if g.deps.limits != nil {
		limits = *g.deps.limits
	}
	srv := limits.server(g.clientHandler(), g.log)
	opsSrv := limits.server(g.opsHandler(), g.log)
	servers, failed := errgroup.WithContext(context.WithoutCancel(ctx))
	servers.Go(func() error { return serveOn(srv, ln, "serve") })
	servers.Go(func() error { return serveOn(opsSrv, opsLn, "serve ops") })
	names := make([]string, len(g.regions))
	for i, r := range g.regions {
		names[i] = r.Name()
	}
	g.log.Info("gateway serving", "addr", ln.Addr().String(), "ops_addr", opsLn.Addr().String(), "version", version,
		"regions", strings.Join(names, ","), "replication", g.worker != nil)
	if g.deps.Ready != nil {
		g.deps.Ready(ln.Addr().String(), opsLn.Addr().String())
	}
	servers.Go(func() error {
		select {
		case <-ctx.Done():
		case <-stopped:
		case <-failed.Done(): // a server failed
		}
		return g.drain(ctx, failed, srv, opsSrv)
	})
	return servers.Wait()
}

// serveOn serves srv on ln until it is shut down, which is no failure.
func serveOn(srv *http.Server, ln net.Listener, what string) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// drain turns readiness off and, unless a server failed, keeps accepting
// for GATEWAY_DRAIN_DELAY while load balancers see /readyz answer 503 and
// take this replica out; then it stops listening and gives in-flight
// requests GATEWAY_DRAIN_TIMEOUT. The ops port outlives the client port's
// drain, so /metrics and /status show it.
func (g *Gateway) drain(ctx, failed context.Context, srv, opsSrv *http.Server) error {
	g.log.Info("gateway draining", "bound", g.cfg.DrainTimeout.String(), "delay", g.cfg.DrainDelay.String())
	g.checker.Drain()
	if d := g.cfg.DrainDelay; d > 0 && failed.Err() == nil {
		delay := time.NewTimer(d)
		select {
		case <-delay.C:
		case <-failed.Done():
			delay.Stop()
		}
	}
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.DrainTimeout)
	defer cancel()
	var err error
	if e := srv.Shutdown(drainCtx); e != nil {
		err = fmt.Errorf("drain: %w", e)
		_ = srv.Close()
	}
	if e := opsSrv.Shutdown(drainCtx); e != nil {
		_ = opsSrv.Close()
	}
	return err
}
