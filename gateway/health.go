package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/trestlehq/trestle/metrics"
)

// Healthz answers that the process lives.
func Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
}

// Readyz answers whether the gateway can answer: 200 when every check
// says ok, else 503; the body names each check's state.
func Readyz(ready func() map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		checks := map[string]string{}
		if ready != nil {
			checks = ready()
		}
		status, code := "ready", http.StatusOK
		for _, state := range checks {
			if state != "ok" {
				status, code = "unready", http.StatusServiceUnavailable
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "checks": checks})
	})
}

// countOperation counts an answered operation (a subscription's event).
func countOperation(ctx context.Context, m *metrics.Metrics, r *graphql.Response, took time.Duration) {
	op := graphql.GetOperationContext(ctx)
	if op == nil || op.Operation == nil {
		return
	}
	outcome := "ok"
	if len(r.Errors) > 0 {
		outcome = "errors"
	}
	m.Operation(op.Operation.Name, string(op.Operation.Operation), outcome, took)
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
func logOperation(ctx context.Context, logger *slog.Logger, r *graphql.Response, trace *metrics.Trace, took time.Duration) {
	if logger == nil || !logger.Enabled(ctx, slog.LevelInfo) {
		return
	}
	op := graphql.GetOperationContext(ctx)
	if op == nil || op.Operation == nil {
		return
	}
	attrs := []slog.Attr{slog.String("name", op.Operation.Name), slog.String("type", string(op.Operation.Operation)),
		slog.Duration("took", took), slog.Any("calls", trace.Calls()),
		slog.Int64("cacheHits", trace.CacheHits.Load()), slog.Int64("cacheMisses", trace.CacheMisses.Load())}
	if len(r.Errors) > 0 {
		codes := map[string]int{}
		for _, e := range r.Errors {
			code, _ := e.Extensions["code"].(string)
			codes[code]++
		}
		attrs = append(attrs, slog.Any("errors", codes))
	}
	logger.LogAttrs(ctx, slog.LevelInfo, "operation", attrs...)
}

// explain adds to a response, when its client sent X-Trestle-Debug: 1,
// how it was answered: upstream calls by system, cache hits and misses,
// the loader batches in the order they ran, and the time it took.
func explain(ctx context.Context, r *graphql.Response, trace *metrics.Trace, took time.Duration) {
	op := graphql.GetOperationContext(ctx)
	if op == nil || op.Headers.Get("X-Trestle-Debug") != "1" {
		return
	}
	if r.Extensions == nil {
		r.Extensions = map[string]any{}
	}
	r.Extensions["trestle"] = map[string]any{
		"upstreamCalls": trace.Calls(),
		"cacheHits":     trace.CacheHits.Load(),
		"cacheMisses":   trace.CacheMisses.Load(),
		"batches":       trace.Batches(),
		"tookMs":        float64(took.Microseconds()) / 1000,
	}
}
