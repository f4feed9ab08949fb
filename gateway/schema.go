package gateway

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// CodeIntrospectionDisabled refuses __schema and __type, and the SDL, on a
// gateway whose config keeps its schema private.
const CodeIntrospectionDisabled = "INTROSPECTION_DISABLED"

// introspectionOffMessage says why, and how to turn introspection on.
const introspectionOffMessage = "introspection is turned off on this gateway: " +
	"set introspection: true in its config to explore the schema (the playground and code generators need it)"

// noIntrospection refuses an operation that asks for __schema or __type,
// before it runs, with its own code: not an internal error, and nothing
// for an operator's error log. __typename stays allowed.
type noIntrospection struct{ logger *slog.Logger }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = noIntrospection{}

func (noIntrospection) ExtensionName() string                   { return "NoIntrospection" }
func (noIntrospection) Validate(graphql.ExecutableSchema) error { return nil }

func (n noIntrospection) MutateOperationContext(ctx context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if !introspects(op.Operation.SelectionSet) {
		return nil
	}
	n.logger.DebugContext(ctx, "introspection refused", "operation", op.OperationName)
	err := gqlerror.Errorf(introspectionOffMessage)
	err.Extensions = map[string]any{"code": CodeIntrospectionDisabled}
	return err
}

// introspects reports whether a selection asks for __schema or __type,
// fragments expanded.
func introspects(set ast.SelectionSet) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				return true
			}
		case *ast.InlineFragment:
			if introspects(s.SelectionSet) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && introspects(s.Definition.SelectionSet) {
				return true
			}
		}
	}
	return false
}

// schemaSDL serves the schema in the GraphQL schema language, for code
// generators and IDEs, to the clients that may introspect it.
func schemaSDL(schema *ast.Schema, introspection bool) http.Handler {
	var b strings.Builder
	formatter.NewFormatter(&b, formatter.WithComments()).FormatSchema(withoutFederation(schema))
	sdl := []byte(b.String())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !introspection {
			writeError(w, http.StatusForbidden, introspectionOffMessage, CodeIntrospectionDisabled)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Disposition", `inline; filename="schema.graphql"`)
		_, _ = w.Write(sdl)
	})
}

// withoutFederation is the schema as its clients see it: without what
// makes Trestle a federation subgraph (the _entities and _service fields,
// the @link and @key directives), which only a router needs, and reads
// from _service { sdl }. The schema itself is left as it is.
func withoutFederation(schema *ast.Schema) *ast.Schema {
	out := *schema
	out.SchemaDirectives = slices.DeleteFunc(slices.Clone(schema.SchemaDirectives), federationDirective)
	out.Directives = maps.Clone(schema.Directives)
	maps.DeleteFunc(out.Directives, func(_ string, d *ast.DirectiveDefinition) bool { return fromFederation(d.Position) })
	out.Types = make(map[string]*ast.Definition, len(schema.Types))
	for name, def := range schema.Types {
		if fromFederation(def.Position) {
			continue
		}
		d := *def
		d.Directives = slices.DeleteFunc(slices.Clone(def.Directives), federationDirective)
		d.Fields = slices.DeleteFunc(slices.Clone(def.Fields), func(f *ast.FieldDefinition) bool { return fromFederation(f.Position) })
		out.Types[name] = &d
	}
	out.Query = out.Types[schema.Query.Name]
	if schema.Mutation != nil {
		out.Mutation = out.Types[schema.Mutation.Name]
	}
	if schema.Subscription != nil {
		out.Subscription = out.Types[schema.Subscription.Name]
	}
	return &out
}

// fromFederation reports whether a definition is the federation's: from
// gqlgen's federation sources, or Trestle's own federation.graphqls.
func fromFederation(pos *ast.Position) bool {
	return pos != nil && pos.Src != nil && (pos.Src.Name == "federation.graphqls" || strings.HasPrefix(pos.Src.Name, "../federation/"))
}

func federationDirective(d *ast.Directive) bool {
	return d.Definition != nil && fromFederation(d.Definition.Position)
}
