package loaders

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/trestlehq/trestle/cache"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sources/rest"
)

// StaleRead is an entity an operation was served from the cache past its
// TTL, because its upstream failed to give it again (cache.StaleIfError).
type StaleRead struct {
	Source     model.System `json:"source"`
	Kind       cache.Kind   `json:"kind"`
	Key        string       `json:"key"`
	AgeSeconds int64        `json:"ageSeconds"` // since it left the upstream
	Cause      string       `json:"cause"`      // the failure it stood in for
	Paths      []string     `json:"paths"`      // the fields that show it
}

// staleReads collects an operation's stale reads.
type staleReads struct {
	refuse bool        // fail the read instead (NewFresh)
	any    atomic.Bool // whether there is one; the common case is none
	mu     sync.Mutex
	byKey  map[string]*StaleRead // by system/kind/key
	order  []*StaleRead
}

func staleKey(system model.System, kind cache.Kind, key string) string {
	return string(system) + "/" + string(kind) + "/" + key
}

// add records that a key was served stale.
func (s *staleReads) add(system model.System, kind cache.Kind, key string, fetchedAt time.Time, cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := staleKey(system, kind, key)
	if _, ok := s.byKey[k]; ok {
		return
	}
	if s.byKey == nil {
		s.byKey = map[string]*StaleRead{}
	}
	msg := cause.Error()
	if up := (*rest.Error)(nil); !errors.As(cause, &up) {
		msg = "the upstream failed" // only an upstream's own error is safe to show
	}
	r := &StaleRead{Source: system, Kind: kind, Key: key, AgeSeconds: int64(time.Since(fetchedAt).Seconds()), Cause: msg}
	s.byKey[k] = r
	s.order = append(s.order, r)
	s.any.Store(true)
}

// shown records the field that got a key's value, when it was stale.
func (s *staleReads) shown(ctx context.Context, system model.System, kind cache.Kind, key string) {
	if !s.any.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byKey[staleKey(system, kind, key)]
	if !ok {
		return
	}
	if path := graphql.GetPath(ctx); path != nil {
		r.Paths = append(r.Paths, path.String())
	}
}

// StaleList records that the field at ctx's path was answered from a
// system's customer list as the customer directory last read it, at
// readAt, because reading it again failed: a customer the system gained
// since may be missing from the answer, or missing that system's part.
// The notice names the whole list (key "*") of the system's customers.
func (l *Loaders) StaleList(ctx context.Context, system model.System, readAt time.Time, cause error) {
	l.stale.add(system, cache.Customers, "*", readAt, cause)
	l.stale.shown(ctx, system, cache.Customers, "*")
}

// Stale returns what the operation was served stale, nil when nothing.
func (l *Loaders) Stale() []StaleRead {
	s := l.stale
	if !s.any.Load() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]StaleRead, len(s.order))
	for i, r := range s.order {
		out[i] = *r
	}
	return out
}

// Made returns the loaders of the operation ctx belongs to if they were
// made, without making them.
func Made(ctx context.Context) *Loaders {
	switch l := ctx.Value(ctxKey{}).(type) {
	case *Loaders:
		return l
	case *pending:
		l.once.Do(func() {}) // waits out a make under way; makes none
		return l.made
	}
	return nil
}
