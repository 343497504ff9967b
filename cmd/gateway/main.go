// Command gateway serves the failover gateway for Azure AI Language custom
// NER. See README.md for the commands and docs/DESIGN.md for the contract;
// this package dispatches the commands (run), the gateway package builds and
// serves, and the demo is cmd/demo (this binary links no emulator).
package main

import "nergateway/cmd/internal/cli"

func main() { cli.Main("gateway", run) }
