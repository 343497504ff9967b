package telemetry

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Protocol names of OTEL_EXPORTER_OTLP_PROTOCOL.
const (
	protocolHTTP = "http/protobuf"
	protocolGRPC = "grpc"
)

// Defaults from the OpenTelemetry environment variable specification.
const (
	defaultHTTPEndpoint   = "http://localhost:4318"
	defaultGRPCEndpoint   = "http://localhost:4317"
	defaultOTLPTimeout    = 10 * time.Second
	defaultExportInterval = 60 * time.Second
	defaultExportTimeout  = 30 * time.Second
)

// config is everything Setup needs, read from the environment once so the
// parsing is a pure function with a table test.
type config struct {
	disabled       bool
	serviceName    string
	resourceAttrs  []kv // from OTEL_RESOURCE_ATTRIBUTES, in order
	tracesOTLP     bool
	tracesConsole  bool
	metricsOTLP    bool
	sampler        string
	samplerArg     float64
	exportInterval time.Duration
	exportTimeout  time.Duration
	propagators    []string
	traces         otlpSignal
	metrics        otlpSignal
}

// kv is one key=value pair of a baggage-formatted list, kept ordered so
// errors and resources are deterministic.
type kv struct{ key, value string }

// otlpSignal is the resolved OTLP exporter setting of one signal.
type otlpSignal struct {
	protocol string
	// endpoint is the full URL for http/protobuf (path included), and a
	// gRPC target host:port for grpc.
	endpoint    string
	insecure    bool
	headers     map[string]string
	timeout     time.Duration
	compression string // "gzip" or "" for none
}

// parseConfig reads the OTEL_* variables through getenv. serviceName is the
// default service.name. Every problem found is returned, joined, so an
// operator fixes them all in one go.
func parseConfig(getenv func(string) string, serviceName string) (config, error) {
	p := &parser{getenv: getenv}
	c := config{serviceName: serviceName}

	c.disabled = p.boolean("OTEL_SDK_DISABLED")

	c.resourceAttrs = p.list("OTEL_RESOURCE_ATTRIBUTES")
	for _, a := range c.resourceAttrs {
		if a.key == "service.name" {
			c.serviceName = a.value
		}
	}
	if v := p.get("OTEL_SERVICE_NAME"); v != "" {
		c.serviceName = v
	}
	if c.serviceName == "" {
		c.serviceName = "unknown_service"
	}

	tracesEndpointSet := p.get("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || p.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	metricsEndpointSet := p.get("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || p.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") != ""

	traceExporters := p.names("OTEL_TRACES_EXPORTER", []string{"otlp", "console", "none"})
	if traceExporters == nil && tracesEndpointSet {
		traceExporters = []string{"otlp"}
	}
	for _, e := range traceExporters {
		c.tracesOTLP = c.tracesOTLP || e == "otlp"
		c.tracesConsole = c.tracesConsole || e == "console"
	}

	metricExporters := p.names("OTEL_METRICS_EXPORTER", []string{"otlp", "prometheus", "none"})
	if metricExporters == nil && metricsEndpointSet {
		metricExporters = []string{"otlp"}
	}
	for _, e := range metricExporters {
		c.metricsOTLP = c.metricsOTLP || e == "otlp"
	}

	c.sampler, c.samplerArg = p.sampler()
	c.exportInterval = p.millis("OTEL_METRIC_EXPORT_INTERVAL", defaultExportInterval)
	c.exportTimeout = p.millis("OTEL_METRIC_EXPORT_TIMEOUT", defaultExportTimeout)

	c.propagators = p.names("OTEL_PROPAGATORS", []string{"tracecontext", "baggage", "none"})
	if c.propagators == nil {
		c.propagators = []string{"tracecontext", "baggage"}
	}

	if c.tracesOTLP {
		c.traces = p.signal("TRACES", "/v1/traces")
	}
	if c.metricsOTLP {
		c.metrics = p.signal("METRICS", "/v1/metrics")
	}
	return c, errors.Join(p.errs...)
}

// parser reads variables and collects one error per bad variable.
type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) get(name string) string { return strings.TrimSpace(p.getenv(name)) }

func (p *parser) fail(name, value, why string) {
	p.add(fmt.Errorf("%s=%q: %s", name, value, why))
}

// add records err once: a generic variable read for both signals is one
// problem, not two.
func (p *parser) add(err error) {
	for _, e := range p.errs {
		if e.Error() == err.Error() {
			return
		}
	}
	p.errs = append(p.errs, err)
}

func (p *parser) boolean(name string) bool {
	v := p.get(name)
	switch strings.ToLower(v) {
	case "":
		return false
	case "true":
		return true
	case "false":
		return false
	}
	p.fail(name, v, "want true or false")
	return false
}

// names parses a comma-separated list of allowed names. It returns nil when
// the variable is unset, and an empty non-nil list for "none".
func (p *parser) names(name string, allowed []string) []string {
	v := p.get(name)
	if v == "" {
		return nil
	}
	out := []string{}
	for _, n := range strings.Split(v, ",") {
		n = strings.ToLower(strings.TrimSpace(n))
		ok := false
		for _, a := range allowed {
			ok = ok || n == a
		}
		if !ok {
			p.fail(name, v, fmt.Sprintf("unsupported value %q, want one of %s", n, strings.Join(allowed, ", ")))
			continue
		}
		if n != "none" {
			out = append(out, n)
		}
	}
	return out
}

// list parses the W3C-baggage-like key=value,... format of
// OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS, with
// percent-encoded values.
func (p *parser) list(name string) []kv {
	v := p.get(name)
	if v == "" {
		return nil
	}
	var out []kv
	for _, item := range strings.Split(v, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, val, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			// The value may be a credential (headers): do not echo it.
			p.add(fmt.Errorf("%s: entry %d is not key=value", name, len(out)+1))
			return nil
		}
		dec, err := url.PathUnescape(strings.TrimSpace(val))
		if err != nil {
			// err quotes the bad escape, a piece of what may be a
			// credential: name the key only.
			p.add(fmt.Errorf("%s: value of %q is not percent-encoded", name, k))
			return nil
		}
		out = append(out, kv{k, dec})
	}
	return out
}

// millis parses a positive integer number of milliseconds.
func (p *parser) millis(name string, def time.Duration) time.Duration {
	v := p.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > int64(time.Duration(1<<63-1)/time.Millisecond) {
		p.fail(name, v, "want a positive whole number of milliseconds")
		return def
	}
	return time.Duration(n) * time.Millisecond
}

func (p *parser) sampler() (string, float64) {
	name := strings.ToLower(p.get("OTEL_TRACES_SAMPLER"))
	if name == "" {
		name = "parentbased_always_on"
	}
	switch name {
	case "always_on", "always_off", "parentbased_always_on", "parentbased_always_off":
		return name, 0
	case "traceidratio", "parentbased_traceidratio":
		arg := p.get("OTEL_TRACES_SAMPLER_ARG")
		if arg == "" {
			return name, 1
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			p.fail("OTEL_TRACES_SAMPLER_ARG", arg, "want a ratio between 0 and 1")
			return name, 1
		}
		return name, r
	}
	p.fail("OTEL_TRACES_SAMPLER", name, "want always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio")
	return "parentbased_always_on", 0
}

// perSignal returns the per-signal variable when set, else the generic one,
// with the name that supplied it for error messages.
func (p *parser) perSignal(signal, suffix string) (name, value string) {
	name = "OTEL_EXPORTER_OTLP_" + signal + "_" + suffix
	if v := p.get(name); v != "" {
		return name, v
	}
	name = "OTEL_EXPORTER_OTLP_" + suffix
	return name, p.get(name)
}

// signal resolves the OTLP exporter settings of one signal ("TRACES" or
// "METRICS") following the spec's endpoint rules.
func (p *parser) signal(signal, path string) otlpSignal {
	s := otlpSignal{protocol: protocolHTTP, timeout: defaultOTLPTimeout}

	if name, v := p.perSignal(signal, "PROTOCOL"); v != "" {
		switch strings.ToLower(v) {
		case protocolHTTP, protocolGRPC:
			s.protocol = strings.ToLower(v)
		default:
			p.fail(name, v, "want http/protobuf or grpc")
		}
	}

	insecureName, insecureValue := p.perSignal(signal, "INSECURE")
	switch strings.ToLower(insecureValue) {
	case "", "false":
	case "true":
		s.insecure = true
	default:
		p.fail(insecureName, insecureValue, "want true or false")
	}

	headersName, _ := p.perSignal(signal, "HEADERS")
	if kvs := p.list(headersName); len(kvs) > 0 {
		s.headers = make(map[string]string, len(kvs))
		for _, h := range kvs {
			s.headers[h.key] = h.value
		}
	}

	timeoutName, _ := p.perSignal(signal, "TIMEOUT")
	s.timeout = p.millis(timeoutName, defaultOTLPTimeout)

	if name, v := p.perSignal(signal, "COMPRESSION"); v != "" {
		switch strings.ToLower(v) {
		case "gzip":
			s.compression = "gzip"
		case "none":
		default:
			p.fail(name, v, "want gzip or none")
		}
	}

	// Endpoint: the per-signal URL is used as is; the generic one is a base
	// to which the signal's path is appended (http/protobuf only).
	name := "OTEL_EXPORTER_OTLP_" + signal + "_ENDPOINT"
	raw, perSignal := p.get(name), true
	if raw == "" {
		name, raw, perSignal = "OTEL_EXPORTER_OTLP_ENDPOINT", p.get("OTEL_EXPORTER_OTLP_ENDPOINT"), false
	}
	if raw == "" {
		raw = defaultHTTPEndpoint
		if s.protocol == protocolGRPC {
			raw = defaultGRPCEndpoint
		}
	}
	if s.protocol == protocolGRPC {
		s.endpoint, s.insecure = p.grpcTarget(name, raw, s.insecure)
		return s
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(name, raw, "want an absolute http:// or https:// URL")
		return s
	}
	if perSignal {
		if u.Path == "" {
			u.Path = "/"
		}
	} else {
		u.Path = strings.TrimSuffix(u.Path, "/") + path
	}
	s.endpoint = u.String()
	s.insecure = u.Scheme == "http"
	return s
}

// grpcTarget turns an endpoint into a host:port target. A scheme decides
// transport security; without one, insecure (from OTEL_*_INSECURE) does.
func (p *parser) grpcTarget(name, raw string, insecure bool) (string, bool) {
	if !strings.Contains(raw, "://") {
		if strings.TrimSpace(raw) == "" || strings.ContainsAny(raw, "/?#") {
			p.fail(name, raw, "want host:port or an http(s) URL")
		}
		return raw, insecure
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(name, raw, "want host:port or an absolute http:// or https:// URL")
		return raw, insecure
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = u.Host + ":" + port
	}
	return host, u.Scheme == "http"
}
