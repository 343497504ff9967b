package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"nergateway/emulator"
	"nergateway/internal/secret"
	"nergateway/replication/docsync"
)

// config is what the command line says.
type config struct {
	addr, adminAddr, name, key, seedFile, logFormat string
	storageURL, storageKey                          string
	jobDuration, authoringJobDuration               time.Duration
	pageSize, postsPerMinute                        int
	manualClock                                     bool
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", ":5001", "listen address of the region")
	fs.StringVar(&c.adminAddr, "admin-addr", "", "optional second address serving only the admin API (/_emulator/), which stays up while the region refuses connections")
	fs.StringVar(&c.name, "name", "emulator", "region label for logs")
	fs.StringVar(&c.key, "key", getenv("EMULATOR_KEY"), "the Ocp-Apim-Subscription-Key the region accepts (default $EMULATOR_KEY)")
	fs.DurationVar(&c.jobDuration, "job-duration", 0, "how long a runtime job takes (notStarted for a third, then running)")
	fs.DurationVar(&c.authoringJobDuration, "authoring-job-duration", 0, "how long export/import/train/deploy jobs take")
	fs.IntVar(&c.pageSize, "page-size", 0, "documents per page of a job result when the client gives no top (0: 20)")
	fs.IntVar(&c.postsPerMinute, "authoring-posts-per-minute", 0, "emulate Azure's authoring POST rate limit (Azure: 10; 0: off)")
	fs.BoolVar(&c.manualClock, "manual-clock", false, "freeze time; move it with POST /_emulator/clock/advance?d=5s")
	fs.StringVar(&c.seedFile, "seed", "", "JSON file with a SeedProject or a list of them to create at start")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
	fs.StringVar(&c.storageURL, "storage-url", "", "blob service URL (Azure Storage or Azurite) to read training documents from; empty keeps them in memory")
	fs.StringVar(&c.storageKey, "storage-key", getenv("EMULATOR_STORAGE_KEY"), "shared key of -storage-url's account (default $EMULATOR_STORAGE_KEY; empty: a SAS in the URL, or Microsoft Entra ID)")
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("parsing flags: %w", err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.key == "" {
		return c, errors.New("-key (or EMULATOR_KEY) is required")
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return c, fmt.Errorf("-log-format must be text or json, not %q", c.logFormat)
	}
	return c, nil
}

// run serves a region until ctx is done.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	var handler slog.Handler = slog.NewTextHandler(stderr, nil)
	if c.logFormat == "json" {
		handler = slog.NewJSONHandler(stderr, nil)
	}
	opts := emulator.Options{
		Name:                    c.name,
		Key:                     c.key,
		JobDuration:             c.jobDuration,
		AuthoringJobDuration:    c.authoringJobDuration,
		PageSize:                c.pageSize,
		AuthoringPostsPerMinute: c.postsPerMinute,
		Logger:                  slog.New(handler),
	}
	if c.storageURL != "" {
		store, err := docsync.NewStore(c.storageURL, docsync.Options{Key: secret.Secret(c.storageKey)})
		if err != nil {
			return fmt.Errorf("-storage-url: %w", err)
		}
		opts.Documents = store
	}
	if c.manualClock {
		opts.Clock = emulator.NewManualClock(time.Now())
	}
	// Seeded before the region serves: a client that can connect finds
	// the seed projects already there.
	if opts.Seeds, err = readSeeds(c.seedFile); err != nil {
		return err
	}
	s, err := emulator.Start(c.addr, c.adminAddr, opts)
	if err != nil {
		return fmt.Errorf("starting: %w", err)
	}
	defer s.Close() // after Shutdown
	fmt.Fprintf(stdout, "emulated region %s listening on %s", c.name, s.URL)
	if s.AdminURL != "" {
		fmt.Fprintf(stdout, " (admin API also on %s)", s.AdminURL)
	}
	fmt.Fprintln(stdout)
	<-ctx.Done()
	// A fresh context: ctx is already done.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return s.Shutdown(shutdownCtx)
}

// shutdownTimeout bounds how long requests in flight (a latency fault, say)
// may hold up the exit.
const shutdownTimeout = 5 * time.Second

// readSeeds reads one SeedProject or a JSON list of them.
func readSeeds(path string) ([]emulator.SeedProject, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading seed file: %w", err)
	}
	var list []emulator.SeedProject
	if err := json.Unmarshal(b, &list); err == nil {
		return list, nil
	}
	var one emulator.SeedProject
	if err := json.Unmarshal(b, &one); err != nil {
		return nil, fmt.Errorf("seed file %s: %w", path, err)
	}
	return []emulator.SeedProject{one}, nil
}
