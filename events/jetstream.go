package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/trestlehq/trestle/config"
)

// JetStreamOptions configure the bus that replicas share.
type JetStreamOptions struct {
	URL    string // nats://host:4222
	Stream string // the stream's name; TRESTLE_CHANGES when empty
	// Replay is how many of the latest changes the stream and each replica
	// keep for subscribers that resume.
	Replay int
	// Buffer is how far a subscriber may fall behind.
	Buffer int
	Apply  func(Change)
	Logger *slog.Logger
}

// changeSubject is the subject the changes are published on.
const changeSubject = "trestle.changes"

// JetStream is the bus of several replicas: changes are published to a
// durable NATS JetStream stream, which numbers them, and every replica reads
// the stream in order, applies each change to its own cache and hands it to
// its own subscribers. The stream's sequence is the cursor, so a subscriber
// may resume on any replica. A change published twice within the stream's
// duplicate window (two replicas polling the same upstream) is stored once,
// by its ID.
type JetStream struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	consume jetstream.ConsumeContext
	apply   func(Change)
	log     *replayLog
	ready   chan struct{} // closed when the backlog at start is read

	// applied holds the changes this replica applied as it published
	// them, so that it does not apply them again as they come back from
	// the stream.
	applied recentIDs
}

// recentIDs is a set of change IDs that keeps the newest maxRecentIDs: a
// change published here but stored by another replica first (the same
// change from both) never comes back under this replica's publish, and
// must not stay forever.
type recentIDs struct {
	mu    sync.Mutex
	set   map[string]bool
	order []string
}

const maxRecentIDs = 10_000

func (r *recentIDs) add(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set == nil {
		r.set = map[string]bool{}
	}
	if len(r.order) >= maxRecentIDs {
		delete(r.set, r.order[0])
		r.order = r.order[1:]
	}
	r.set[id] = true
	r.order = append(r.order, id)
}

// take reports whether id was in the set, and removes it.
func (r *recentIDs) take(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	had := r.set[id]
	delete(r.set, id)
	return had
}

// NewJetStream connects, creates or updates the stream, and starts reading
// it from the start of the replay window.
func NewJetStream(ctx context.Context, o JetStreamOptions) (*JetStream, error) {
	if o.Stream == "" {
		o.Stream = config.Default().Events.NATS.Stream
	}
	nc, err := nats.Connect(o.URL, nats.Name("trestle"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", o.URL, err)
	}
	b := &JetStream{nc: nc, apply: o.Apply, log: newReplayLog(o.Replay, o.Buffer), ready: make(chan struct{})}
	if err := b.start(ctx, o); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats %s: %w", o.URL, err)
	}
	return b, nil
}

func (b *JetStream) start(ctx context.Context, o JetStreamOptions) error {
	js, err := jetstream.New(b.nc)
	if err != nil {
		return err
	}
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       o.Stream,
		Subjects:   []string{changeSubject},
		Storage:    jetstream.FileStorage,
		MaxMsgs:    int64(max(o.Replay, 1)),
		Duplicates: 2 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", o.Stream, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", o.Stream, err)
	}
	last := info.State.LastSeq
	from := max(info.State.FirstSeq, 1)
	if last >= uint64(o.Replay) {
		from = max(from, last-uint64(o.Replay)+1)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   from,
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", o.Stream, err)
	}
	var once sync.Once
	caughtUp := func() { once.Do(func() { close(b.ready) }) }
	if last < from {
		caughtUp()
	}
	b.consume, err = cons.Consume(func(m jetstream.Msg) {
		meta, err := m.Metadata()
		if err != nil {
			return
		}
		var c Change
		if err := json.Unmarshal(m.Data(), &c); err != nil {
			o.Logger.Error("change on the stream not readable", "seq", meta.Sequence.Stream, "err", err)
		} else {
			c.Seq = meta.Sequence.Stream
			if !b.applied.take(c.ID()) {
				b.apply(c)
			}
			b.log.append(c)
		}
		if meta.Sequence.Stream >= last {
			caughtUp()
		}
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", o.Stream, err)
	}
	b.js, b.stream = js, stream
	return nil
}

// Publish applies the changes on this replica, so that the cache is fresh
// when the webhook is answered, and stores them in the stream, from which
// every other replica applies them, and every replica (this one too)
// delivers them.
func (b *JetStream) Publish(ctx context.Context, changes []Change) error {
	acks := make([]jetstream.PubAckFuture, 0, len(changes))
	for _, c := range changes {
		b.applied.add(c.ID())
		b.apply(c)
		data, err := json.Marshal(c)
		if err != nil {
			return err
		}
		ack, err := b.js.PublishMsgAsync(&nats.Msg{Subject: changeSubject, Data: data}, jetstream.WithMsgID(c.ID()))
		if err != nil {
			return fmt.Errorf("publish change: %w", err)
		}
		acks = append(acks, ack)
	}
	for _, ack := range acks {
		select {
		case <-ack.Ok():
		case err := <-ack.Err():
			return fmt.Errorf("publish change: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("publish change: %w", ctx.Err())
		}
	}
	return nil
}

// Subscribe streams the changes after the cursor, which may come from any
// replica. It waits until this replica has read the replay window.
func (b *JetStream) Subscribe(ctx context.Context, after uint64) (*Subscription, error) {
	select {
	case <-b.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if after > b.log.latest() {
		// Numbered by the stream but not read here yet, or from a stream
		// that has since been replaced.
		info, err := b.stream.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("change stream: %w", err)
		}
		if after > info.State.LastSeq {
			return nil, fmt.Errorf("%w: cursor %d, the stream's latest %d (a cursor from another stream, or one since replaced, does not resume here)",
				ErrCursorAhead, after, info.State.LastSeq)
		}
	}
	return b.log.subscribe(ctx, after, true)
}

// Connected reports whether the NATS connection is up.
func (b *JetStream) Connected() bool { return b.nc.IsConnected() }

// Seq is the sequence of the latest change this replica has read from the
// stream.
func (b *JetStream) Seq() uint64 { return b.log.latest() }

// Close stops reading, disconnects and ends every subscription.
func (b *JetStream) Close() {
	b.consume.Stop()
	b.nc.Close()
	b.log.close()
}
