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
//     cache entries it makes stale are dropped at once (Invalidate); a
//     changed customer is queued to be read again into the directory
//     (Refresh), and every change is queued for the followers (Follow:
//     the reporting store), merged per record and acted on off this path,
//     so that no upstream call ever holds up the bus;
//  5. deliver: the bus hands the change to the subscribers, in order.
type Pipeline struct {
	bus            Bus
	sink           Sink
	invalidate     func(Change)
	refresh        func(ctx context.Context, system model.System, key string) error
	refreshes      *Queue
	follow         []*Queue
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
	// Follow are the queues of the other followers of the changes, which
	// the apply stage fills and the followers empty.
	Follow []*Queue
	// Observe, when set, counts the changes each stage is handed:
	// "received" and "published".
	Observe func(c Change, stage string)
	Logger  *slog.Logger
}

// NewPipeline opens the bus and builds the stages in front of it.
func NewPipeline(o PipelineOptions) (*Pipeline, error) {
	p := &Pipeline{invalidate: o.Invalidate, refresh: o.Refresh, logger: o.Logger,
		publishTimeout: o.PublishTimeout, follow: o.Follow,
		refreshes: NewQueue(func(c Change) bool { return c.Kind == KindCustomer })}
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
	p.refreshes.Add(c)
	for _, q := range p.follow {
		q.Add(c)
	}
}

// Run reads the queued customers again into the directory until ctx ends.
func (p *Pipeline) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.refreshes.Ready():
		}
		for _, c := range p.refreshes.Take() {
			if err := p.refresh(ctx, c.System, c.Key); err != nil && ctx.Err() == nil {
				p.logger.Warn("customer directory not updated after a change", "system", c.System, "err", err)
			}
		}
	}
}

// Close closes the bus, ending every subscription.
func (p *Pipeline) Close() { p.bus.Close() }

// Queue holds the changes a follower of the change path has yet to act
// on, off the bus's path: one per record, the latest, in the order the
// records were first queued, so that a record changed many times while the
// follower was busy is acted on once.
type Queue struct {
	wants   func(Change) bool
	mu      sync.Mutex
	pending []Change
	at      map[string]int // record → index in pending
	ready   chan struct{}
}

// NewQueue makes a queue for the changes wants accepts (nil: all).
func NewQueue(wants func(Change) bool) *Queue {
	return &Queue{wants: wants, at: map[string]int{}, ready: make(chan struct{}, 1)}
}

// Add queues a change, replacing a queued one of its record that is not
// newer. It never blocks.
func (q *Queue) Add(c Change) {
	if q.wants != nil && !q.wants(c) {
		return
	}
	q.mu.Lock()
	if i, ok := q.at[c.record()]; ok {
		if !q.pending[i].At.After(c.At) {
			q.pending[i] = c
		}
	} else {
		q.at[c.record()] = len(q.pending)
		q.pending = append(q.pending, c)
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default: // already signalled
	}
}

// Ready is signalled when changes were added since the last Take.
func (q *Queue) Ready() <-chan struct{} { return q.ready }

// Take empties the queue, in the order the records were queued.
func (q *Queue) Take() []Change {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.pending
	q.pending = nil
	clear(q.at)
	return out
}

// Len is how many records are queued.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}
