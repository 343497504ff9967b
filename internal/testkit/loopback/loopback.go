// Package loopback hands tests addresses on 127.0.0.1 to listen on, for
// processes that take an address rather than a listener.
package loopback

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// FreeAddrs is n distinct loopback addresses that were free a moment ago.
// Every listener stays open until all are chosen: a port closed before the
// next is asked for can be handed out again, and a gateway given the same
// port for GATEWAY_ADDR and GATEWAY_OPS_ADDR refuses to start.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		addrs[i] = ln.Addr().String()
	}
	return addrs
}

// FreeAddr is one free loopback address.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return FreeAddrs(t, 1)[0]
}
