package store

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trestlehq/trestle/events"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

// syncing runs a syncer of a new store over env until the test ends, and
// waits for its first backfill.
func syncing(t *testing.T, env *simtest.Env, mods ...func(*Syncer)) (*Store, *Syncer, *events.Queue) {
	t.Helper()
	s := openTemp(t)
	q := Changes()
	y := NewSyncer(s, SyncOptions{Sources: sources(env, 0), Changes: q, Sweep: time.Hour, Logger: logger})
	y.retry = 20 * time.Millisecond
	for _, mod := range mods {
		mod(y)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { y.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	awaitState(t, y, "the first backfill", func(st Status) bool { return st.State == StateCurrent })
	return s, y, q
}

// awaitState polls the syncer's status until cond holds, for up to a
// minute.
func awaitState(t *testing.T, y *Syncer, what string, cond func(Status) bool) Status {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		st, err := y.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status still %+v", what, st)
		}
	}
}

func TestSyncerAppliesChangesOnceAndInOrder(t *testing.T) {
	env := simtest.Start(t, smallWorld)
	s, y, _ := syncing(t, env)
	w := env.Sim.World
	st, _ := y.Status(t.Context())
	if st.Watermark.IsZero() || len(st.Kinds) != 7 {
		t.Fatalf("after the backfill: %+v, want a watermark and 7 kinds", st)
	}
	checkWorld(t, s, w)

	// The shop changes an order; the change is applied by reading it again.
	w.Lock()
	o := w.Orders[10]
	o.Status, o.Modified = "refunded", o.Modified.Add(time.Hour)
	changed := events.Change{Seq: 7, System: model.SystemShop, Kind: events.KindOrder, Key: strconv.FormatInt(o.ID, 10), Op: events.OpUpdated, At: o.Modified}
	w.Unlock()
	stale := changed
	stale.Seq, stale.At = 8, changed.At.Add(-2*time.Hour) // an older change of it, late
	for range 2 {
		if err := y.Apply(t.Context(), []events.Change{changed, stale}); err != nil {
			t.Fatal(err)
		}
		if got, _ := readOrder(t, s, o.ID); got.Status != "refunded" || !got.ModifiedAt.Equal(o.Modified) {
			t.Errorf("order %d: %s modified %s, want refunded modified %s", o.ID, got.Status, got.ModifiedAt, o.Modified)
		}
	}
	st, _ = y.Status(t.Context())
	for _, k := range st.Kinds {
		if k.System == model.SystemShop && k.Kind == events.KindOrder && (k.LastChange == nil || k.LastChange.Seq != 8) {
			t.Errorf("the orders' last change %+v, want seq 8", k.LastChange)
		}
	}

	// A record its system no longer has is deleted as of the change, and a
	// read of it from before does not bring it back.
	gone := events.Change{Seq: 9, System: model.SystemShop, Kind: events.KindOrder, Key: "999999", Op: events.OpDeleted, At: o.Modified}
	if err := s.PutOrders(t.Context(), time.Now(), []model.Order{{ID: 999999, Number: "999999", Status: "pending", Currency: "EUR", ModifiedAt: o.Modified.Add(-time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if err := y.Apply(t.Context(), []events.Change{gone}); err != nil {
		t.Fatal(err)
	}
	if _, ok := readOrder(t, s, 999999); ok {
		t.Error("an order the shop no longer has is still in the store")
	}
	if err := s.PutOrders(t.Context(), time.Now(), []model.Order{{ID: 999999, Number: "999999", Status: "pending", Currency: "EUR", ModifiedAt: o.Modified.Add(-time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := readOrder(t, s, 999999); ok {
		t.Error("an older read brought a deleted order back")
	}
}

func TestSyncerStopsOnAFullDiskAndCatchesUp(t *testing.T) {
	env := simtest.Start(t, smallWorld)
	s, y, q := syncing(t, env)
	// One connection, so that the page limit below holds for every write:
	// SQLite then fails each write that needs a page more, as on a full
	// disk ("database or disk is full").
	s.db.SetMaxOpenConns(1)
	if _, err := s.db.Exec(`PRAGMA max_page_count = 1`); err != nil { // no lower than the file's size
		t.Fatal(err)
	}
	w := env.Sim.World
	long := strings.Repeat("a product of a very long name ", 200)
	now := time.Now().UTC().Truncate(time.Second) // later than anything the backfill read
	w.Lock()
	var changes []events.Change
	for i, p := range w.Products {
		p.Name, p.Modified = long+strconv.Itoa(i), now
		changes = append(changes, events.Change{Seq: uint64(100 + i), System: model.SystemShop, Kind: events.KindProduct,
			Key: strconv.FormatInt(p.ID, 10), Op: events.OpUpdated, At: p.Modified})
	}
	w.Unlock()
	for _, c := range changes {
		q.Add(c)
	}
	st := awaitState(t, y, "the write failing", func(st Status) bool { return st.State == StateFailing })
	if !strings.Contains(st.Error, "full") || st.FailedAt.IsZero() {
		t.Errorf("failing with %q at %s, want the full disk named", st.Error, st.FailedAt)
	}

	// Room again: the sweep that retries reads the products changed since
	// the watermark, and the sync is current.
	if _, err := s.db.Exec(`PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}
	awaitState(t, y, "catching up", func(st Status) bool { return st.State == StateCurrent })
	for _, c := range changes {
		id, _ := strconv.ParseInt(c.Key, 10, 64)
		if p, ok := readProduct(t, s, id); !ok || !strings.HasPrefix(p.Name, long) {
			t.Errorf("product %d not caught up: %.40q", id, p.Name)
		}
	}
	checkWorld(t, s, w)
}

// clock is a settable time for the simulators and the syncer.
type clock struct{ t atomic.Pointer[time.Time] }

func (c *clock) set(t time.Time) { c.t.Store(&t) }
func (c *clock) now() time.Time  { return *c.t.Load() }

func TestASweepReadsAgainTheInvoicesThatFellDue(t *testing.T) {
	clk := &clock{}
	clk.set(time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)) // the world's anchor day
	env := simtest.StartSim(t, sim.Options{World: smallWorld, Now: clk.now})
	s, y, _ := syncing(t, env, func(y *Syncer) { y.now = clk.now })
	w := env.Sim.World
	var inv *world.Invoice
	w.RLock()
	for _, i := range w.Invoices {
		if i.Status == "Unpaid" && i.Due.After(clk.now()) {
			inv = i
			break
		}
	}
	w.RUnlock()
	if inv == nil {
		t.Fatal("no unpaid invoice not yet due")
	}
	// The day after its due date the ERP's daily job marks it Overdue,
	// leaving its modification time: no list by it brings the change.
	clk.set(inv.Due.AddDate(0, 0, 1).Add(8 * time.Hour))
	if marked := env.Sim.RunDailyJobs(); !slices.Contains(marked, inv.Name) {
		t.Fatalf("the daily job marked %v, not %s", marked, inv.Name)
	}
	y.catchUp <- struct{}{}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if got, _ := readInvoice(t, s, inv.Name); got.Status == "Overdue" {
			break
		}
		if time.Now().After(deadline) {
			got, _ := readInvoice(t, s, inv.Name)
			t.Fatalf("invoice %s: %s in the store after the sweep, want Overdue", inv.Name, got.Status)
		}
	}
}

func TestSyncerReadsShopProductsBySKU(t *testing.T) {
	env := simtest.Start(t, smallWorld)
	s, y, _ := syncing(t, env)
	w := env.Sim.World
	w.Lock()
	p := w.Products[3]
	p.Name, p.Modified = "Renamed by the shop", p.Modified.Add(time.Hour)
	changed := events.Change{Seq: 1, System: model.SystemShop, Kind: events.KindProduct, Key: p.SKU, Op: events.OpUpdated, At: p.Modified}
	w.Unlock()
	gone := events.Change{Seq: 2, System: model.SystemShop, Kind: events.KindProduct, Key: "NO-SUCH-SKU", Op: events.OpDeleted, At: p.Modified}
	if err := y.Apply(t.Context(), []events.Change{changed, gone}); err != nil {
		t.Fatal(err)
	}
	if got, _ := readProduct(t, s, p.ID); got.Name != "Renamed by the shop" {
		t.Errorf("product %s: %q, want the shop's new name", p.SKU, got.Name)
	}
	checkWorld(t, s, w)
}

func TestSyncerReadsAShopRecordAgainAfterItsSecond(t *testing.T) {
	env := simtest.Start(t, smallWorld)
	s, _, q := syncing(t, env)
	w := env.Sim.World
	// Two states of an order within one second of the shop's clock, a few
	// seconds ahead of this one: the change path passes on the first only.
	second := time.Now().UTC().Truncate(time.Second).Add(5 * time.Second)
	w.Lock()
	o := w.Orders[7]
	o.Status, o.Modified = "on-hold", second
	w.Unlock()
	q.Add(events.Change{Seq: 1, System: model.SystemShop, Kind: events.KindOrder, Key: strconv.FormatInt(o.ID, 10), Op: events.OpUpdated, At: second})
	await := func(status string) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
			if got, _ := readOrder(t, s, o.ID); got.Status == status {
				return
			}
			if time.Now().After(deadline) {
				got, _ := readOrder(t, s, o.ID)
				t.Fatalf("order %d: %s, want %s", o.ID, got.Status, status)
			}
		}
	}
	await("on-hold")
	w.Lock()
	o.Status = "completed" // the same second: no change the path would take
	w.Unlock()
	await("completed")
}
