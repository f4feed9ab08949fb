package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/trestlehq/trestle/loaders"
)

// A federated router asks for the entities other subgraphs refer to, every
// representation of a type in one call (entity.resolvers.go): each type's
// are loaded in one batch per upstream, and what their selection reads
// below them prefetched as a list's is.

// entities loads the entities these representations name, in one batch:
// one whose key does not parse, or that names none, is null, with its
// error when it has one.
func entities[R any, K comparable, V any](ctx context.Context, l *loaders.Loader[K, *V], reps []R, key func(R) (K, error)) ([]*V, error) {
	keys, errs := make([]K, 0, len(reps)), make([]error, len(reps))
	at := make([]int, 0, len(reps)) // the representation of each key
	for i, rep := range reps {
		k, err := key(rep)
		if err != nil {
			errs[i] = err
			continue
		}
		keys, at = append(keys, k), append(at, i)
	}
	// One batch however the loads are scheduled: LoadMany alone would
	// split the keys wherever the loader's batch window closed.
	l.Prefetch(ctx, keys)
	found, loadErrs := l.LoadMany(ctx, keys)()
	out := make([]*V, len(reps))
	for j, i := range at {
		out[i] = found[j]
		if loadErrs != nil {
			_, errs[i] = loaders.Found(found[j], loadErrs[j])
		}
	}
	return out, batchErrors(errs)
}

// batchErrors are the errors of a batch by item, or nil when none failed.
func batchErrors(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return graphql.BatchErrorList(errs)
		}
	}
	return nil
}

func isNil[V any](v *V) bool { return v == nil }
