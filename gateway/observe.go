package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/trestlehq/trestle/loaders"
	"github.com/trestlehq/trestle/metrics"
	"github.com/trestlehq/trestle/tracing"
)

// observe is the outermost response middleware: it gives each response
// (a query's, or a subscription event's) its loaders and its trace, and a
// query's its deadline, then counts, logs, traces and, when asked,
// explains it. A subscription event gets no deadline: its response is
// made as it waits for the next change, however long that takes (the
// upstream calls it makes have their own timeouts).
func observe(opts Options, requestTimeout time.Duration) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		start := time.Now()
		var cancel context.CancelFunc
		if op := graphql.GetOperationContext(ctx); op.Operation != nil && op.Operation.Operation == ast.Subscription {
			ctx, cancel = context.WithCancel(ctx)
		} else {
			ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		}
		ctx, t := metrics.WithTrace(loaders.WithNew(ctx, opts.Loaders))
		ctx, span := startOperation(ctx)
		r := next(ctx)
		if r != nil {
			took := time.Since(start)
			if opts.Metrics != nil {
				countOperation(ctx, opts.Metrics, r, t, took)
			}
			logOperation(ctx, opts.Logger, r, t, took)
			if opts.DebugHeader {
				explain(ctx, r, t, took)
			}
			if span.IsRecording() {
				describeOperation(span, r, t)
			}
		}
		span.End()
		if r != nil && r.HasNext != nil && *r.HasNext {
			// @defer parts are still being resolved with ctx.
			time.AfterFunc(requestTimeout, cancel)
			return r
		}
		cancel()
		return r
	}
}

// withTraceContext joins each request's operations to the trace its client
// sent (W3C traceparent), when tracing is on.
func withTraceContext(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(tracing.Extract(r.Context(), r.Header)))
	})
}

// startOperation starts an operation's span, named as OpenTelemetry's
// GraphQL conventions name it: "query OrdersReport".
func startOperation(ctx context.Context) (context.Context, trace.Span) {
	op := graphql.GetOperationContext(ctx)
	if op == nil || op.Operation == nil {
		return tracing.Start(ctx, "graphql")
	}
	typ := string(op.Operation.Operation)
	name := typ
	if op.Operation.Name != "" {
		name += " " + op.Operation.Name
	}
	return tracing.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("graphql.operation.type", typ), attribute.String("graphql.operation.name", op.Operation.Name)))
}

// describeOperation adds to an operation's span the systems it called, its
// cache outcome and its errors by code.
func describeOperation(span trace.Span, r *graphql.Response, t *metrics.Trace) {
	calls := t.Calls()
	total := 0
	for _, n := range calls {
		total += n
	}
	hits, misses := t.CacheHits.Load(), t.CacheMisses.Load()
	outcome := "none"
	switch {
	case hits > 0 && misses > 0:
		outcome = "partial"
	case hits > 0:
		outcome = "hit"
	case misses > 0:
		outcome = "miss"
	}
	span.SetAttributes(attribute.StringSlice("trestle.systems", slices.Sorted(maps.Keys(calls))), attribute.Int("trestle.upstream_calls", total),
		attribute.String("trestle.cache.outcome", outcome), attribute.Int64("trestle.cache.hits", hits), attribute.Int64("trestle.cache.misses", misses),
		attribute.Bool("trestle.collapsed", t.Collapsed.Load()))
	if byCode := errorCodes(r); len(byCode) > 0 {
		span.SetAttributes(attribute.StringSlice("trestle.error_codes", slices.Sorted(maps.Keys(byCode))))
		span.SetStatus(codes.Error, fmt.Sprintf("%d errors", len(r.Errors)))
	}
}

// errorCodes counts a response's errors by code; nil when it has none.
func errorCodes(r *graphql.Response) map[string]int {
	if len(r.Errors) == 0 {
		return nil
	}
	byCode := map[string]int{}
	for _, e := range r.Errors {
		code, _ := e.Extensions["code"].(string)
		byCode[code]++
	}
	return byCode
}

// countOperation counts an answered operation (a subscription's event).
func countOperation(ctx context.Context, m *metrics.Metrics, r *graphql.Response, t *metrics.Trace, took time.Duration) {
	op := graphql.GetOperationContext(ctx)
	if op == nil || op.Operation == nil {
		return
	}
	outcome := "ok"
	if len(r.Errors) > 0 {
		outcome = "errors"
	}
	m.Operation(op.Operation.Name, string(op.Operation.Operation), outcome, t.Collapsed.Load(), took)
}

// countSubscriptions counts the subscriptions clients hold open.
func countSubscriptions(m *metrics.Metrics) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		op := graphql.GetOperationContext(ctx)
		if op.Operation == nil || op.Operation.Operation != ast.Subscription {
			return next(ctx)
		}
		m.Subscribed(1)
		var once sync.Once
		end := func() { once.Do(func() { m.Subscribed(-1) }) }
		context.AfterFunc(ctx, end)
		responses := next(ctx)
		return func(ctx context.Context) *graphql.Response {
			r := responses(ctx)
			if r == nil {
				end()
			}
			return r
		}
	}
}

// logOperation writes one line per operation (a subscription: per event):
// its name and type, how long it took, its upstream calls by system, its
// cache reads and its errors by code. Never variables or query text: they
// may hold personal data.
func logOperation(ctx context.Context, logger *slog.Logger, r *graphql.Response, t *metrics.Trace, took time.Duration) {
	if logger == nil || !logger.Enabled(ctx, slog.LevelInfo) {
		return
	}
	op := graphql.GetOperationContext(ctx)
	if op == nil || op.Operation == nil {
		return
	}
	attrs := []slog.Attr{slog.String("name", op.Operation.Name), slog.String("type", string(op.Operation.Operation)),
		slog.Duration("took", took), counted("calls", t.Calls()),
		slog.Int64("cacheHits", t.CacheHits.Load()), slog.Int64("cacheMisses", t.CacheMisses.Load())}
	if t.Collapsed.Load() {
		attrs = append(attrs, slog.Bool("collapsed", true))
	}
	if t.Cached.Load() {
		attrs = append(attrs, slog.Bool("cached", true))
	}
	if byCode := errorCodes(r); byCode != nil {
		attrs = append(attrs, counted("errors", byCode))
	}
	logger.LogAttrs(ctx, slog.LevelInfo, "operation", attrs...)
}

// counted is a count by name as a group, calls.shop=1 calls.crm=2, in
// the names' order; none, and the line leaves the group out. A group is
// written as it is, where a map would be formatted by reflection.
func counted(group string, byName map[string]int) slog.Attr {
	attrs := make([]slog.Attr, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		attrs = append(attrs, slog.Int(name, byName[name]))
	}
	return slog.GroupAttrs(group, attrs...)
}

// explain adds to a response, when its client sent X-Trestle-Debug: 1,
// how it was answered: upstream calls by system, cache hits and misses,
// the loader batches in the order they ran, whether an identical operation
// in flight answered it, and the time it took.
func explain(ctx context.Context, r *graphql.Response, t *metrics.Trace, took time.Duration) {
	op := graphql.GetOperationContext(ctx)
	if op == nil || op.Headers.Get("X-Trestle-Debug") != "1" {
		return
	}
	if r.Extensions == nil {
		r.Extensions = map[string]any{}
	}
	r.Extensions["trestle"] = map[string]any{
		"upstreamCalls": t.Calls(),
		"cacheHits":     t.CacheHits.Load(),
		"cacheMisses":   t.CacheMisses.Load(),
		"batches":       t.Batches(),
		"collapsed":     t.Collapsed.Load(),
		"tookMs":        float64(took.Microseconds()) / 1000,
	}
}
