package events

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/trestlehq/trestle/events/natstest"
	"github.com/trestlehq/trestle/graph/model"
)

// replica is one gateway's bus on the shared stream, with what it applied.
type replica struct {
	*JetStream
	mu      sync.Mutex
	applied []Change
}

func newReplica(t *testing.T, url string, replay int) *replica {
	t.Helper()
	r := &replica{}
	b, err := NewJetStream(context.Background(), JetStreamOptions{URL: url, Replay: replay, Buffer: 100,
		Apply: func(c Change) {
			r.mu.Lock()
			r.applied = append(r.applied, c)
			r.mu.Unlock()
		}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	r.JetStream = b
	return r
}

func change(key string) Change {
	return Change{System: model.SystemShop, Kind: KindOrder, Key: key, Op: OpUpdated,
		At: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), Customer: "42"}
}

func TestJetStreamEveryReplicaSeesEveryChange(t *testing.T) {
	url := natstest.Start(t)
	a, b := newReplica(t, url, 100), newReplica(t, url, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subA, err := a.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	subB, err := b.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(ctx, []Change{change("1"), change("2")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, []Change{change("3")}); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Subscription{"a": subA, "b": subB} {
		if got := take(t, s, 3); !equal(got, []uint64{1, 2, 3}) {
			t.Fatalf("replica %s got %v, want 1 2 3 numbered by the stream", name, got)
		}
	}
	for name, r := range map[string]*replica{"a": a, "b": b} {
		if seq := r.Seq(); seq != 3 {
			t.Errorf("replica %s: latest change %d, want the stream's 3", name, seq)
		}
	}
	// Each replica applied each change to its cache once: those it
	// published as it published them, the others from the stream.
	for name, r := range map[string]*replica{"a": a, "b": b} {
		r.mu.Lock()
		times := map[string]int{}
		for _, c := range r.applied {
			times[c.Key]++
		}
		r.mu.Unlock()
		if times["1"] != 1 || times["2"] != 1 || times["3"] != 1 || len(times) != 3 {
			t.Fatalf("replica %s applied changes %v times, want 1, 2 and 3 once each", name, times)
		}
	}
	// The change itself crosses intact.
	got := b.log.ring[0]
	want := change("1")
	want.Seq = 1
	if *got != want {
		t.Fatalf("replica b holds %+v, want %+v", got, want)
	}
}

func TestJetStreamStoresAChangeFromTwoReplicasOnce(t *testing.T) {
	url := natstest.Start(t)
	a, b := newReplica(t, url, 100), newReplica(t, url, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub, _ := a.Subscribe(ctx, 0)
	// Both replicas poll the same upstream and read the same change.
	if err := a.Publish(ctx, []Change{change("1")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, []Change{change("1"), change("2")}); err != nil {
		t.Fatal(err)
	}
	if got := take(t, sub, 2); !equal(got, []uint64{1, 2}) {
		t.Fatalf("got %v, want the repeated change stored once", got)
	}
	select {
	case c := <-sub.C:
		t.Fatalf("unexpected change %+v", c)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestJetStreamResumesOnAnotherReplicaAndAfterARestart(t *testing.T) {
	url := natstest.Start(t)
	a := newReplica(t, url, 5)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 8 {
		if err := a.Publish(ctx, []Change{change(string(rune('a' + i)))}); err != nil {
			t.Fatal(err)
		}
	}
	// A replica started now reads the replay window (4 to 8) from the
	// stream and resumes a cursor the other one handed out.
	b := newReplica(t, url, 5)
	s, err := b.Subscribe(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if got := take(t, s, 3); !equal(got, []uint64{6, 7, 8}) {
		t.Fatalf("resumed with %v, want 6 7 8", got)
	}
	if _, err := b.Subscribe(ctx, 2); !errors.Is(err, ErrCursorTooOld) {
		t.Fatalf("cursor behind the window: err %v, want ErrCursorTooOld", err)
	}
	if _, err := b.Subscribe(ctx, 99); !errors.Is(err, ErrCursorAhead) {
		t.Fatalf("cursor past the stream: err %v, want ErrCursorAhead", err)
	}
}

func TestRecentIDsKeepsTheNewest(t *testing.T) {
	var r recentIDs
	for i := range maxRecentIDs + 1 {
		r.add(strconv.Itoa(i))
	}
	if r.take("0") || !r.take(strconv.Itoa(maxRecentIDs)) || r.take(strconv.Itoa(maxRecentIDs)) {
		t.Fatal("want the oldest let go, the newest taken once")
	}
}
