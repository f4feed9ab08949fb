package events_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/events"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

// recorder counts the changes that reach it, by record.
type recorder struct {
	mu  sync.Mutex
	got map[string]int
}

func (r *recorder) sink(_ context.Context, cs []events.Change) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		r.got[string(c.System)+"/"+string(c.Kind)+"/"+c.Key]++
	}
	return nil
}

func (r *recorder) count(record string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[record]
}

// waitFor waits until each record has arrived, or fails.
func (r *recorder) waitFor(t *testing.T, records ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, rec := range records {
		for r.count(rec) == 0 {
			if time.Now().After(deadline) {
				r.mu.Lock()
				defer r.mu.Unlock()
				t.Fatalf("%s was not polled; got %d other records", rec, len(r.got))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestPollersReadEachChangeOnce(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 3, Size: world.Size{People: 40, Orders: 80, Products: 10}})
	w := env.Sim.World
	rec := &recorder{got: map[string]int{}}
	dedupe := events.NewDedupe(1000)
	sink := dedupe.Sink(rec.sink)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	poll := config.Poll{Every: 20 * time.Millisecond, Overlap: 5 * time.Second}
	for _, feeds := range [][]events.Feed{events.ShopFeeds(env.Sources.Shop), events.CRMFeeds(env.Sources.CRM), events.ERPFeeds(env.Sources.ERP)} {
		wg.Go(func() { events.RunPoller(ctx, feeds, poll, sink, quiet) })
	}
	time.Sleep(50 * time.Millisecond) // the pollers have read once: what changed before is not reported

	// One change in each feed, as the systems' users make them.
	now := time.Now().UTC()
	w.Lock()
	order, hooked := w.Orders[0], w.Orders[1]
	order.Status, order.Modified = "completed", now
	hooked.Status, hooked.Modified = "completed", now
	product := w.Products[0]
	product.ShopStock, product.Modified = 3, now
	bin := w.Products[1].Bins[0]
	bin.Modified = now
	inv := w.Invoices[0]
	inv.Status, inv.Modified = "Paid", now
	var contact, erpCustomer *world.Person
	for _, p := range w.People {
		if contact == nil && p.CRM != nil {
			contact = p
			p.CRM.LifecycleStage, p.CRM.Modified = "customer", now
		} else if erpCustomer == nil && p.ERP != nil {
			erpCustomer = p
			p.ERP.Modified = now
		}
	}
	w.Unlock()
	// The shop also sent the second order's webhook, which came first.
	webhook := events.Change{System: model.SystemShop, Kind: events.KindOrder, Key: strconv.FormatInt(hooked.ID, 10),
		Op: events.OpUpdated, At: now.Truncate(time.Second)}
	if err := sink(ctx, []events.Change{webhook}); err != nil {
		t.Fatal(err)
	}

	records := []string{
		"shop/order/" + strconv.FormatInt(order.ID, 10),
		"shop/order/" + strconv.FormatInt(hooked.ID, 10),
		"shop/product/" + product.SKU,
		"erp/stock/" + bin.SKU,
		"erp/invoice/" + inv.Name,
		"crm/customer/" + contact.CRM.ID,
		"erp/customer/" + erpCustomer.ERP.Name,
	}
	rec.waitFor(t, records...)

	// A record the upstream stamps seconds before the newest one read (its
	// clock or a late commit) is still read, within the overlap.
	w.Lock()
	late := w.Orders[2]
	late.Status, late.Modified = "cancelled", now.Add(-3*time.Second)
	w.Unlock()
	lateRecord := "shop/order/" + strconv.FormatInt(late.ID, 10)
	rec.waitFor(t, lateRecord)

	time.Sleep(200 * time.Millisecond) // several more polls over the overlap
	for _, r := range append(records, lateRecord) {
		if n := rec.count(r); n != 1 {
			t.Errorf("%s reported %d times, want once", r, n)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.got) != len(records)+1 {
		t.Errorf("reported %v, want only the records changed", rec.got)
	}
}

// bulkFeed is a feed over fixed changes, read oldest first from since.
type bulkFeed struct {
	mu      sync.Mutex
	changes []events.Change
	reads   int
}

func (b *bulkFeed) feed() events.Feed {
	return events.Feed{Name: "bulk", Read: func(_ context.Context, since time.Time, limit int) ([]events.Change, error) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.reads++
		var out []events.Change
		for _, c := range b.changes {
			if !c.At.Before(since) && len(out) < limit {
				out = append(out, c)
			}
		}
		return out, nil
	}}
}

func TestPollerGetsPastABulkUpdate(t *testing.T) {
	for _, tc := range []struct {
		name string
		bulk int // changes at one instant
		lost bool
	}{
		{"more than one read takes", 1200, false},
		{"more than the largest read takes", 9000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := time.Now().UTC()
			after := at.Add(7 * time.Second) // past the bulk and the 5 s overlap
			b := &bulkFeed{}
			for i := range tc.bulk {
				b.changes = append(b.changes, events.Change{System: model.SystemCRM, Kind: events.KindCustomer, Key: strconv.Itoa(i), At: at})
			}
			b.changes = append(b.changes, events.Change{System: model.SystemCRM, Kind: events.KindCustomer, Key: "later", At: after})
			rec := &recorder{got: map[string]int{}}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() {
				events.RunPoller(ctx, []events.Feed{b.feed()}, config.Poll{Every: 10 * time.Millisecond, Overlap: 5 * time.Second}, rec.sink,
					slog.New(slog.NewTextHandler(io.Discard, nil)))
			})
			rec.waitFor(t, "crm/customer/later")
			cancel()
			wg.Wait()
			if first := rec.count("crm/customer/0"); first == 0 {
				t.Errorf("the bulk's first change was never read")
			}
			if last := rec.count("crm/customer/" + strconv.Itoa(tc.bulk-1)); (last == 0) != tc.lost {
				t.Errorf("the bulk's last change read %d times; want it read: %t", last, !tc.lost)
			}
		})
	}
}
