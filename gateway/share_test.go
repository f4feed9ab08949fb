package gateway

import (
	"context"
	"fmt"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/trestlehq/trestle/graph"
	"github.com/trestlehq/trestle/resolvers"
)

// sharedClient is one client of a subscription driven by hand: its
// response handler, and the error its subscription ended with.
type sharedClient struct {
	next   graphql.ResponseHandler
	cancel context.CancelFunc
	ended  chan *gqlerror.Error
}

// sharedRig is a sharer whose subscription's events the test sends.
type sharedRig struct {
	s       sharer
	op      *graphql.OperationContext
	events  chan *graphql.Response
	started chan context.Context // each execution's context
}

func newSharedRig(t *testing.T, query string, vars map[string]any) *sharedRig {
	t.Helper()
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}}).Schema()
	doc, errs := gqlparser.LoadQuery(schema, query)
	if errs != nil {
		t.Fatal(errs)
	}
	return &sharedRig{
		op:      &graphql.OperationContext{RawQuery: query, Variables: vars, Doc: doc, Operation: doc.Operations[0]},
		events:  make(chan *graphql.Response),
		started: make(chan context.Context, 10),
	}
}

func (r *sharedRig) join() *sharedClient {
	ctx, cancel := context.WithCancel(graphql.WithOperationContext(context.Background(), r.op))
	c := &sharedClient{cancel: cancel, ended: make(chan *gqlerror.Error, 1)}
	ctx = resolvers.ReportEndTo(ctx, func(err *gqlerror.Error) { c.ended <- err })
	c.next = r.s.aroundOperations(ctx, func(ctx context.Context) graphql.ResponseHandler {
		r.started <- ctx
		return func(ctx context.Context) *graphql.Response {
			select {
			case e := <-r.events:
				return e
			case <-ctx.Done():
				return nil
			}
		}
	})
	return c
}

func stockEvent(i int) *graphql.Response {
	return &graphql.Response{Data: []byte(fmt.Sprintf(`{"changed":{"cursor":"c%d","sku":"S"}}`, i))}
}

const aliasedStock = `subscription { changed: stockChanged { cursor sku } }`

func TestASlowClientIsDroppedFromASharedSubscription(t *testing.T) {
	r := newSharedRig(t, aliasedStock, nil)
	fast, slow := r.join(), r.join()
	defer fast.cancel()
	defer slow.cancel()
	if len(r.started) != 1 {
		t.Fatalf("%d executions for two identical subscriptions, want 1", len(r.started))
	}
	for i := 1; i <= sharedBuffer+10; i++ {
		r.events <- stockEvent(i)
		if got := fast.next(context.Background()); string(got.Data) != string(stockEvent(i).Data) {
			t.Fatalf("fast client got %s for event %d", got.Data, i)
		}
	}
	// The slow client still gets what it was handed, then is told to
	// resume after the last of it; the fast one goes on.
	for i := 1; i <= sharedBuffer; i++ {
		if got := slow.next(context.Background()); string(got.Data) != string(stockEvent(i).Data) {
			t.Fatalf("slow client got %s for event %d", got.Data, i)
		}
	}
	if got := slow.next(context.Background()); got != nil {
		t.Fatalf("slow client got %s past its buffer", got.Data)
	}
	err := <-slow.ended
	if err.Extensions["code"] != "FELL_BEHIND" || err.Extensions["resumeAfter"] != fmt.Sprintf("c%d", sharedBuffer) {
		t.Fatalf("slow client ended with %v %v", err, err.Extensions)
	}
	r.events <- stockEvent(0)
	if got := fast.next(context.Background()); got == nil {
		t.Fatal("the fast client's subscription ended with the slow one")
	}
}

func TestASharedSubscriptionEndsWithItsLastClient(t *testing.T) {
	r := newSharedRig(t, aliasedStock, nil)
	a, b := r.join(), r.join()
	shared := <-r.started
	a.cancel()
	r.events <- stockEvent(1)
	if got := b.next(context.Background()); got == nil {
		t.Fatal("one client leaving ended the other's subscription")
	}
	b.cancel()
	<-shared.Done()

	// The next client starts the subscription afresh.
	c := r.join()
	defer c.cancel()
	if fresh := <-r.started; fresh.Err() != nil {
		t.Fatal("a new client joined the ended subscription")
	}
}

func TestASharedSubscriptionsEndReachesEveryClient(t *testing.T) {
	r := newSharedRig(t, aliasedStock, nil)
	a, b := r.join(), r.join()
	defer a.cancel()
	defer b.cancel()
	shared := <-r.started
	resolvers.EndSubscription(shared, resolvers.FellBehind("c7"))
	close(r.events)
	for _, c := range []*sharedClient{a, b} {
		if got := c.next(context.Background()); got != nil {
			t.Fatalf("got %s after the end", got.Data)
		}
		if err := <-c.ended; err.Extensions["resumeAfter"] != "c7" {
			t.Fatalf("ended with %v %v, want to resume after c7", err, err.Extensions)
		}
	}
}

func TestResumingSubscriptionsRunAlone(t *testing.T) {
	r := newSharedRig(t, `subscription($a: String) { stockChanged(after: $a) { cursor } }`, map[string]any{"a": "c1"})
	a, b := r.join(), r.join()
	defer a.cancel()
	defer b.cancel()
	if len(r.started) != 2 {
		t.Fatalf("%d executions for two resuming subscriptions, want 2", len(r.started))
	}
}
