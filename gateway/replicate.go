package gateway

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"nergateway/internal/config"
)

// ReplicateOnce runs one replication pass (`gateway replicate --once`)
// with the worker serving builds, and fails if a project did.
func ReplicateOnce(ctx context.Context, cfg *config.Config, deps Deps) error {
	log := newLogger(cfg, deps)
	warnConfiguration(cfg, deps.Environ, log)
	if len(cfg.Projects) == 0 {
		return errors.New("replicate: PROJECT_NAMES is empty: nothing to replicate")
	}
	tel, err := newTelemetry(ctx, "nergateway-replicate", deps, log)
	if err != nil {
		return err
	}
	defer flushTelemetry(ctx, tel, log)
	up, err := newUpstream(cfg, deps.getenv, log)
	if err != nil {
		return err
	}
	defer up.close()
	w, err := newWorker(cfg, up, tel, log)
	if err != nil {
		return err
	}
	// The token is renewed for as long as the run lasts (training can
	// outlive one); the run starts once the first renewal succeeded.
	renewCtx, stopRenewing := context.WithCancel(ctx)
	var renewer errgroup.Group
	renewer.Go(func() error { return up.run(renewCtx) })
	defer func() {
		stopRenewing()
		_ = renewer.Wait()
	}()
	if err := up.wait(ctx); err != nil {
		return fmt.Errorf("replicate: %w", err)
	}
	err = w.SyncOnce(ctx)
	for _, p := range w.Status() {
		log.Info("replication result", "project", p.Project, "state", p.State)
	}
	if err != nil {
		return fmt.Errorf("replicate: %w", err)
	}
	return nil
}
