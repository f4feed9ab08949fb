package rest

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// FanOut splits keys into chunks of at most size, fetches the chunks with at
// most parallel calls in flight, and returns every result. The first failure
// cancels the remaining calls and is returned.
func FanOut[K, V any](ctx context.Context, keys []K, size, parallel int, fetch func(ctx context.Context, chunk []K) ([]V, error)) ([]V, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if size <= 0 {
		size = len(keys)
	}
	if len(keys) <= size {
		return fetch(ctx, keys)
	}
	n := (len(keys) + size - 1) / size
	parts := make([][]V, n)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(parallel, 1))
	for i := range n {
		chunk := keys[i*size : min((i+1)*size, len(keys))]
		g.Go(func() error {
			v, err := fetch(ctx, chunk)
			parts[i] = v
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	total := 0
	for _, p := range parts {
		total += len(p)
	}
	out := make([]V, 0, total)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out, nil
}
