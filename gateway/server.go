package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"

	"nergateway/api"
	"nergateway/internal/accesslog"
	"nergateway/internal/auth"
	"nergateway/internal/route"
)

// clientHandler lists every route of the client port: the Language API
// and the probes load balancers send. Operations live on opsHandler.
//
// The Language API is nearly all the traffic, so it is dispatched by its
// prefix before the router is consulted, and it alone is traced (server
// spans cost nothing unless the request can be sampled, see
// telemetry.ServerSpans); probes arrive every few seconds from every load
// balancer and, traced, would be most of the trace volume and say nothing.
// Request counts and durations are the proxy's own metrics.
func (g *Gateway) clientHandler() http.Handler {
	r := newRouter()
	mount(r, route.Healthz, g.checker.HandleHealthz())
	mount(r, route.Readyz, g.checker.HandleReadyz())
	// The proxy bounds itself: bodies first (GATEWAY_BODY_TIMEOUT, the
	// byte budget), then an in-flight slot (GATEWAY_MAX_INFLIGHT).
	var language http.Handler = g.proxy
	if n := g.cfg.RateLimitPerKey; n > 0 {
		language = limitPerKey(n)(language)
	}
	language = auth.Scoped(g.keys.runtime(), g.keys.authoring())(recordKeyName(language))
	if g.cfg.AccessLog {
		// Outside the key check, so refused keys are logged too; inside
		// the server span, so lines carry its trace id.
		language = accesslog.Middleware(accesslog.Options{Logger: g.log, Sample: g.cfg.AccessLogSample})(language)
	}
	language = middleware.Recoverer(g.tel.ServerSpans(spanRoute)(language))
	return g.closeWhenDraining(bodyDeadline(g.cfg.BodyTimeout)(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req = route.OneLeadingSlash(req)
		if strings.HasPrefix(req.URL.Path, languagePrefix) {
			language.ServeHTTP(w, req)
			return
		}
		r.ServeHTTP(w, req)
	})))
}

// spanRoute describes a request for its server span from the route table:
// span names, methods and http.route never carry a value a client made up.
func spanRoute(r *http.Request) (name, method, template string) {
	rt, _ := route.Match(r.URL.Path)
	return route.SpanName(r), route.Method(r.Method), rt.Template
}

// closeWhenDraining switches keep-alives off once draining starts: every
// answer then carries Connection: close, so a keep-alive client opens its
// next request on a new connection (to another replica) instead of
// writing into one the gateway is about to close. Idle connections stay
// open until the listener closes, so a client that sends on one during
// the drain delay is answered, not reset.
func (g *Gateway) closeWhenDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.checker.Draining() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// bodyDeadline gives a request body d to arrive (GATEWAY_BODY_TIMEOUT):
// the connection's read deadline is set when the handler starts and
// cleared once the body is read. A body still trickling at the deadline
// fails its read, which the proxy answers 408. It wraps the raw
// ResponseWriter, outside the tracing middleware.
func bodyDeadline(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if d > 0 && r.Body != nil && r.Body != http.NoBody {
				b := &deadlineBody{ReadCloser: r.Body, rc: *http.NewResponseController(w)}
				if b.rc.SetReadDeadline(time.Now().Add(d)) == nil {
					r.Body = b
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// deadlineBody clears the read deadline once its body arrived whole, so a
// handler that waits on regions afterwards is not cut off. After a failed
// read the deadline stays: the server would otherwise wait forever to
// drain the rest of a body that is never coming before it writes the 408.
type deadlineBody struct {
	io.ReadCloser
	rc   http.ResponseController // a value: one allocation per body, not three
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// languagePrefix is the path of every Language API call.
const languagePrefix = "/language/"

// opsHandler lists every route of the ops port (GATEWAY_OPS_ADDR): what
// operators and Prometheus call. It is not traced: scrapes and status
// reads are not client traffic.
func (g *Gateway) opsHandler() http.Handler {
	r := newRouter()
	mount(r, route.Status, g.checker.HandleStatus())
	mount(r, route.Metrics, g.tel.MetricsHandler())
	if g.keys.admin().Len() > 0 {
		mount(r, route.AdminSync, auth.Require(auth.MessageNoAdmin, g.keys.admin())(g.handleSync()))
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

// mount serves h at rt's path for its method, both from the route table.
func mount(r chi.Router, rt route.Route, h http.Handler) { r.Method(rt.Methods[0], rt.Template, h) }

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

// recordKeyName puts the name of the client's key (never the key) on the
// request's access log line; the proxy's request metric reads it from the
// context itself (proxy.Config.KeyName).
func recordKeyName(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accesslog.SetKeyName(r.Context(), auth.KeyName(r.Context()))
		next.ServeHTTP(w, r)
	})
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
func (g *Gateway) handleSync() http.Handler {
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
// and memory. Tests shorten them through Deps.limits.
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
