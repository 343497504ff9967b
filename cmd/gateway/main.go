// Command gateway serves the failover gateway for Azure AI Language custom
// NER. See README.md for the commands and docs/DESIGN.md for the contract;
// the wiring is cmd/internal/gateway's, and the demo is cmd/demo (this binary
// links no emulator).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"nergateway/cmd/internal/gateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := gateway.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}
