// Command emulator serves one emulated Azure AI Language region (see
// package emulator) for compose, manual testing and demos:
//
//	go run ./cmd/emulator -addr :5001 -name westus2 -key k1
package main

import "nergateway/cmd/internal/cli"

func main() { cli.Main("emulator", run) }
