// Command floor is the bench's bare net/http proxy: the least a Go proxy in
// front of one region does. It reads the request body into memory (what a
// proxy that may replay it must do), checks the client's key and puts the
// region's in its place, makes one http.Transport round trip and relays
// the answer. Nothing else: no failover, no telemetry, no rewriting. The
// gateway's features are measured as the cost above this floor.
//
//	FLOOR_CLIENT_KEY=... FLOOR_REGION_KEY=... floor -addr 127.0.0.1:8080 -upstream http://127.0.0.1:5001
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const keyHeader = "Ocp-Apim-Subscription-Key"

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	upstream := flag.String("upstream", "", "the region's base URL, e.g. http://127.0.0.1:5001")
	flag.Parse()
	clientKey, regionKey := os.Getenv("FLOOR_CLIENT_KEY"), os.Getenv("FLOOR_REGION_KEY")
	if *upstream == "" || clientKey == "" || regionKey == "" {
		fmt.Fprintln(os.Stderr, "floor: -upstream, FLOOR_CLIENT_KEY and FLOOR_REGION_KEY are required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{
		Addr:              *addr,
		Handler:           relay(*upstream, clientKey, regionKey),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// relay is the whole proxy.
func relay(upstream, clientKey, regionKey string) http.Handler {
	tr := &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(keyHeader) != clientKey {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "bad request body", http.StatusBadRequest)
			return
		}
		out, err := http.NewRequestWithContext(r.Context(), r.Method, upstream+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		out.Header = r.Header.Clone()
		out.Header.Set(keyHeader, regionKey)
		resp, err := tr.RoundTrip(out)
		if err != nil {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
}
