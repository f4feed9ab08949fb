package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/trestlehq/trestle/graph/model"
)

// ErrNotDurable refuses changes the bus could not store in time (NATS
// unreachable, or slow to acknowledge): they were not taken, and a webhook
// is answered 503 so that the upstream sends them again.
var ErrNotDurable = errors.New("the change bus did not store the changes")

// Pipeline is the change path, stage by stage in the order a change goes
// through it:
//
//  1. receive: webhooks and pollers hand what they read to Sink;
//  2. de-duplicate: a change already taken, or older than one taken for
//     its record, is dropped (Dedupe);
//  3. publish: the bus numbers the change and, with NATS, stores it
//     durably, within PublishTimeout; a change not stored is refused
//     (ErrNotDurable) and forgotten by the de-duplication stage, so that
//     its retry counts;
//  4. apply, on every replica, before any subscriber sees the change: the
//     cache entries it makes stale are dropped at once (Invalidate), and a
//     changed customer is queued to be read again into the directory
//     (Refresh), merged per record and run off this path, so that no
//     upstream call ever holds up the bus;
//  5. deliver: the bus hands the change to the subscribers, in order.
type Pipeline struct {
	bus            Bus
	sink           Sink
	invalidate     func(Change)
	refresh        func(ctx context.Context, system model.System, key string) error
	refreshes      refreshQueue
	publishTimeout time.Duration
	logger         *slog.Logger
}

// PipelineOptions configure NewPipeline.
type PipelineOptions struct {
	// OpenBus opens the bus with the pipeline's apply stage, which the bus
	// runs on each change before delivering it.
	OpenBus func(apply func(Change)) (Bus, error)
	// Remember is how many records the de-duplication stage remembers.
	Remember int
	// PublishTimeout bounds publishing, so that a webhook is answered in
	// time whatever the bus does (default 1.5s).
	PublishTimeout time.Duration
	// Invalidate drops the cache entries a change makes stale.
	Invalidate func(Change)
	// Refresh reads a changed customer record again into the directory.
	Refresh func(ctx context.Context, system model.System, key string) error
	// Observe, when set, counts the changes each stage is handed:
	// "received" and "published".
	Observe func(c Change, stage string)
	Logger  *slog.Logger
}

// NewPipeline opens the bus and builds the stages in front of it.
func NewPipeline(o PipelineOptions) (*Pipeline, error) {
	p := &Pipeline{invalidate: o.Invalidate, refresh: o.Refresh, logger: o.Logger,
		publishTimeout: o.PublishTimeout, refreshes: refreshQueue{wake: make(chan struct{}, 1)}}
	if p.publishTimeout <= 0 {
		p.publishTimeout = 1500 * time.Millisecond
	}
	bus, err := o.OpenBus(p.apply)
	if err != nil {
		return nil, err
	}
	p.bus = bus
	observe := func(stage string, next Sink) Sink {
		if o.Observe == nil {
			return next
		}
		return func(ctx context.Context, changes []Change) error {
			for _, c := range changes {
				o.Observe(c, stage)
			}
			return next(ctx, changes)
		}
	}
	p.sink = observe("received", NewDedupe(o.Remember).Sink(observe("published", p.publish)))
	return p, nil
}

// Sink takes the changes webhooks and pollers report. An error means they
// were not taken.
func (p *Pipeline) Sink() Sink { return p.sink }

// Bus is the bus the changes are published on, which subscribers read.
func (p *Pipeline) Bus() Bus { return p.bus }

// publish hands the changes to the bus, in time or not at all.
func (p *Pipeline) publish(ctx context.Context, changes []Change) error {
	if !p.bus.Connected() {
		return fmt.Errorf("%w: not connected", ErrNotDurable)
	}
	ctx, cancel := context.WithTimeout(ctx, p.publishTimeout)
	defer cancel()
	if err := p.bus.Publish(ctx, changes); err != nil {
		return fmt.Errorf("%w: %w", ErrNotDurable, err)
	}
	return nil
}

// apply readies a replica for a change before its subscribers see it.
// It runs under the bus's lock: nothing here waits for an upstream.
func (p *Pipeline) apply(c Change) {
	p.invalidate(c)
	if c.Kind == KindCustomer {
		p.refreshes.add(refreshKey{c.System, c.Key})
	}
}

// Run reads the queued customers again into the directory until ctx ends.
func (p *Pipeline) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.refreshes.wake:
		}
		for _, k := range p.refreshes.take() {
			if err := p.refresh(ctx, k.system, k.key); err != nil && ctx.Err() == nil {
				p.logger.Warn("customer directory not updated after a change", "system", k.system, "err", err)
			}
		}
	}
}

// Close closes the bus, ending every subscription.
func (p *Pipeline) Close() { p.bus.Close() }

// refreshKey is a customer record to read again.
type refreshKey struct {
	system model.System
	key    string
}

// refreshQueue holds the customer records to read again, each once however
// many changes named it while it waited.
type refreshQueue struct {
	mu      sync.Mutex
	pending []refreshKey
	queued  map[refreshKey]bool
	wake    chan struct{}
}

func (q *refreshQueue) add(k refreshKey) {
	q.mu.Lock()
	if !q.queued[k] {
		if q.queued == nil {
			q.queued = map[refreshKey]bool{}
		}
		q.queued[k] = true
		q.pending = append(q.pending, k)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default: // already woken
	}
}

// take empties the queue, in the order the records were queued.
func (q *refreshQueue) take() []refreshKey {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.pending
	q.pending = nil
	clear(q.queued)
	return out
}
