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
	// Collapsed is set when another identical operation in flight answered
	// this one: it made no calls of its own.
	Collapsed atomic.Bool
	// Cached is set when a kept answer (the response cache's) answered.
	Cached atomic.Bool

	mu      sync.Mutex
	calls   map[string]int
	batches []Batch
}

// Batch is one loader batch: the loader and how many keys it carried.
type Batch struct {
	Loader string `json:"loader"`
	Keys   int    `json:"keys"`
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

// MarkCached notes in the trace of ctx that a kept answer answered it.
func MarkCached(ctx context.Context) {
	if t, _ := ctx.Value(traceKey{}).(*Trace); t != nil {
		t.Cached.Store(true)
	}
}

// MarkCollapsed notes in the trace of ctx that another operation's
// execution answered it.
func MarkCollapsed(ctx context.Context) {
	if t, _ := ctx.Value(traceKey{}).(*Trace); t != nil {
		t.Collapsed.Store(true)
	}
}

// CountCache adds cache reads to the trace of ctx.
func CountCache(ctx context.Context, hits, misses int) {
	if t, _ := ctx.Value(traceKey{}).(*Trace); t != nil {
		t.CacheHits.Add(int64(hits))
		t.CacheMisses.Add(int64(misses))
	}
}

// CountBatch adds a loader batch to the trace of ctx.
func CountBatch(ctx context.Context, loader string, keys int) {
	if t, _ := ctx.Value(traceKey{}).(*Trace); t != nil {
		t.mu.Lock()
		t.batches = append(t.batches, Batch{Loader: loader, Keys: keys})
		t.mu.Unlock()
	}
}

// Batches returns the loader batches in the order they ran.
func (t *Trace) Batches() []Batch {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Batch(nil), t.batches...)
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
