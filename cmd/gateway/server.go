package main

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"nergateway/api"
	"nergateway/internal/auth"
	"nergateway/internal/config"
	"nergateway/internal/inflight"
)

// clientHandler lists every route of the client port: the Language API
// and the probes load balancers send. Operations live on opsHandler.
func (g *gateway) clientHandler() http.Handler {
	r := newRouter()
	r.Method(http.MethodGet, "/healthz", g.checker.HandleHealthz())
	r.Method(http.MethodGet, "/readyz", g.checker.HandleReadyz())
	// The in-flight bound is what bounds memory: each request buffers its
	// body and its region's answer.
	language := inflight.Limit(g.cfg.MaxInflight)(g.proxy)
	if n := g.cfg.RateLimitPerKey; n > 0 {
		language = limitPerKey(n)(language)
	}
	r.Handle("/language/*", auth.Scoped(g.keys.runtime, g.keys.authoring)(labelKeyName(language)))

	return otelhttp.NewHandler(r, "gateway",
		otelhttp.WithTracerProvider(g.tel.TracerProvider),
		otelhttp.WithMeterProvider(g.tel.MeterProvider),
		otelhttp.WithPropagators(g.tel.Propagator),
		// Probes arrive every few seconds from every load balancer: traced,
		// they would be most of the trace volume and say nothing.
		otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/healthz" && r.URL.Path != "/readyz" }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + routeOf(r) }),
		otelhttp.WithMetricAttributesFn(func(r *http.Request) []attribute.KeyValue {
			return []attribute.KeyValue{semconv.HTTPRoute(routeOf(r))}
		}),
	)
}

// opsHandler lists every route of the ops port (GATEWAY_OPS_ADDR): what
// operators and Prometheus call. It is not traced: scrapes and status
// reads are not client traffic.
func (g *gateway) opsHandler() http.Handler {
	r := newRouter()
	r.Method(http.MethodGet, "/status", g.checker.HandleStatus())
	r.Method(http.MethodGet, "/metrics", g.tel.MetricsHandler())
	if g.keys.admin.Len() > 0 {
		r.Method(http.MethodPost, "/admin/replication/sync", auth.Require(auth.MessageNoAdmin, g.keys.admin)(g.handleSync()))
	}
	if g.cfg.Pprof {
		r.HandleFunc("/debug/pprof/*", pprof.Index)
		r.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		r.HandleFunc("/debug/pprof/profile", pprof.Profile)
		r.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		r.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return r
}

// newRouter answers unknown paths and methods in Azure's error shape.
func newRouter() chi.Router {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, http.StatusNotFound, api.Error{Code: api.CodeNotFound, Message: "Resource not found."})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, http.StatusMethodNotAllowed, api.Error{Code: api.CodeInvalidRequest, Message: "Method " + r.Method + " is not allowed on this path."})
	})
	return r
}

// labelKeyName adds the name of the client's key (never the key) to the
// request's HTTP server metrics, so an operator sees which application
// sends what.
func labelKeyName(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l, ok := otelhttp.LabelerFromContext(r.Context()); ok {
			l.Add(attribute.String("gateway.key.name", auth.KeyName(r.Context())))
		}
		next.ServeHTTP(w, r)
	})
}

// routeOf names a request by its route template, never by its job id, so
// span names stay few and carry no identifiers.
func routeOf(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == api.JobsPath:
		return api.JobsPath
	case strings.HasPrefix(p, api.JobsPath+"/"):
		if strings.HasSuffix(p, api.CancelSuffix) {
			return api.JobsPath + "/{jobId}:cancel"
		}
		return api.JobsPath + "/{jobId}"
	case p == api.SyncAnalyzePath:
		return p
	case strings.HasPrefix(p, api.AuthoringPrefix):
		return api.AuthoringPrefix + "..."
	case p == "/healthz", p == "/readyz":
		return p
	}
	return "other"
}

// limitPerKey caps requests per gateway key per minute, so one noisy
// application cannot spend the regions' shared quota. Keys are hashed
// before they become limiter keys; the 429 carries Retry-After, in Azure's
// shape, which Azure's SDKs need to retry.
func limitPerKey(perMinute int) func(http.Handler) http.Handler {
	return httprate.Limit(perMinute, time.Minute,
		httprate.WithKeyFuncs(func(r *http.Request) (string, error) {
			sum := sha256.Sum256([]byte(r.Header.Get(api.SubscriptionKeyHeader)))
			return hex.EncodeToString(sum[:8]), nil
		}),
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			api.WriteError(w, http.StatusTooManyRequests, api.Error{Code: api.CodeTooManyRequests,
				Message: "Rate limit of this gateway key exceeded. Please retry after the time in Retry-After."})
		}),
	)
}

// handleSync asks the replication worker for a check now.
func (g *gateway) handleSync() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.worker == nil {
			api.WriteError(w, http.StatusConflict, api.Error{Code: api.CodeConflict,
				Message: "Replication is not enabled on this replica (REPLICATION_ENABLED=false or PROJECT_NAMES empty)."})
			return
		}
		g.worker.Trigger()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"status":"sync requested"}` + "\n"))
	})
}

// serverLimits are the client-facing http.Server's timeouts and header
// cap: a slow client (slowloris) or a huge header costs a bounded time
// and memory. Tests shorten them through options.limits.
type serverLimits struct {
	readHeader, read, write, idle time.Duration
	maxHeaderBytes                int
}

// server is an http.Server for h with these limits.
func (l serverLimits) server(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.readHeader,
		ReadTimeout:       l.read,
		WriteTimeout:      l.write,
		IdleTimeout:       l.idle,
		MaxHeaderBytes:    l.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

var defaultServerLimits = serverLimits{
	readHeader:     10 * time.Second,
	read:           2 * time.Minute,
	write:          2 * time.Minute,
	idle:           2 * time.Minute,
	maxHeaderBytes: 64 << 10,
}

// upstreamTransport is the one connection pool to the regions: keep-alives,
// HTTP/2 where the region offers it, verified TLS (with UPSTREAM_CA_FILE
// added to the system roots when set; verification is never switched off).
func upstreamTransport(cfg *config.Config) (*http.Transport, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.UpstreamCAFile != "" {
		pem, err := os.ReadFile(cfg.UpstreamCAFile)
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
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       tlsCfg,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 0, // the per-attempt context bounds each call
	}, nil
}
