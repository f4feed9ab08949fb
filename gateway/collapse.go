package gateway

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"golang.org/x/sync/singleflight"
)

// collapser runs identical queries that are in flight at the same time once
// and hands every caller the same response. Identical means the same
// document, operation name and variables, and the same roles (what the
// client may see). Only queries collapse: a mutation must run for
// each caller, and an incremental (@defer) response is not one value.
type collapser struct {
	group singleflight.Group
}

func (c *collapser) aroundOperations(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	op := graphql.GetOperationContext(ctx)
	if op.Operation == nil || op.Operation.Operation != ast.Query || strings.Contains(op.RawQuery, "@defer") {
		return next(ctx)
	}
	vars, err := json.Marshal(op.Variables) // map keys are sorted: a canonical form
	if err != nil {
		return next(ctx)
	}
	key := scope(ctx) + "\x00" + op.OperationName + "\x00" + string(vars) + "\x00" + op.RawQuery
	// next only prepares the execution (and gives gqlgen the operation's
	// context); the work happens in the response handler, which is what
	// collapses.
	responses := next(ctx)
	done := false
	return func(ctx context.Context) *graphql.Response {
		if done {
			return nil // a query answers once
		}
		done = true
		v, _, _ := c.group.Do(key, func() (any, error) {
			// The first caller's request may end before the others'; the
			// shared execution must not end with it.
			return responses(context.WithoutCancel(ctx)), nil
		})
		return v.(*graphql.Response)
	}
}
