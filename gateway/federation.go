package gateway

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// CodeNotASubgraph refuses _service and _entities on a gateway that is not
// configured as a federation subgraph.
const CodeNotASubgraph = "NOT_A_SUBGRAPH"

// subgraph answers a federation router's _service and _entities when
// Trestle is a subgraph (config subgraph: true), and refuses them
// otherwise. A subgraph's SDL is its router's to read even where
// introspection is off: __schema and __type stay refused.
type subgraph struct{ on bool }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = subgraph{}

func (subgraph) ExtensionName() string                   { return "Subgraph" }
func (subgraph) Validate(graphql.ExecutableSchema) error { return nil }

func (s subgraph) MutateOperationContext(_ context.Context, op *graphql.OperationContext) *gqlerror.Error {
	asks := false
	for _, f := range graphql.CollectFields(op, op.Operation.SelectionSet, []string{"Query"}) {
		asks = asks || f.Name == "_service" || f.Name == "_entities"
	}
	switch {
	case !asks:
		return nil
	case !s.on:
		err := gqlerror.Errorf("this gateway is not a federation subgraph: set subgraph: true in its config to serve _service and _entities to a router")
		err.Extensions = map[string]any{"code": CodeNotASubgraph}
		return err
	case op.Operation.Operation == ast.Query && !introspects(op.Operation.SelectionSet):
		op.DisableIntrospection = false // gqlgen answers _service only then
	}
	return nil
}
