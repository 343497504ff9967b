// Command gateway serves the failover gateway for Azure AI Language custom
// NER. See README.md for the commands and docs/DESIGN.md for the contract;
// this package dispatches the commands (run), the gateway package builds and
// serves, and the demo is cmd/demo (this binary links no emulator).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}
