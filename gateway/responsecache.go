package gateway

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/trestlehq/trestle/cache"
	"github.com/trestlehq/trestle/loaders"
	"github.com/trestlehq/trestle/metrics"
)

// responseCache answers a query from the answers kept (cache.Responses)
// while nothing it read has changed: lookup, outside the collapser, gives
// a kept answer, and keep, around the one execution of identical queries,
// keeps its answer with what it read. The change path drops answers as it
// drops the entities they read, on every replica.
type responseCache struct {
	answers *cache.Responses
	// directory is the customer directory's version, which an answer
	// that read it is kept for.
	directory func() uint64
}

type answerKey struct{}

// lookup answers a query from a kept answer, noting in extensions.trestle
// that it did; else it hands the query on with its key, for keep. An
// answer to a client that asked for how it was answered (X-Trestle-Debug)
// is made every time.
func (c *responseCache) lookup(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	key, ok := keyOf(ctx)
	if !ok || graphql.GetOperationContext(ctx).Headers.Get("X-Trestle-Debug") == "1" {
		return next(ctx)
	}
	if data, ok := c.answers.Get(key, c.directory()); ok {
		metrics.MarkCached(ctx)
		return &graphql.Response{Data: data, Extensions: map[string]any{"trestle": map[string]any{"responseCache": "hit"}}}
	}
	return next(context.WithValue(ctx, answerKey{}, key))
}

// keep runs an execution and keeps its answer, unless it has errors or
// stale notices.
func (c *responseCache) keep(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	key, ok := ctx.Value(answerKey{}).(string)
	if !ok {
		return next(ctx)
	}
	begun, directory := c.answers.Begin(), c.directory()
	r := next(ctx)
	if r == nil || len(r.Errors) > 0 || r.Extensions["stale"] != nil || r.HasNext != nil {
		return r
	}
	if l := loaders.Made(ctx); l != nil {
		c.answers.Put(key, r.Data, l.Reads(), begun, directory)
	}
	return r
}
