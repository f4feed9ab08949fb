package resolvers

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/events"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/loaders"
)

// Changes is the bus the subscriptions read.
type Changes interface {
	Subscribe(ctx context.Context, after uint64) (*events.Subscription, error)
}

// changeCursor is the opaque cursor of a change: its sequence number.
func changeCursor(seq uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("change:" + strconv.FormatUint(seq, 10)))
}

// changeSeq reads a change cursor; no cursor is 0, only new changes.
func changeSeq(cursor *string) (uint64, error) {
	if cursor == nil || *cursor == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(*cursor)
	seq, ok := strings.CutPrefix(string(raw), "change:")
	n, convErr := strconv.ParseUint(seq, 10, 64)
	if err != nil || !ok || convErr != nil {
		return 0, badInput("after is not a change cursor")
	}
	return n, nil
}

// subscribe streams the changes after the cursor that event makes into a
// subscription event, until ctx ends. Each change gets loaders of its own,
// made after the change invalidated the cache and shared by every
// subscriber on this replica, so what event reads (and the event's fields
// read later) is fresh, never another event's cached copy, and read once
// however many subscribers there are. A subscriber that falls behind is
// ended (over WebSocket, told so) and resumes with the cursor of the last
// event it got.
func subscribe[E any](ctx context.Context, r *Resolver, after *string, event func(context.Context, events.Change) (E, bool)) (<-chan E, error) {
	from, err := changeSeq(after)
	if err != nil {
		return nil, err
	}
	sub, err := r.Changes.Subscribe(ctx, from)
	if errors.Is(err, events.ErrCursorTooOld) || errors.Is(err, events.ErrCursorAhead) {
		return nil, badInput("%v; subscribe without after: to start from now", err)
	}
	if err != nil {
		return nil, err
	}
	out := make(chan E, 1)
	go func() {
		defer close(out)
		last := from // the last change handed on
		defer func() {
			if errors.Is(sub.Err(), events.ErrFellBehind) && ctx.Err() == nil {
				resume := ""
				if last > 0 {
					resume = changeCursor(last)
				}
				EndSubscription(ctx, FellBehind(resume))
			}
		}()
		for c := range sub.C {
			// Without cancel: the loaders are shared, and one subscriber
			// leaving must not fail the read the others wait for.
			e, ok := event(loaders.With(context.WithoutCancel(ctx), r.changeLoaders(c.Seq)), *c)
			if !ok {
				continue
			}
			select {
			case out <- e:
				last = c.Seq
				if r.Delivered != nil {
					r.Delivered(*c)
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// webSocketKey marks a context as a WebSocket connection's.
type webSocketKey struct{}

// OverWebSocket marks ctx as a connection's in gqlgen's WebSocket
// transport (the older graphql-ws protocol), whose subscriptions can end
// with an error message saying why.
func OverWebSocket(ctx context.Context) context.Context {
	return context.WithValue(ctx, webSocketKey{}, true)
}

// endReportKey holds where the subscriptions of a context report why they
// ended.
type endReportKey struct{}

// ReportEndTo makes the subscriptions resolved with ctx hand the error
// that ends them to report rather than to their client: for a
// subscription whose events several clients share.
func ReportEndTo(ctx context.Context, report func(*gqlerror.Error)) context.Context {
	return context.WithValue(ctx, endReportKey{}, report)
}

// EndSubscription tells a subscriber why its subscription ends: over
// WebSocket as an error message, while over server-sent events the stream
// just completes. A context made by ReportEndTo (the graphql-transport-ws
// transport's, a shared subscription's) reports to its function.
func EndSubscription(ctx context.Context, err *gqlerror.Error) {
	if report, ok := ctx.Value(endReportKey{}).(func(*gqlerror.Error)); ok {
		report(err)
	} else if ctx.Value(webSocketKey{}) != nil {
		transport.AddSubscriptionError(ctx, err)
	}
}

// FellBehind is the error that ends the subscription of a subscriber that
// did not keep up, naming the cursor to resume after (that of the last
// event it got) when there is one.
func FellBehind(resumeAfter string) *gqlerror.Error {
	err := &gqlerror.Error{Message: events.ErrFellBehind.Error(), Extensions: map[string]any{"code": "FELL_BEHIND"}}
	if resumeAfter != "" {
		err.Extensions["resumeAfter"] = resumeAfter
	}
	return err
}

// changeOp is a change's operation in the graph.
func changeOp(op events.Op) model.ChangeOperation {
	switch op {
	case events.OpCreated:
		return model.ChangeOperationCreated
	case events.OpDeleted:
		return model.ChangeOperationDeleted
	default:
		return model.ChangeOperationUpdated
	}
}

// placedBy reports whether a customer placed an order: by their shop
// account, or, without one, as a guest under their e-mail address.
func placedBy(o *model.Order, c *model.Customer) bool {
	if c.ShopID != 0 {
		return o.CustomerID == c.ShopID
	}
	return c.Email != "" && consolidate.GuestOrderOf(o, c.Email)
}

// changedCustomer is the customer whose record a change is about: the
// directory's, or one known by that system's key alone.
func (r *Resolver) changedCustomer(c events.Change) *model.Customer {
	var e consolidate.Entry
	var ok bool
	switch c.System {
	case model.SystemCRM:
		e, ok = r.Directory.ByCRM(c.Key)
	case model.SystemShop:
		if id, err := strconv.ParseInt(c.Key, 10, 64); err == nil {
			e, ok = r.Directory.ByShop(id)
		}
	default:
		e, ok = r.Directory.ByERP(c.Key)
	}
	if ok {
		return customerFor(e)
	}
	switch c.System {
	case model.SystemCRM:
		return &model.Customer{CRMID: c.Key}
	case model.SystemShop:
		id, _ := strconv.ParseInt(c.Key, 10, 64)
		return &model.Customer{ShopID: id}
	default:
		return &model.Customer{ERPID: c.Key}
	}
}

// eventLoaders are the loaders of the latest changes, one set per change.
type eventLoaders struct {
	mu     sync.Mutex
	newest uint64 // the newest change asked for
	bySeq  map[uint64]*loaders.Loaders
}

// keptEvents is how many of the latest changes' loaders are kept for
// subscribers still delivering them; one further behind gets a set of its
// own, as fresh, that is not kept.
const keptEvents = 256

// changeLoaders are the loaders of one change.
func (r *Resolver) changeLoaders(seq uint64) *loaders.Loaders {
	e := &r.events
	e.mu.Lock()
	defer e.mu.Unlock()
	if l, ok := e.bySeq[seq]; ok {
		return l
	}
	l := r.Loaders.NewFresh()
	if seq+keptEvents <= e.newest {
		return l
	}
	e.newest = max(e.newest, seq)
	if e.bySeq == nil {
		e.bySeq = map[uint64]*loaders.Loaders{}
	}
	if len(e.bySeq) >= keptEvents {
		for s := range e.bySeq {
			if s+keptEvents/2 <= e.newest {
				delete(e.bySeq, s)
			}
		}
	}
	e.bySeq[seq] = l
	return l
}
