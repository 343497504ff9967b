// Package cli is the main every command of this module shares: Mat Ryer's
// run(ctx, args, getenv, stdout, stderr) pattern, so a command's logic is a
// function tests call, and main only binds it to the process.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Run is a command's logic, given the process's arguments (program name
// removed), environment and output; its context ends on SIGINT or SIGTERM.
type Run func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// Main runs run for the process and exits 1 with "name: error" on stderr
// when it fails.
func Main(name string, run Run) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
