package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrCursorTooOld is returned for a resume cursor older than the replay
// window: the changes after it are no longer kept.
var ErrCursorTooOld = errors.New("cursor is older than the replay window")

// ErrCursorAhead is returned for a resume cursor past the latest change:
// one this bus never numbered.
var ErrCursorAhead = errors.New("cursor is ahead of the latest change")

// ErrFellBehind ends a subscription that did not keep up; it resumes with
// its last sequence as the cursor and loses nothing within the window.
var ErrFellBehind = errors.New("subscriber fell behind; resume after the last sequence received")

// Bus carries the changes the receivers and pollers accept to the
// subscribers. Before any subscriber sees a change, the bus has the change
// applied (the cache entries it makes stale dropped) on the replica the
// subscriber is on.
type Bus interface {
	// Publish hands changes on; an error means they were not taken.
	Publish(ctx context.Context, changes []Change) error
	// Subscribe streams the changes after the cursor (0 for only new ones)
	// until ctx ends: those still kept first, then new ones, each once and
	// in order.
	Subscribe(ctx context.Context, after uint64) (*Subscription, error)
	// Close ends every subscription and lets go of what the bus holds.
	Close()
	// Connected reports whether changes can be published now.
	Connected() bool
	// Seq is the sequence number of the latest change the bus has
	// numbered or, shared by replicas, read here: a subscription after it
	// gets every later change.
	Seq() uint64
}

// Memory is the in-process bus of a single replica: it numbers the changes
// it is given, applies them, keeps the latest for resuming and hands each to
// every subscriber in order.
type Memory struct {
	apply func(Change)
	mu    sync.Mutex // orders numbering, applying and delivery
	log   *replayLog
}

// NewMemory makes a bus that runs apply on each change before delivering
// it, keeps the latest replay changes for resuming and lets each subscriber
// fall up to buffer changes behind.
func NewMemory(replay, buffer int, apply func(Change)) *Memory {
	return &Memory{apply: apply, log: newReplayLog(replay, buffer)}
}

// Publish numbers, applies and delivers the changes.
func (m *Memory) Publish(_ context.Context, changes []Change) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range changes {
		c.Seq = m.log.latest() + 1
		m.apply(c)
		m.log.append(c)
	}
	return nil
}

// Subscribe streams the changes after the cursor. A cursor past the latest
// change is from before a restart and is refused.
func (m *Memory) Subscribe(ctx context.Context, after uint64) (*Subscription, error) {
	return m.log.subscribe(ctx, after, false)
}

// Seq is the sequence of the latest change.
func (m *Memory) Seq() uint64 { return m.log.latest() }

// Close ends every subscription.
func (m *Memory) Close() { m.log.close() }

// Connected is always true: the bus is in the process.
func (m *Memory) Connected() bool { return true }

// Subscription is one subscriber's stream of changes, shared with the other
// subscribers and not to be modified. C is closed when the subscription
// ends; Err then says why (nil when its context ended).
type Subscription struct {
	C     <-chan *Change
	c     chan *Change
	after uint64 // changes up to this one are not for this subscriber
	err   error
	done  chan struct{}
}

// Err is why the subscription ended: ErrFellBehind, or nil.
func (s *Subscription) Err() error {
	<-s.done
	return s.err
}

// replayLog keeps the latest changes, in sequence order, and fans each one
// out to the subscribers as it is appended.
type replayLog struct {
	mu     sync.Mutex
	seq    uint64    // the latest change's sequence
	ring   []*Change // the latest changes, oldest at start
	start  int
	count  int
	subs   map[*Subscription]struct{}
	buffer int
}

func newReplayLog(replay, buffer int) *replayLog {
	return &replayLog{ring: make([]*Change, replay), subs: map[*Subscription]struct{}{}, buffer: buffer}
}

// append keeps a change, whose sequence is past every one before it, and
// delivers it. A subscriber whose buffer is full is ended with
// ErrFellBehind rather than waited for.
func (l *replayLog) append(change Change) {
	c := &change
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq = c.Seq
	if len(l.ring) > 0 {
		if l.count < len(l.ring) {
			l.ring[(l.start+l.count)%len(l.ring)] = c
			l.count++
		} else {
			l.ring[l.start] = c
			l.start = (l.start + 1) % len(l.ring)
		}
	}
	for s := range l.subs {
		if c.Seq <= s.after {
			continue
		}
		select {
		case s.c <- c:
		default:
			l.end(s, ErrFellBehind)
		}
	}
}

// subscribe streams the changes after the cursor. A cursor past the latest
// change is refused unless ahead allows it (another replica has numbered
// changes this one has not yet read): the subscription then starts with
// the first change past the cursor.
func (l *replayLog) subscribe(ctx context.Context, after uint64, ahead bool) (*Subscription, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if after > l.seq && !ahead {
		return nil, fmt.Errorf("%w: cursor %d, latest %d (the in-process bus numbers changes anew at every start; "+
			"a cursor from before a restart, or from another gateway, does not resume here)", ErrCursorAhead, after, l.seq)
	}
	var backlog []*Change
	if after > 0 && after < l.seq {
		oldest := l.seq - uint64(l.count) + 1 // the first sequence still kept
		if after+1 < oldest {
			return nil, fmt.Errorf("%w: cursor %d, oldest kept %d", ErrCursorTooOld, after, oldest)
		}
		for i := range l.count {
			if c := l.ring[(l.start+i)%len(l.ring)]; c.Seq > after {
				backlog = append(backlog, c)
			}
		}
	}
	c := make(chan *Change, l.buffer+len(backlog))
	for _, ch := range backlog {
		c <- ch
	}
	s := &Subscription{C: c, c: c, after: after, done: make(chan struct{})}
	l.subs[s] = struct{}{}
	go func() {
		select {
		case <-ctx.Done():
			l.mu.Lock()
			l.end(s, nil)
			l.mu.Unlock()
		case <-s.done:
		}
	}()
	return s, nil
}

// end closes a subscription once; the caller holds l.mu.
func (l *replayLog) end(s *Subscription, err error) {
	if _, ok := l.subs[s]; !ok {
		return
	}
	delete(l.subs, s)
	s.err = err
	close(s.c)
	close(s.done)
}

// close ends every subscription.
func (l *replayLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := range l.subs {
		l.end(s, nil)
	}
}

// latest is the sequence of the latest change.
func (l *replayLog) latest() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}
