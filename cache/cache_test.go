package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/trestlehq/trestle/graph/model"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable time source for TTL tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newCache(t *testing.T, cfg Config) (*Entities, *clock) {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c.now = clk.now
	return c, clk
}

// upstream records what a load was asked for and answers from a fixed table.
type upstream struct {
	mu    sync.Mutex
	calls [][]string
	data  map[string]string
	err   error
	delay time.Duration
}

func (u *upstream) load(ctx context.Context, ids []string) (map[string]string, error) {
	u.mu.Lock()
	u.calls = append(u.calls, slices.Clone(ids))
	delay, err := u.delay, u.err
	u.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string]string{}
	for _, id := range ids {
		if v, ok := u.data[id]; ok {
			out[id] = v
		}
	}
	return out, nil
}

func (u *upstream) set(id, v string) {
	u.mu.Lock()
	u.data[id] = v
	u.mu.Unlock()
}

func (u *upstream) callCount() int { u.mu.Lock(); defer u.mu.Unlock(); return len(u.calls) }

func values(rs []Result[string]) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		switch {
		case errors.Is(r.Err, ErrNotFound):
			out[i] = "<not found>"
		case r.Err != nil:
			out[i] = "<" + r.Err.Error() + ">"
		default:
			out[i] = r.Value
		}
	}
	return out
}

func TestFetchHitsMissesAndOrder(t *testing.T) {
	c, _ := newCache(t, Config{})
	u := &upstream{data: map[string]string{"1": "one", "2": "two", "3": "three"}}
	ctx := context.Background()

	got := Fetch(ctx, c, model.SystemShop, Orders, []string{"3", "1", "9", "3"}, u.load)
	if want := []string{"three", "one", "<not found>", "three"}; !slices.Equal(values(got), want) {
		t.Fatalf("first fetch %v, want %v", values(got), want)
	}
	if len(u.calls) != 1 || !slices.Equal(u.calls[0], []string{"3", "1", "9"}) {
		t.Fatalf("upstream calls %v, want one call for the distinct misses", u.calls)
	}
	c.store.Wait()

	got = Fetch(ctx, c, model.SystemShop, Orders, []string{"1", "2", "9"}, u.load)
	if want := []string{"one", "two", "<not found>"}; !slices.Equal(values(got), want) {
		t.Fatalf("second fetch %v, want %v", values(got), want)
	}
	if len(u.calls) != 2 || !slices.Equal(u.calls[1], []string{"2"}) {
		t.Fatalf("upstream calls %v, want only the new key fetched", u.calls)
	}
	if !got[0].Hit || got[1].Hit || !got[2].Hit {
		t.Errorf("hit flags %v %v %v, want hit, miss, hit (negative)", got[0].Hit, got[1].Hit, got[2].Hit)
	}
	if s := c.Stats()[Orders]; s.Hits != 2 || s.Misses != 5 {
		t.Errorf("stats %+v, want 2 hits and 5 misses", s)
	}
}

func TestFetchKeysAreScopedBySystemAndKind(t *testing.T) {
	c, _ := newCache(t, Config{})
	shop := &upstream{data: map[string]string{"1": "shop order"}}
	erp := &upstream{data: map[string]string{"1": "erp invoice"}}
	Fetch(context.Background(), c, model.SystemShop, Orders, []string{"1"}, shop.load)
	c.store.Wait()
	got := Fetch(context.Background(), c, model.SystemERP, Invoices, []string{"1"}, erp.load)
	if values(got)[0] != "erp invoice" {
		t.Fatalf("got %v", values(got))
	}
}

func TestFetchExpiresByKind(t *testing.T) {
	tests := []struct {
		name      string
		kind      Kind
		after     time.Duration
		wantFetch bool
	}{
		{"stock fresh", Stock, 4 * time.Second, false},
		{"stock stale", Stock, 6 * time.Second, true},
		{"customers fresh", Customers, 4 * time.Minute, false},
		{"customers stale", Customers, 6 * time.Minute, true},
		{"configured orders fresh", Orders, 9 * time.Second, false},
		{"configured orders stale", Orders, 11 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newCache(t, Config{TTL: map[Kind]time.Duration{Orders: 10 * time.Second}})
			u := &upstream{data: map[string]string{"a": "v"}}
			Fetch(context.Background(), c, model.SystemERP, tt.kind, []string{"a"}, u.load)
			c.store.Wait()
			clk.advance(tt.after)
			Fetch(context.Background(), c, model.SystemERP, tt.kind, []string{"a"}, u.load)
			if fetched := u.callCount() == 2; fetched != tt.wantFetch {
				t.Fatalf("refetched = %v, want %v", fetched, tt.wantFetch)
			}
		})
	}
}

func TestFetchRemembersNotFoundBriefly(t *testing.T) {
	c, clk := newCache(t, Config{NegativeTTL: 2 * time.Second})
	u := &upstream{data: map[string]string{}}
	Fetch(context.Background(), c, model.SystemCRM, Customers, []string{"ghost"}, u.load)
	c.store.Wait()
	clk.advance(time.Second)
	Fetch(context.Background(), c, model.SystemCRM, Customers, []string{"ghost"}, u.load)
	if u.callCount() != 1 {
		t.Fatalf("%d calls, want the not-found remembered", u.callCount())
	}
	clk.advance(2 * time.Second)
	u.data["ghost"] = "now exists"
	got := Fetch(context.Background(), c, model.SystemCRM, Customers, []string{"ghost"}, u.load)
	if values(got)[0] != "now exists" {
		t.Fatalf("got %v after the negative TTL", values(got))
	}
}

func TestFetchErrorsAreNotCached(t *testing.T) {
	c, _ := newCache(t, Config{})
	boom := errors.New("upstream down")
	u := &upstream{data: map[string]string{"1": "one"}, err: boom}
	got := Fetch(context.Background(), c, model.SystemShop, Orders, []string{"1", "2"}, u.load)
	for _, r := range got {
		if !errors.Is(r.Err, boom) {
			t.Fatalf("result %+v, want the load error", r)
		}
	}
	c.store.Wait()
	u.err = nil
	got = Fetch(context.Background(), c, model.SystemShop, Orders, []string{"1"}, u.load)
	if values(got)[0] != "one" || u.callCount() != 2 {
		t.Fatalf("got %v after %d calls, want a fresh fetch", values(got), u.callCount())
	}
}

func TestConcurrentMissesGoUpstreamOnce(t *testing.T) {
	c, _ := newCache(t, Config{})
	u := &upstream{data: map[string]string{}, delay: 50 * time.Millisecond}
	for i := range 20 {
		u.data[fmt.Sprint(i)] = fmt.Sprint("v", i)
	}
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for r := range 10 {
		wg.Go(func() {
			// Overlapping key sets: each request wants keys r..r+9.
			ids := make([]string, 10)
			for i := range ids {
				ids[i] = fmt.Sprint(r + i)
			}
			for i, v := range values(Fetch(context.Background(), c, model.SystemShop, Orders, ids, u.load)) {
				if v != "v"+ids[i] {
					wrong.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if wrong.Load() > 0 {
		t.Fatalf("%d wrong values", wrong.Load())
	}
	fetched := map[string]int{}
	for _, call := range u.calls {
		for _, id := range call {
			fetched[id]++
		}
	}
	for id, n := range fetched {
		if n != 1 {
			t.Errorf("key %s fetched %d times, want once", id, n)
		}
	}
	if len(fetched) != 19 {
		t.Errorf("%d distinct keys fetched, want 19", len(fetched))
	}
}

func TestWaiterCancelDoesNotCancelTheLoad(t *testing.T) {
	c, _ := newCache(t, Config{})
	u := &upstream{data: map[string]string{"1": "one"}}
	ctx, cancel := context.WithCancel(context.Background())
	started, release := make(chan struct{}), make(chan struct{})
	var first []Result[string]
	done := make(chan struct{})
	go func() {
		first = Fetch(ctx, c, model.SystemShop, Orders, []string{"1"}, func(ctx context.Context, ids []string) (map[string]string, error) {
			close(started)
			<-release
			cancel() // the owner's client goes away mid-fetch
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return u.load(ctx, ids)
		})
		close(done)
	}()
	<-started
	// The second caller finds the load in flight and waits for it.
	second := make(chan []Result[string])
	go func() { second <- Fetch(context.Background(), c, model.SystemShop, Orders, []string{"1"}, u.load) }()
	time.Sleep(10 * time.Millisecond) // let it register as a waiter; if it came late it would hit the cache, which passes too
	close(release)
	<-done
	if got := values(<-second)[0]; got != "one" {
		t.Fatalf("waiter got %v, want the value despite the owner's cancel", got)
	}
	if !errors.Is(first[0].Err, context.Canceled) {
		t.Fatalf("owner got %v, want its own cancellation", values(first))
	}
	if u.callCount() != 1 {
		t.Fatalf("%d upstream calls, want the waiter to share the owner's", u.callCount())
	}
}

func TestInvalidate(t *testing.T) {
	c, _ := newCache(t, Config{})
	u := &upstream{data: map[string]string{"1": "old", "2": "two"}}
	Fetch(context.Background(), c, model.SystemERP, Stock, []string{"1", "2"}, u.load)
	c.store.Wait()
	u.data["1"] = "new"
	c.Invalidate(model.SystemERP, Stock, "1")
	got := Fetch(context.Background(), c, model.SystemERP, Stock, []string{"1", "2"}, u.load)
	if want := []string{"new", "two"}; !slices.Equal(values(got), want) {
		t.Fatalf("got %v, want %v", values(got), want)
	}
	if !slices.Equal(u.calls[1], []string{"1"}) {
		t.Fatalf("refetched %v, want only the invalidated key", u.calls[1])
	}
}

func TestInvalidateDuringFetchKeepsStaleValueOut(t *testing.T) {
	c, _ := newCache(t, Config{})
	u := &upstream{data: map[string]string{"1": "old"}}
	Fetch(context.Background(), c, model.SystemERP, Stock, []string{"1"}, func(ctx context.Context, ids []string) (map[string]string, error) {
		out, err := u.load(ctx, ids)
		// The change lands while the old value is on its way back.
		u.data["1"] = "new"
		c.Invalidate(model.SystemERP, Stock, "1")
		return out, err
	})
	c.store.Wait()
	got := Fetch(context.Background(), c, model.SystemERP, Stock, []string{"1"}, u.load)
	if values(got)[0] != "new" {
		t.Fatalf("got %v, want the value after the change", values(got))
	}
}

// TestAReadAfterAChangeDoesNotJoinALoadFromBefore: a load under way when
// its entity changes may have read it before; a read from then on loads
// anew rather than wait for it.
func TestAReadAfterAChangeDoesNotJoinALoadFromBefore(t *testing.T) {
	c, _ := newCache(t, Config{})
	read, release := make(chan struct{}), make(chan struct{})
	before := make(chan []Result[string])
	go func() {
		before <- Fetch(context.Background(), c, model.SystemERP, Stock, []string{"1"}, func(context.Context, []string) (map[string]string, error) {
			close(read)
			<-release
			return map[string]string{"1": "old"}, nil
		})
	}()
	<-read // the old value is read, and on its way back
	c.Invalidate(model.SystemERP, Stock, "1")
	// Joining the load from before would wait for it, which waits for
	// this read: the context ends that.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	after := Fetch(ctx, c, model.SystemERP, Stock, []string{"1"}, func(context.Context, []string) (map[string]string, error) {
		return map[string]string{"1": "new"}, nil
	})
	close(release)
	if values(after)[0] != "new" || values(<-before)[0] != "old" {
		t.Fatalf("after the change %v, want its own load's value", values(after))
	}
	c.store.Wait()
	if got := Fetch[string](context.Background(), c, model.SystemERP, Stock, []string{"1"}, nil); values(got)[0] != "new" {
		t.Fatalf("then %v, want the value after the change kept", values(got))
	}
}

func TestLoadPanicFailsItsIDsAndReleasesWaiters(t *testing.T) {
	c, _ := newCache(t, Config{})
	failed := Fetch(context.Background(), c, model.SystemShop, Orders, []string{"1"}, func(context.Context, []string) (map[string]string, error) {
		panic("bug")
	})
	if failed[0].Err == nil || !strings.Contains(failed[0].Err.Error(), "bug") {
		t.Fatalf("got %v, want the panic as the id's error", failed[0].Err)
	}
	u := &upstream{data: map[string]string{"1": "one"}}
	got := Fetch(context.Background(), c, model.SystemShop, Orders, []string{"1"}, u.load)
	if values(got)[0] != "one" {
		t.Fatalf("got %v, want a fresh fetch after the panic", values(got))
	}
}

func TestNewRejectsBadTTL(t *testing.T) {
	if _, err := New(Config{TTL: map[Kind]time.Duration{Stock: -time.Second}}); err == nil {
		t.Fatal("negative TTL accepted")
	}
}

func BenchmarkFetchWarm(b *testing.B) {
	c, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	u := &upstream{data: map[string]string{}}
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprint(i)
		u.data[ids[i]] = "v"
	}
	Fetch(context.Background(), c, model.SystemShop, Orders, ids, u.load)
	c.store.Wait()
	b.ReportAllocs()
	for b.Loop() {
		Fetch(context.Background(), c, model.SystemShop, Orders, ids, u.load)
	}
}

func TestPut(t *testing.T) {
	c, _ := newCache(t, Config{})
	u := &upstream{data: map[string]string{}}
	epoch := c.Epoch(model.SystemShop, Orders)
	Put(c, model.SystemShop, Orders, epoch, map[string]string{"1": "listed"})
	c.store.Wait()
	if got := Fetch(context.Background(), c, model.SystemShop, Orders, []string{"1"}, u.load); values(got)[0] != "listed" || u.callCount() != 0 {
		t.Fatalf("got %v after %d calls, want the put value from the cache", values(got), u.callCount())
	}

	stale := c.Epoch(model.SystemShop, Orders)
	c.Invalidate(model.SystemShop, Orders, "2")
	Put(c, model.SystemShop, Orders, stale, map[string]string{"2": "read before the change"})
	c.store.Wait()
	u.data["2"] = "after the change"
	if got := Fetch(context.Background(), c, model.SystemShop, Orders, []string{"2"}, u.load); values(got)[0] != "after the change" {
		t.Fatalf("got %v, want a put raced by an invalidation dropped", values(got))
	}
}

func TestPeek(t *testing.T) {
	c, clk := newCache(t, Config{})
	u := &upstream{data: map[string]string{"1": "one"}}
	if _, ok, _ := Peek[string](c, model.SystemShop, Orders, "1"); ok {
		t.Fatal("peek found an id never loaded")
	}
	Fetch(context.Background(), c, model.SystemShop, Orders, []string{"1", "2"}, u.load)
	c.store.Wait()
	if v, ok, err := Peek[string](c, model.SystemShop, Orders, "1"); !ok || err != nil || v != "one" {
		t.Fatalf("peek = %q, %v, %v", v, err, ok)
	}
	if _, ok, err := Peek[string](c, model.SystemShop, Orders, "2"); !ok || !errors.Is(err, ErrNotFound) {
		t.Fatalf("peek of a not-found = %v, %v", err, ok)
	}
	clk.advance(time.Minute)
	if _, ok, _ := Peek[string](c, model.SystemShop, Orders, "1"); ok {
		t.Fatal("peek answered a stale entry")
	}
}

func TestChangeRacingAFetchIsNeverLost(t *testing.T) {
	c, _ := newCache(t, Config{})
	u := &upstream{data: map[string]string{}}
	for i := range 300 {
		id := fmt.Sprint(i)
		u.set(id, "old")
		var wg sync.WaitGroup
		wg.Go(func() { Fetch(context.Background(), c, model.SystemERP, Stock, []string{id}, u.load) })
		wg.Go(func() {
			u.set(id, "new") // the upstream changes, then says so
			c.Invalidate(model.SystemERP, Stock, id)
		})
		wg.Wait()
		c.store.Wait()
		if got := values(Fetch(context.Background(), c, model.SystemERP, Stock, []string{id}, u.load))[0]; got != "new" {
			t.Fatalf("round %d: the cache serves %q after the change", i, got)
		}
	}
}

func TestStaleIfError(t *testing.T) {
	down := errors.New("erp: unavailable")
	for _, tc := range []struct {
		name       string
		grace      time.Duration
		after      time.Duration // since the entity was read
		invalidate bool
		stale      bool
	}{
		{"within the grace", time.Minute, 5*time.Second + 30*time.Second, false, true},
		{"past the grace", time.Minute, 5*time.Second + 61*time.Second, false, false},
		{"no grace", 0, 6 * time.Second, false, false},
		{"invalidated by a change", time.Minute, 6 * time.Second, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, clk := newCache(t, Config{StaleIfError: tc.grace, TTL: map[Kind]time.Duration{Stock: 5 * time.Second}})
			u := &upstream{data: map[string]string{"1": "ten"}}
			read := clk.now()
			Fetch(context.Background(), c, model.SystemERP, Stock, []string{"1"}, u.load)
			c.store.Wait()
			if tc.invalidate {
				c.Invalidate(model.SystemERP, Stock, "1")
			}
			clk.advance(tc.after)
			u.err = down
			// Two callers at once: the one loading and one waiting on it
			// get the same answer.
			var wg sync.WaitGroup
			got := make([]Result[string], 2)
			for i := range got {
				wg.Go(func() { got[i] = Fetch(context.Background(), c, model.SystemERP, Stock, []string{"1"}, u.load)[0] })
			}
			wg.Wait()
			for _, r := range got {
				switch {
				case tc.stale && (r.Err != nil || r.Value != "ten" || !errors.Is(r.Stale, down) || !r.FetchedAt.Equal(read)):
					t.Fatalf("got %+v, want the entity read at %v, stale because of the failure", r, read)
				case !tc.stale && (!errors.Is(r.Err, down) || r.Stale != nil):
					t.Fatalf("got %+v, want the failure", r)
				}
			}
		})
	}
}

func TestCloseWithDeletionsPending(t *testing.T) {
	// Close hands the deletions still queued to the eviction callback,
	// without their values.
	for range 50 {
		c, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			c.Invalidate(model.SystemShop, Orders, strconv.Itoa(i))
		}
		c.Close()
	}
}

func TestDisabledKeepsNothingButSharesLoads(t *testing.T) {
	c, _ := newCache(t, Config{Disabled: true})
	u := &upstream{data: map[string]string{"1": "one"}, delay: 50 * time.Millisecond}
	ctx := context.Background()

	Put(c, model.SystemShop, Orders, c.Epoch(model.SystemShop, Orders), map[string]string{"1": "listed"})
	for range 2 {
		if got := Fetch(ctx, c, model.SystemShop, Orders, []string{"1", "9"}, u.load); !slices.Equal(values(got), []string{"one", "<not found>"}) {
			t.Fatalf("got %v, want the upstream's answer", values(got))
		}
		c.store.Wait()
	}
	if n := u.callCount(); n != 2 {
		t.Fatalf("%d upstream calls for two sequential fetches, want 2: nothing is kept", n)
	}

	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { Fetch(ctx, c, model.SystemShop, Orders, []string{"1"}, u.load) })
	}
	wg.Wait()
	if n := u.callCount(); n != 3 {
		t.Errorf("%d upstream calls after ten concurrent fetches, want one more: loads in flight are shared", n-2)
	}
}

func TestBytesHeldByKind(t *testing.T) {
	c, _ := newCache(t, Config{EntrySize: func(v any) int64 { return int64(100 * len(v.(string))) }})
	u := &upstream{data: map[string]string{"1": "a", "2": "bb"}}
	ctx := context.Background()
	bytes := func() int64 { c.store.Wait(); return c.Stats()[Stock].Bytes }

	Fetch(ctx, c, model.SystemERP, Stock, []string{"1", "2"}, u.load)
	if got := bytes(); got != 300 {
		t.Fatalf("%d bytes held after two entities of 100 and 200, want 300", got)
	}
	Put(c, model.SystemERP, Stock, c.Epoch(model.SystemERP, Stock), map[string]string{"2": "cccc"})
	if got := bytes(); got != 500 {
		t.Fatalf("%d bytes held after replacing the 200-byte entity with a 400-byte one, want 500", got)
	}
	c.Invalidate(model.SystemERP, Stock, "1", "2")
	if got := bytes(); got != 0 {
		t.Fatalf("%d bytes held after invalidating everything, want 0", got)
	}
	if got := c.Stats()[Orders].Bytes; got != 0 {
		t.Errorf("%d bytes counted against orders, want them by kind", got)
	}
}
