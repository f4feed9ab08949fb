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

// ErrFellBehind ends a subscription that did not keep up; it resumes with
// its last sequence as the cursor and loses nothing within the window.
var ErrFellBehind = errors.New("subscriber fell behind; resume after the last sequence received")

// Memory is the in-process bus: it numbers the changes it is given, keeps
// the latest for resuming, and hands each to every subscriber in order.
type Memory struct {
	mu     sync.Mutex
	seq    uint64
	replay []Change // ring of the latest changes, oldest at start
	start  int
	count  int
	subs   map[*Subscription]struct{}
	buffer int
}

// NewMemory makes a bus that keeps the latest replay changes for resuming
// and lets each subscriber fall up to buffer changes behind.
func NewMemory(replay, buffer int) *Memory {
	return &Memory{replay: make([]Change, replay), subs: map[*Subscription]struct{}{}, buffer: buffer}
}

// Subscription is one subscriber's stream of changes. C is closed when the
// subscription ends; Err then says why (nil when its context ended).
type Subscription struct {
	C    <-chan Change
	c    chan Change
	err  error
	done chan struct{}
}

// Err is why the subscription ended: ErrFellBehind, or nil.
func (s *Subscription) Err() error {
	<-s.done
	return s.err
}

// Publish numbers the changes and delivers them; it returns them with
// their sequence numbers.
func (m *Memory) Publish(_ context.Context, changes []Change) ([]Change, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Change, len(changes))
	for i, c := range changes {
		m.seq++
		c.Seq = m.seq
		out[i] = c
		m.keep(c)
		for s := range m.subs {
			select {
			case s.c <- c:
			default:
				m.end(s, ErrFellBehind)
			}
		}
	}
	return out, nil
}

// keep puts a change in the replay ring, dropping the oldest when full.
func (m *Memory) keep(c Change) {
	if len(m.replay) == 0 {
		return
	}
	if m.count < len(m.replay) {
		m.replay[(m.start+m.count)%len(m.replay)] = c
		m.count++
		return
	}
	m.replay[m.start] = c
	m.start = (m.start + 1) % len(m.replay)
}

// Subscribe streams the changes after the cursor (0 for only new ones)
// until ctx ends. The changes still kept after the cursor come first, then
// the new ones, each once and in order.
func (m *Memory) Subscribe(ctx context.Context, after uint64) (*Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var backlog []Change
	if after > m.seq {
		return nil, fmt.Errorf("%w: cursor %d is past the latest %d, from before a restart", ErrCursorTooOld, after, m.seq)
	}
	if after > 0 && after < m.seq {
		oldest := m.seq - uint64(m.count) + 1 // the first sequence still kept
		if after+1 < oldest {
			return nil, fmt.Errorf("%w: cursor %d, oldest kept %d", ErrCursorTooOld, after, oldest)
		}
		for i := range m.count {
			if c := m.replay[(m.start+i)%len(m.replay)]; c.Seq > after {
				backlog = append(backlog, c)
			}
		}
	}
	c := make(chan Change, m.buffer+len(backlog))
	for _, ch := range backlog {
		c <- ch
	}
	s := &Subscription{C: c, c: c, done: make(chan struct{})}
	m.subs[s] = struct{}{}
	go func() {
		select {
		case <-ctx.Done():
			m.mu.Lock()
			m.end(s, nil)
			m.mu.Unlock()
		case <-s.done:
		}
	}()
	return s, nil
}

// end closes a subscription once; the caller holds m.mu.
func (m *Memory) end(s *Subscription, err error) {
	if _, ok := m.subs[s]; !ok {
		return
	}
	delete(m.subs, s)
	s.err = err
	close(s.c)
	close(s.done)
}

// Seq is the sequence of the latest change.
func (m *Memory) Seq() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seq
}

// Apply is the sink the webhook receivers and pollers hand their changes
// to: each change first invalidates the cache entries it affects, so that a
// subscriber reading the record again gets the new value, and is then
// published.
func Apply(invalidate func(Change), bus *Memory) Sink {
	return func(ctx context.Context, changes []Change) error {
		for _, c := range changes {
			invalidate(c)
		}
		_, err := bus.Publish(ctx, changes)
		return err
	}
}
