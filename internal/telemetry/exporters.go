package telemetry

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
)

// closer releases what an exporter connected through, after the provider
// above it has flushed.
type closer = func(context.Context) error

// newHTTPClient returns a client whose transport belongs to one exporter, so
// Shutdown can close its idle connections (the exporters' shared default
// transport would keep them, and their goroutines, for the process's life).
// It takes no proxy from the environment: collectors are reached directly.
func newHTTPClient(timeout time.Duration) (*http.Client, closer) {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	return &http.Client{Transport: tr, Timeout: timeout}, func(context.Context) error {
		tr.CloseIdleConnections()
		return nil
	}
}

// newGRPCConn makes the client connection an exporter uses, owned here so
// its transport security and compression come only from the parsed
// configuration and Shutdown closes it. The compressor is the
// connection's: the exporters apply theirs (WithCompressor) only to a
// connection they dial themselves. grpc.NewClient does not connect until
// the first export.
func newGRPCConn(s otlpSignal) (*grpc.ClientConn, error) {
	creds := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	if s.insecure {
		creds = insecure.NewCredentials()
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if s.compression == "gzip" {
		opts = append(opts, grpc.WithDefaultCallOptions(grpc.UseCompressor(gzip.Name)))
	}
	conn, err := grpc.NewClient(s.endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp grpc client for %q: %w", s.endpoint, err)
	}
	return conn, nil
}

// headers is never nil: an explicit empty map stops the exporter from taking
// OTEL_EXPORTER_OTLP_HEADERS from the process environment.
func headers(s otlpSignal) map[string]string {
	if s.headers == nil {
		return map[string]string{}
	}
	return s.headers
}

// otlpClients are one signal's two ways to its collector: over a gRPC
// connection (which compresses, see newGRPCConn) or through an HTTP client
// (told whether to gzip).
// The OTLP exporter packages differ per signal only in their option types.
type otlpClients[E any] struct {
	grpc func(conn *grpc.ClientConn) (E, error)
	http func(client *http.Client, gzip bool) (E, error)
}

// newOTLPExporter builds signal's exporter (name: "trace", "metric") over
// the protocol s names, owning what it connects through: the closer
// releases it after the provider above has flushed, and a failed
// exporter closes its gRPC connection at once.
func newOTLPExporter[E any](name string, s otlpSignal, c otlpClients[E]) (E, closer, error) {
	var none E
	if s.protocol == protocolGRPC {
		conn, err := newGRPCConn(s)
		if err != nil {
			return none, nil, fmt.Errorf("otlp %s exporter: %w", name, err)
		}
		exp, err := c.grpc(conn)
		if err != nil {
			return none, nil, fmt.Errorf("otlp %s exporter: %w", name, errorsJoinClose(err, conn))
		}
		return exp, func(context.Context) error { return conn.Close() }, nil
	}
	client, closeFn := newHTTPClient(s.timeout)
	exp, err := c.http(client, s.compression == "gzip")
	if err != nil {
		return none, nil, fmt.Errorf("otlp %s exporter: %w", name, err)
	}
	return exp, closeFn, nil
}

func newOTLPTraceExporter(ctx context.Context, s otlpSignal) (sdktrace.SpanExporter, closer, error) {
	return newOTLPExporter("trace", s, otlpClients[sdktrace.SpanExporter]{
		grpc: func(conn *grpc.ClientConn) (sdktrace.SpanExporter, error) {
			return otlptracegrpc.New(ctx,
				otlptracegrpc.WithGRPCConn(conn),
				otlptracegrpc.WithHeaders(headers(s)),
				otlptracegrpc.WithTimeout(s.timeout),
			)
		},
		http: func(client *http.Client, gzip bool) (sdktrace.SpanExporter, error) {
			compression := otlptracehttp.NoCompression
			if gzip {
				compression = otlptracehttp.GzipCompression
			}
			return otlptracehttp.New(ctx,
				otlptracehttp.WithHTTPClient(client),
				otlptracehttp.WithEndpointURL(s.endpoint),
				otlptracehttp.WithHeaders(headers(s)),
				otlptracehttp.WithTimeout(s.timeout),
				otlptracehttp.WithCompression(compression),
			)
		},
	})
}

// newOTLPMetricExporter sets temporality and aggregation explicitly, so
// OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE and
// _DEFAULT_HISTOGRAM_AGGREGATION in the process environment do not apply.
func newOTLPMetricExporter(ctx context.Context, s otlpSignal) (sdkmetric.Exporter, closer, error) {
	return newOTLPExporter("metric", s, otlpClients[sdkmetric.Exporter]{
		grpc: func(conn *grpc.ClientConn) (sdkmetric.Exporter, error) {
			return otlpmetricgrpc.New(ctx,
				otlpmetricgrpc.WithGRPCConn(conn),
				otlpmetricgrpc.WithHeaders(headers(s)),
				otlpmetricgrpc.WithTimeout(s.timeout),
				otlpmetricgrpc.WithTemporalitySelector(sdkmetric.DefaultTemporalitySelector),
				otlpmetricgrpc.WithAggregationSelector(sdkmetric.DefaultAggregationSelector),
			)
		},
		http: func(client *http.Client, gzip bool) (sdkmetric.Exporter, error) {
			compression := otlpmetrichttp.NoCompression
			if gzip {
				compression = otlpmetrichttp.GzipCompression
			}
			return otlpmetrichttp.New(ctx,
				otlpmetrichttp.WithHTTPClient(client),
				otlpmetrichttp.WithEndpointURL(s.endpoint),
				otlpmetrichttp.WithHeaders(headers(s)),
				otlpmetrichttp.WithTimeout(s.timeout),
				otlpmetrichttp.WithCompression(compression),
				otlpmetrichttp.WithTemporalitySelector(sdkmetric.DefaultTemporalitySelector),
				otlpmetrichttp.WithAggregationSelector(sdkmetric.DefaultAggregationSelector),
			)
		},
	})
}

func newConsoleTraceExporter(w io.Writer) (sdktrace.SpanExporter, error) {
	exp, err := stdouttrace.New(stdouttrace.WithWriter(w))
	if err != nil {
		return nil, fmt.Errorf("console trace exporter: %w", err)
	}
	return exp, nil
}

func errorsJoinClose(err error, conn *grpc.ClientConn) error {
	if cerr := conn.Close(); cerr != nil {
		return fmt.Errorf("%w (and closing the connection: %w)", err, cerr)
	}
	return err
}

// loggingSpanExporter reports failed exports on the gateway's own logger;
// the SDK would otherwise only tell the OpenTelemetry global error handler.
type loggingSpanExporter struct {
	sdktrace.SpanExporter
	log *slog.Logger
}

func (e loggingSpanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		e.log.WarnContext(ctx, "span export failed", slog.Int("spans", len(spans)), slog.Any("error", err))
	}
	return err
}

// loggingMetricExporter is loggingSpanExporter for metrics.
type loggingMetricExporter struct {
	sdkmetric.Exporter
	log *slog.Logger
}

func (e loggingMetricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	err := e.Exporter.Export(ctx, rm)
	if err != nil {
		e.log.WarnContext(ctx, "metric export failed", slog.Any("error", err))
	}
	return err
}
