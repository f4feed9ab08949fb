package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/trestlehq/trestle/resolvers"
)

// sharedBuffer is how many events a subscriber sharing a subscription may
// be behind the others before it is ended as fallen behind.
const sharedBuffer = 1024

// sharer runs identical subscriptions once: every change is executed
// (read, resolved, marshalled) for one subscription of a kind, and each
// client subscribed to it is handed the same response. Identical means
// the same document, operation name and variables, and the same roles. A
// subscription resuming
// with after: runs alone: it first replays what its client missed.
type sharer struct {
	mu     sync.Mutex
	shared map[string]*sharedSubscription
}

// sharedSubscription is one execution of a subscription and the clients
// it serves.
type sharedSubscription struct {
	op      *ast.OperationDefinition
	ctx     context.Context
	cancel  context.CancelFunc
	members map[*member]struct{} // nil once the subscription has ended
	err     *gqlerror.Error      // why it ended, told to every member
}

// member is one client of a shared subscription.
type member struct {
	responses chan *graphql.Response // closed when the member's stream ends
	last      *graphql.Response      // the last response handed over
	dropped   bool                   // ended for not keeping up
}

func (s *sharer) aroundOperations(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	op := graphql.GetOperationContext(ctx)
	if op.Operation == nil || op.Operation.Operation != ast.Subscription || resumes(op) {
		return next(ctx)
	}
	vars, err := json.Marshal(op.Variables) // map keys are sorted: a canonical form
	if err != nil {
		return next(ctx)
	}
	key := scope(ctx) + "\x00" + op.OperationName + "\x00" + string(vars) + "\x00" + op.RawQuery

	m := &member{responses: make(chan *graphql.Response, sharedBuffer)}
	s.mu.Lock()
	sub, running := s.shared[key]
	if !running {
		sub = s.add(ctx, key, op.Operation)
	}
	sub.members[m] = struct{}{}
	s.mu.Unlock()
	context.AfterFunc(ctx, func() { s.leave(key, sub, m) })
	if !running {
		// next resolves the subscription's root field, which may read
		// upstream, so outside s.mu; others joining meanwhile wait in
		// their response handlers. gqlgen wants it called before this
		// returns.
		go s.run(key, sub, next(sub.ctx))
	}

	// The executor hands the response handler the context next was given,
	// the shared one for the client that started the subscription: each
	// client's handler keeps to its own.
	return func(context.Context) *graphql.Response {
		select {
		case r, ok := <-m.responses:
			if ok {
				return r
			}
		case <-ctx.Done():
			return nil
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if m.dropped {
			resolvers.EndSubscription(ctx, resolvers.FellBehind(cursorOf(sub.op, m.last)))
		} else if sub.err != nil {
			resolvers.EndSubscription(ctx, sub.err)
		}
		return nil
	}
}

// add registers a new shared subscription; s.mu is held. Its execution
// must not end with the client that started it, so its context is that
// client's without its cancellation, cancelled when the last member
// leaves.
func (s *sharer) add(ctx context.Context, key string, op *ast.OperationDefinition) *sharedSubscription {
	sub := &sharedSubscription{op: op, members: map[*member]struct{}{}}
	sub.ctx, sub.cancel = context.WithCancel(context.WithoutCancel(ctx))
	sub.ctx = resolvers.ReportEndTo(sub.ctx, func(err *gqlerror.Error) {
		s.mu.Lock()
		sub.err = err
		s.mu.Unlock()
	})
	if s.shared == nil {
		s.shared = map[string]*sharedSubscription{}
	}
	s.shared[key] = sub
	return sub
}

// run hands each response of a shared subscription to its members until
// it ends, then ends theirs.
func (s *sharer) run(key string, sub *sharedSubscription, responses graphql.ResponseHandler) {
	for {
		r := responses(sub.ctx)
		if r == nil {
			break
		}
		// The executor reuses its buffer for the next event.
		r.Data = bytes.Clone(r.Data)
		s.hand(sub, r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shared[key] == sub {
		delete(s.shared, key)
	}
	for m := range sub.members {
		close(m.responses)
	}
	sub.members = nil
	sub.cancel()
}

// hand gives a response to every member; one that has not taken the
// previous sharedBuffer is ended, so that one slow client never holds up
// the others.
func (s *sharer) hand(sub *sharedSubscription, r *graphql.Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for m := range sub.members {
		select {
		case m.responses <- r:
			m.last = r
		default:
			m.dropped = true
			close(m.responses)
			delete(sub.members, m)
		}
	}
}

// leave takes a member whose client went away out of its subscription,
// and ends the subscription when it was the last.
func (s *sharer) leave(key string, sub *sharedSubscription, m *member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := sub.members[m]; !ok {
		return
	}
	delete(sub.members, m)
	if len(sub.members) == 0 {
		if s.shared[key] == sub {
			delete(s.shared, key)
		}
		sub.cancel()
	}
}

// resumes reports whether a subscription asks for the changes after a
// cursor.
func resumes(op *graphql.OperationContext) bool {
	for _, sel := range op.Operation.SelectionSet {
		if f, ok := sel.(*ast.Field); ok && f.ArgumentMap(op.Variables)["after"] != nil {
			return true
		}
	}
	return false
}

// cursorOf is the change cursor in a subscription event's response, as
// the client selected it; empty when it did not.
func cursorOf(op *ast.OperationDefinition, r *graphql.Response) string {
	if r == nil || len(op.SelectionSet) != 1 {
		return ""
	}
	root, ok := op.SelectionSet[0].(*ast.Field)
	if !ok {
		return ""
	}
	for _, sel := range root.SelectionSet {
		f, ok := sel.(*ast.Field)
		if !ok || f.Name != "cursor" {
			continue
		}
		var data map[string]map[string]json.RawMessage
		var cursor string
		if json.Unmarshal(r.Data, &data) == nil && json.Unmarshal(data[root.Alias][f.Alias], &cursor) == nil {
			return cursor
		}
	}
	return ""
}
