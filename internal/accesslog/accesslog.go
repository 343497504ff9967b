// Package accesslog writes one structured line per client request, as
// Envoy's and nginx's access logs do: what was asked (method, route
// template), what came of it (status, duration, the regions tried and each
// one's outcome), and who asked (the key's name, never the key), with the
// trace id that leads to the request's trace.
//
// Nothing a client sends in a body, no key and no region host can appear:
// every field is a fixed label, a number, a name from the configuration or
// the gateway's own job id.
package accesslog

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"nergateway/internal/region"
	"nergateway/internal/reqrecord"
	"nergateway/internal/route"
	"nergateway/internal/statuswriter"
)

// Options configure Middleware.
type Options struct {
	// Logger receives the lines (message "access", level info); through
	// the gateway's logger they carry trace_id and span_id.
	Logger *slog.Logger
	// Sample is the fraction of successful requests logged, in [0, 1].
	// Requests that failed (status 400 or above) or that needed more than
	// one region are always logged: they are the ones an operator looks for.
	Sample float64
	// Rand returns a number in [0, 1); nil means math/rand/v2.
	Rand func() float64
}

type entryKey struct{}

// entry is filled by inner handlers that know what the middleware cannot
// see (the key's name is only known after the key check).
type entry struct{ keyName string }

// SetKeyName records the name of the key that authorized the request.
func SetKeyName(ctx context.Context, name string) {
	if e, ok := ctx.Value(entryKey{}).(*entry); ok {
		e.keyName = name
	}
}

// Middleware logs every request that passes through it, once it is answered.
func Middleware(o Options) func(http.Handler) http.Handler {
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !o.Logger.Enabled(r.Context(), slog.LevelInfo) {
				// LOG_LEVEL above info: no line would be written, so
				// nothing is measured either.
				next.ServeHTTP(w, r)
				return
			}
			o.serve(next, w, r)
		})
	}
}

// serve serves r through next and logs it. Functions of their own, the
// pass-through above and the line below, so the stack frame every request
// waits in for its region stays small.
func (o Options) serve(next http.Handler, w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	e := &entry{}
	ctx, res := reqrecord.With(context.WithValue(r.Context(), entryKey{}, e))
	sw := statuswriter.New(w)
	next.ServeHTTP(sw, r.WithContext(ctx))
	o.log(ctx, r, sw.Status(), res, e.keyName, time.Since(start))
}

// log writes the line for an answered request, unless it is an
// uneventful one that sampling leaves out.
func (o Options) log(ctx context.Context, r *http.Request, status int, res *reqrecord.Result, keyName string, took time.Duration) {
	eventful := status >= 400 || len(res.Tried) > 1 || res.Calm != ""
	if !eventful && (o.Sample <= 0 || (o.Sample < 1 && o.Rand() >= o.Sample)) {
		return
	}
	rt, _ := route.Match(r.URL.Path)
	attrs := []slog.Attr{
		slog.String("method", route.Method(r.Method)),
		slog.String("route", rt.Template),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000),
		slog.String("regions", tried(res.Tried)),
		slog.String("region", res.Region),
		slog.String("outcome", string(res.Outcome)),
		slog.String("key", keyName),
	}
	if id := res.JobID; id != "" { // bounded by the proxy
		attrs = append(attrs, slog.String("job_id", id))
	}
	if res.Calm != "" { // a fixed label
		attrs = append(attrs, slog.String("calm", res.Calm))
	}
	o.Logger.LogAttrs(ctx, slog.LevelInfo, "access", attrs...)
}

// tried spells the attempts "westus2=connection_error,eastus=ok".
func tried(attempts []reqrecord.Attempt) string {
	var b strings.Builder
	for i, a := range attempts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.Region)
		b.WriteByte('=')
		o := a.Outcome
		if o == "" {
			o = region.OutcomeOK
		}
		b.WriteString(string(o))
	}
	return b.String()
}
