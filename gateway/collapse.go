package gateway

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"

	"github.com/trestlehq/trestle/metrics"
)

// collapser runs identical queries that are in flight at the same time once
// and hands every caller the same response. Identical means the same
// document, operation name and variables, and the same roles (what the
// client may see). Only queries collapse: a mutation must run for
// each caller, and an incremental (@defer) response is not one value.
//
// Each caller still goes through the response middlewares outside the
// collapser (its own deadline, metrics, log line and span); only the
// execution inside is shared.
type collapser struct {
	group singleflight.Group
	// generation changes with every change told (Options.Invalidations):
	// a query never shares an execution that began before a change it
	// came after.
	generation func() uint64
}

// queryKey is what makes two operations one answer: the same query
// document, operation name and variables, asked with the same roles (what
// the client may see). Only a query has one: a mutation must run for each
// caller, and an incremental (@defer) response is not one value.
func queryKey(ctx context.Context) (string, bool) {
	op := graphql.GetOperationContext(ctx)
	if op.Operation == nil || op.Operation.Operation != ast.Query || strings.Contains(op.RawQuery, "@defer") {
		return "", false
	}
	vars, err := json.Marshal(op.Variables) // map keys are sorted: a canonical form
	if err != nil {
		return "", false
	}
	return scope(ctx) + "\x00" + op.OperationName + "\x00" + string(vars) + "\x00" + op.RawQuery, true
}

type queryKeyKey struct{}

// keyQueries makes a query's key once and hands it to the response
// middlewares (keyOf): the response cache and the collapser both answer
// by it.
func keyQueries(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	key, ok := queryKey(ctx)
	responses := next(ctx)
	if !ok {
		return responses
	}
	done := false
	return func(ctx context.Context) *graphql.Response {
		if done {
			return nil // a query answers once
		}
		done = true
		return responses(context.WithValue(ctx, queryKeyKey{}, key))
	}
}

// keyOf is the query's key that keyQueries made, if it has one.
func keyOf(ctx context.Context) (string, bool) {
	key, ok := ctx.Value(queryKeyKey{}).(string)
	return key, ok
}

// execution is a shared execution's response and the span it ran under.
type execution struct {
	r    *graphql.Response
	span trace.SpanContext
}

// aroundResponses runs one execution for the callers in flight with the
// same key. It is the innermost response middleware but for the executor
// itself, and hands each caller a copy of the response, to which the outer
// middlewares add extensions of their own.
func (c *collapser) aroundResponses(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	key, ok := keyOf(ctx)
	if !ok {
		return next(ctx)
	}
	if c.generation != nil {
		key += "\x00" + strconv.FormatUint(c.generation(), 10)
	}
	ran := false
	v, _, _ := c.group.Do(key, func() (any, error) {
		ran = true
		// The first caller's request may end before the others'; the
		// shared execution must not end with it, only at its deadline.
		shared, cancel := context.WithoutCancel(ctx), context.CancelFunc(func() {})
		if deadline, ok := ctx.Deadline(); ok {
			shared, cancel = context.WithDeadline(shared, deadline)
		}
		defer cancel()
		return execution{next(shared), trace.SpanContextFromContext(ctx)}, nil
	})
	e := v.(execution)
	if !ran {
		metrics.MarkCollapsed(ctx)
		trace.SpanFromContext(ctx).AddLink(trace.Link{SpanContext: e.span})
	}
	if e.r == nil {
		return nil
	}
	r := *e.r
	r.Extensions = maps.Clone(r.Extensions)
	r.Errors = slices.Clip(r.Errors)
	return &r
}
