package resolvers

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/trestlehq/trestle/auth"
	"github.com/trestlehq/trestle/graph/model"
)

// CodeForbidden marks a field the client's roles do not allow.
const CodeForbidden = "FORBIDDEN"

// Authorize is the @auth directive: the field resolves only for a client
// holding the role; for others it is null with a FORBIDDEN error.
func Authorize(ctx context.Context, _ any, next graphql.Resolver, requires model.Role) (any, error) {
	if err := require(ctx, requires, func() string { return graphql.GetFieldContext(ctx).Field.Name }); err != nil {
		return nil, err
	}
	return next(ctx)
}

// require checks that the client holds a role to read what what names.
func require(ctx context.Context, role model.Role, what func() string) error {
	if p := auth.From(ctx); p != nil && p.Has(string(role)) {
		return nil
	}
	return &gqlerror.Error{
		Message:    fmt.Sprintf("%s needs the %s role", what(), role),
		Extensions: map[string]any{"code": CodeForbidden, "requires": string(role)},
	}
}
