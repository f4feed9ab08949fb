package events

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func noApply(Change) {}

func publish(t *testing.T, b Bus, n int) {
	t.Helper()
	for range n {
		if err := b.Publish(context.Background(), []Change{{Kind: KindOrder, Key: "1"}}); err != nil {
			t.Fatal(err)
		}
	}
}

// take reads n changes or fails after a second.
func take(t *testing.T, s *Subscription, n int) []uint64 {
	t.Helper()
	var seqs []uint64
	for range n {
		select {
		case c, ok := <-s.C:
			if !ok {
				t.Fatalf("subscription ended after %v: %v", seqs, s.Err())
			}
			seqs = append(seqs, c.Seq)
		case <-time.After(time.Second):
			t.Fatalf("got %v, want %d changes", seqs, n)
		}
	}
	return seqs
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBusNumbersAndResumes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := NewMemory(3, 16, noApply)
	live, err := b.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, b, 5)
	if got := take(t, live, 5); !equal(got, []uint64{1, 2, 3, 4, 5}) {
		t.Fatalf("live got %v", got)
	}

	tests := []struct {
		after uint64
		want  []uint64
		err   error
	}{
		{after: 2, want: []uint64{3, 4, 5}},
		{after: 4, want: []uint64{5}},
		{after: 5, want: nil},
		{after: 1, err: ErrCursorTooOld}, // 2 is no longer kept
		{after: 9, err: ErrCursorAhead},  // from before a restart
	}
	for _, tt := range tests {
		b := NewMemory(3, 16, noApply) // five changes, the last three kept
		publish(t, b, 5)
		s, err := b.Subscribe(ctx, tt.after)
		if !errors.Is(err, tt.err) {
			t.Fatalf("after %d: err %v, want %v", tt.after, err, tt.err)
		}
		if err != nil {
			continue
		}
		if got := take(t, s, len(tt.want)); !equal(got, tt.want) {
			t.Fatalf("after %d: got %v, want %v", tt.after, got, tt.want)
		}
		publish(t, b, 1) // then the new ones follow
		if got := take(t, s, 1); got[0] != 6 {
			t.Fatalf("after %d: next %v, want 6", tt.after, got)
		}
	}
}

func TestSlowSubscriberIsEndedNotWaitedFor(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := NewMemory(100, 2, noApply)
	slow, _ := b.Subscribe(ctx, 0)
	done := make(chan struct{})
	go func() { publish(t, b, 10); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("a subscriber that does not read blocked the publisher")
	}
	got := take(t, slow, 2)
	if _, open := <-slow.C; open || !errors.Is(slow.Err(), ErrFellBehind) {
		t.Fatalf("slow subscriber: err %v, want it ended with ErrFellBehind", slow.Err())
	}
	// Resuming from the last change it got misses nothing.
	again, err := b.Subscribe(ctx, got[len(got)-1])
	if err != nil {
		t.Fatal(err)
	}
	if rest := take(t, again, 8); !equal(rest, []uint64{3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Fatalf("resumed with %v", rest)
	}
}

func TestConcurrentPublishersDeliverEveryChangeInOrder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := NewMemory(10, 2000, noApply)
	subs := make([]*Subscription, 5)
	for i := range subs {
		subs[i], _ = b.Subscribe(ctx, 0)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { publish(t, b, 250) })
	}
	wg.Wait()
	for i, s := range subs {
		got := take(t, s, 1000)
		for j, seq := range got {
			if seq != uint64(j+1) {
				t.Fatalf("subscriber %d: change %d has seq %d", i, j, seq)
			}
		}
	}
}

func TestSubscriptionEndsWithItsContext(t *testing.T) {
	b := NewMemory(10, 10, noApply)
	ctx, cancel := context.WithCancel(context.Background())
	s, _ := b.Subscribe(ctx, 0)
	cancel()
	if _, open := <-s.C; open || s.Err() != nil {
		t.Fatalf("after cancel: open %v, err %v", open, s.Err())
	}
	publish(t, b, 3) // nobody left to deliver to; must not panic on a closed channel
}

func TestChangesAreAppliedBeforeSubscribersSeeThem(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	applied := map[uint64]bool{}
	b := NewMemory(10, 10, func(c Change) {
		mu.Lock()
		applied[c.Seq] = true
		mu.Unlock()
	})
	s, _ := b.Subscribe(ctx, 0)
	publish(t, b, 3)
	for _, seq := range take(t, s, 3) {
		mu.Lock()
		ok := applied[seq]
		mu.Unlock()
		if !ok {
			t.Fatalf("change %d delivered before it was applied", seq)
		}
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	b := NewMemory(10, 10, noApply)
	s, _ := b.Subscribe(context.Background(), 0)
	b.Close()
	if _, open := <-s.C; open || s.Err() != nil {
		t.Fatalf("after close: open %v, err %v", open, s.Err())
	}
}
