// Package transport builds the connection pool to the regions, with one
// set of defaults: the proxy's calls, the probes, the replication worker
// and the token requests all go through the one pool the wiring builds
// with New, and the api client's default is one too.
package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// MaxConnsPerRegion caps the connections to one region.
const MaxConnsPerRegion = 64

// New is a connection pool to the regions: keep-alives, HTTP/2 where the
// region offers it, verified TLS (with caFile, UPSTREAM_CA_FILE, added to
// the system roots when set; verification is never switched off).
func New(caFile string) (*http.Transport, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("UPSTREAM_CA_FILE: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("UPSTREAM_CA_FILE: no PEM certificate found")
		}
		tlsCfg.RootCAs = pool
	}
	return &http.Transport{
		Proxy:             http.ProxyFromEnvironment,
		DialContext:       (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2: true,
		TLSClientConfig:   tlsCfg,
		// A region needs few connections: a call takes it milliseconds,
		// so this many serve thousands of calls a second, more than a
		// region's quota. The cap bounds the goroutines and buffers the
		// pool costs (two goroutines and 8 KiB per connection) whatever
		// the number of clients: calls beyond it wait for a connection
		// within their UPSTREAM_TIMEOUT. Every connection may stay idle,
		// so a burst does not close and reopen them.
		MaxConnsPerHost:       MaxConnsPerRegion,
		MaxIdleConnsPerHost:   MaxConnsPerRegion,
		MaxIdleConns:          0, // no cap beyond the per-region one
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 0, // the per-attempt context bounds each call
	}, nil
}
