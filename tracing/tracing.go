// Package tracing sends OpenTelemetry traces of what Trestle does: a span
// per operation, loader batch and upstream call, exported over OTLP/HTTP,
// with W3C trace context read from clients and passed on to the upstreams.
// Until Setup installs an exporter, spans are not recorded and cost next to
// nothing.
package tracing

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/trestlehq/trestle/config"
)

// tracer starts Trestle's spans. Until Install it is a no-op tracer, at a
// third of the cost of the global provider's stand-in.
var tracer atomic.Value // held

// held wraps the tracer: an atomic.Value holds one concrete type.
type held struct{ trace.Tracer }

func init() { tracer.Store(held{noop.NewTracerProvider().Tracer("")}) }

// Start starts a span as a child of ctx's span.
func Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return tracer.Load().(held).Start(ctx, name, opts...)
}

// Install makes provider the one Trestle's spans go to, and the global
// one, with W3C trace context as the propagator.
func Install(provider trace.TracerProvider) {
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	tracer.Store(held{provider.Tracer("github.com/trestlehq/trestle")})
}

// Config says where traces go.
type Config struct {
	Endpoint    string            // the collector's OTLP/HTTP URL; its path defaults to /v1/traces
	Headers     map[string]string // sent with every export
	SampleRatio float64           // share of traces started here that are recorded; 0 means all
	ServiceName string            // default trestle
}

// Setup installs an OTLP/HTTP exporter as the global tracer provider and
// W3C trace context as the propagator. The returned function flushes the
// spans not yet sent and stops the exporter. Export failures are logged, and
// never slow an operation down: spans wait in a bounded queue and are
// dropped when it is full.
func Setup(ctx context.Context, cfg Config, logger *slog.Logger) (shutdown func(context.Context) error, err error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("tracing: endpoint %q is not an http or https URL", cfg.Endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()), otlptracehttp.WithHeaders(cfg.Headers))
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	def := config.Default().Tracing
	name := cmp.Or(cfg.ServiceName, def.ServiceName)
	ratio := cmp.Or(cfg.SampleRatio, def.SampleRatio)
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", name))),
		// A caller's decision (its traceparent's sampled flag) is followed.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	)
	Install(provider)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("trace export failed", "err", err)
	}))
	return provider.Shutdown, nil
}

// Extract returns ctx with the trace context a caller sent in its headers,
// so the operation's span joins the caller's trace.
func Extract(ctx context.Context, h http.Header) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, propagation.HeaderCarrier(h))
}

// Inject writes ctx's trace context into the headers of an upstream call.
func Inject(ctx context.Context, h http.Header) {
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(h))
}
