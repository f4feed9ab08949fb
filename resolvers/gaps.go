package resolvers

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/loaders"
	"github.com/trestlehq/trestle/sources/rest"
)

// A customer's keys come from the directory. While the directory has failed
// to read a system's customer list, a customer without a key of that
// system's may be one it knows, and what that system would answer for them
// (its fields, their orders or invoices, its key) is unknown rather than
// empty. Such a field is never silently null: for a list never read, it is
// null with the list's failure, with its code and source; for a list read
// before, it is answered as the list was then, with a stale notice.

// unjoined reports, for the field at ctx's path, what leaves open whether
// system s knows customer c: the failure of a list the directory never read
// as the field's error, or a stale notice for a list it holds as read
// before (and nil). Nil when the directory can tell.
func (r *Resolver) unjoined(ctx context.Context, c *model.Customer, s model.System) error {
	g, ok := r.directory(ctx).Unknown(*c, s)
	if !ok {
		return nil
	}
	return reportGap(ctx, g)
}

// reportGap reports a gap in the directory for the field at ctx's path: a
// stale notice for a list read before, else the list's failure.
func reportGap(ctx context.Context, g consolidate.Gap) error {
	if g.Stale() {
		loaders.For(ctx).StaleList(ctx, g.System, g.ReadAt, g.Err)
		return nil
	}
	return gapError(g)
}

// reportGaps reports every gap for the field at ctx's path; it returns the
// first failure, and adds the others as errors of their own.
func reportGaps(ctx context.Context, gaps []consolidate.Gap) error {
	var first error
	for _, g := range gaps {
		err := reportGap(ctx, g)
		switch {
		case err == nil:
		case first == nil:
			first = err
		default:
			graphql.AddError(ctx, err)
		}
	}
	return first
}

// gapError is the failure of a customer list the directory never read, as
// an upstream error of its system: presented with the code of the failure
// and the system as its source, saying that the directory lacks the list.
func gapError(g consolidate.Gap) error {
	const detail = "the customer directory could not read this system's customers"
	var up *rest.Error
	if !errors.As(g.Err, &up) {
		return &rest.Error{System: g.System, Route: "customers.list", Class: rest.ErrUnavailable, Detail: detail}
	}
	e := *up
	if e.Detail != "" {
		e.Detail += "; "
	}
	e.Detail += detail
	return &e
}

// directoryReady waits for the directory's first sync. When ctx ends
// first, the error is a timeout of each system whose list it was still
// reading: the first returned, the others added.
func (r *Resolver) directoryReady(ctx context.Context) error {
	err := r.directory(ctx).Wait(ctx)
	if err == nil {
		return nil
	}
	var first error
	for _, s := range r.directory(ctx).Reading() {
		e := &rest.Error{System: s, Route: "customers.list", Class: rest.ErrUnavailable, Timeout: true,
			Detail: "the customer directory was still reading this system's customers"}
		if first == nil {
			first = e
		} else {
			graphql.AddError(ctx, e)
		}
	}
	if first == nil {
		return err
	}
	return first
}

// sourceIDFields are the fields of SourceIds by system.
var sourceIDFields = map[string]model.System{"crm": model.SystemCRM, "shop": model.SystemShop, "erp": model.SystemERP}

// sourceIDGaps reports, for the customer the field at ctx's path resolves
// to, each key the selection shows under sourceIds that is null only
// because the directory could not tell whether its system knows them: at
// the key's own path.
func (r *Resolver) sourceIDGaps(ctx context.Context, c *model.Customer) {
	if c == nil {
		return
	}
	sel := selectionOf(ctx)
	for _, ids := range sel.fields {
		if ids.Name != "sourceIds" {
			continue
		}
		for _, key := range collect(sel.op, ids.Field) {
			s, ok := sourceIDFields[key.Name]
			if !ok {
				continue
			}
			at := graphql.WithPathContext(graphql.WithPathContext(ctx, graphql.NewPathWithField(ids.Alias)), graphql.NewPathWithField(key.Alias))
			graphql.AddError(at, r.unjoined(at, c, s))
		}
	}
}
