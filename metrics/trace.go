package metrics

import (
	"context"
	"sync"
	"sync/atomic"
)

// Trace counts what one operation did: its upstream calls by system and
// its cache reads. Parts of the request path add to the trace of their
// context, when it has one.
type Trace struct {
	CacheHits, CacheMisses atomic.Int64

	mu    sync.Mutex
	calls map[string]int
}

type traceKey struct{}

// WithTrace returns a context carrying a new trace.
func WithTrace(ctx context.Context) (context.Context, *Trace) {
	t := &Trace{}
	return context.WithValue(ctx, traceKey{}, t), t
}

// CountCall adds an upstream call to the trace of ctx.
func CountCall(ctx context.Context, system string) {
	if t, _ := ctx.Value(traceKey{}).(*Trace); t != nil {
		t.mu.Lock()
		if t.calls == nil {
			t.calls = map[string]int{}
		}
		t.calls[system]++
		t.mu.Unlock()
	}
}

// CountCache adds cache reads to the trace of ctx.
func CountCache(ctx context.Context, hits, misses int) {
	if t, _ := ctx.Value(traceKey{}).(*Trace); t != nil {
		t.CacheHits.Add(int64(hits))
		t.CacheMisses.Add(int64(misses))
	}
}

// Calls returns the upstream calls by system.
func (t *Trace) Calls() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int, len(t.calls))
	for k, v := range t.calls {
		out[k] = v
	}
	return out
}
