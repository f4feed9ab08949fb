package loaders_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/trestlehq/trestle/cache"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/loaders"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
	"github.com/trestlehq/trestle/sources/woocommerce"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func setup(t *testing.T) (*simtest.Env, *loaders.Factory, *cache.Entities) {
	t.Helper()
	env := simtest.Start(t, world.Options{Seed: 11, Size: world.Size{People: 80, Orders: 300, Products: 40}})
	entities, err := cache.New(cache.Config{MaxBytes: 16 << 20, EntrySize: loaders.EntrySize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(entities.Close)
	return env, loaders.NewFactory(env.Sources.Shop, env.Sources.CRM, env.Sources.ERP, entities, 5*time.Millisecond), entities
}

func TestLoadsWithinTheWindowShareOneCall(t *testing.T) {
	env, f, entities := setup(t)
	w := env.Sim.World
	l := f.New()
	ctx := context.Background()
	skus := []string{w.Products[5].SKU, "NO-SUCH-SKU", w.Products[1].SKU, w.Products[9].SKU}
	env.Sim.Shop.ResetCounters()

	type result struct {
		name string
		err  error
	}
	results := make([]result, len(skus))
	var wg sync.WaitGroup
	for i, sku := range skus {
		wg.Go(func() {
			p, err := l.Product.Load(ctx, sku)()
			if p != nil {
				results[i].name = p.Name
			}
			results[i].err = err
		})
	}
	wg.Wait()
	for i, sku := range skus {
		want := w.ProductBySKU(sku)
		switch {
		case want == nil && !errors.Is(results[i].err, loaders.ErrNotFound):
			t.Errorf("%s: err %v, want not found", sku, results[i].err)
		case want != nil && (results[i].err != nil || results[i].name != want.Name):
			t.Errorf("%s: %q, %v, want %q", sku, results[i].name, results[i].err, want.Name)
		}
	}
	if n := env.Sim.Shop.Routes()["GET /wp-json/wc/v3/products"]; n != 1 {
		t.Errorf("%d product calls, want one batch", n)
	}

	// A later operation finds them in the entity cache, without a call and
	// without waiting out a batch window: loaders whose window is a minute
	// answer at once.
	time.Sleep(10 * time.Millisecond) // the cache applies writes asynchronously
	env.Sim.Shop.ResetCounters()
	slow := loaders.NewFactory(env.Sources.Shop, env.Sources.CRM, env.Sources.ERP, entities, time.Minute)
	start := time.Now()
	if _, err := slow.New().Product.Load(ctx, skus[0])(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("a cached key took %v: it waited out the minute's batch window", d)
	}
	if _, err := slow.New().Product.Load(ctx, "NO-SUCH-SKU")(); !errors.Is(err, loaders.ErrNotFound) {
		t.Errorf("a remembered not-found gave %v", err)
	}
	if n := env.Sim.Shop.Requests(); n != 0 {
		t.Errorf("%d calls for cached keys", n)
	}
}

func TestPrefetchHoldsTheWholeLevel(t *testing.T) {
	env, f, _ := setup(t)
	w := env.Sim.World
	l := f.New()
	ctx := context.Background()
	var ids []int64
	for _, o := range w.Orders[:150] {
		ids = append(ids, o.ID)
	}
	env.Sim.ERP.ResetCounters()
	l.OrderInvoices.Prefetch(ctx, append(ids, ids[:10]...))
	for _, o := range w.Orders[:150] {
		invs, err := l.OrderInvoices.Load(ctx, o.ID)()
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, inv := range w.Invoices {
			if inv.Order == o {
				want++
			}
		}
		if len(invs) != want {
			t.Fatalf("order %d: %d invoices, want %d", o.ID, len(invs), want)
		}
	}
	// 150 orders: two calls of at most 100 keys, and none from the loads.
	if n := env.Sim.ERP.Routes()["GET /api/resource/Sales Invoice"]; n != 2 {
		t.Errorf("%d invoice calls, want 2", n)
	}
}

func TestListPagesAreCachedUntilAChange(t *testing.T) {
	env, f, entities := setup(t)
	ctx := context.Background()
	q := woocommerce.OrderQuery{PerPage: 10, Page: 2}
	first, err := f.New().ListOrders(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Orders) != 10 || first.Total != len(env.Sim.World.Orders) {
		t.Fatalf("page of %d of %d", len(first.Orders), first.Total)
	}
	time.Sleep(10 * time.Millisecond)
	env.Sim.Shop.ResetCounters()
	again, err := f.New().ListOrders(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if n := env.Sim.Shop.Requests(); n != 0 || again.Orders[0].ID != first.Orders[0].ID {
		t.Fatalf("%d calls for a cached page", n)
	}
	entities.Invalidate("shop", cache.Orders, "1")
	if _, err := f.New().ListOrders(ctx, q); err != nil {
		t.Fatal(err)
	}
	if n := env.Sim.Shop.Routes()["GET /wp-json/wc/v3/orders"]; n != 1 {
		t.Errorf("%d list calls after an order changed, want the page read again", n)
	}
}

func TestEntrySizeGrowsWithTheValue(t *testing.T) {
	small := loaders.EntrySize(&model.Order{Lines: make([]model.OrderLine, 1)})
	large := loaders.EntrySize(&model.Order{Lines: make([]model.OrderLine, 5)})
	if small <= 0 || large <= small {
		t.Errorf("orders of 1 and 5 lines: %d and %d bytes", small, large)
	}
	if loaders.EntrySize([]model.Invoice{{}, {}, {}}) <= loaders.EntrySize([]model.Invoice{{}}) {
		t.Error("three invoices count no more than one")
	}
}

func TestStaleReadsAreNamedAndChangeLoadersRefuseThem(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 11, Size: world.Size{People: 20, Orders: 40, Products: 10}})
	entities, err := cache.New(cache.Config{MaxBytes: 16 << 20, EntrySize: loaders.EntrySize,
		TTL: map[cache.Kind]time.Duration{cache.Stock: 50 * time.Millisecond}, StaleIfError: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(entities.Close)
	f := loaders.NewFactory(env.Sources.Shop, env.Sources.CRM, env.Sources.ERP, entities, time.Millisecond)
	sku := env.Sim.World.Products[0].SKU
	ctx := context.Background()
	if _, err := f.New().Stock.Load(ctx, sku)(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // past the stock's TTL
	env.Sim.ERP.SetFaults(sim.Faults{Down: true})

	l := f.New()
	levels, err := l.Stock.Load(ctx, sku)()
	if err != nil || len(levels) == 0 {
		t.Fatalf("got %v, %v; want the levels as last read", levels, err)
	}
	stale := l.Stale()
	if len(stale) != 1 || stale[0].Source != model.SystemERP || stale[0].Kind != cache.Stock || stale[0].Key != sku ||
		!strings.Contains(stale[0].Cause, "unavailable") {
		t.Fatalf("stale reads %+v, want the SKU's stock from the ERP, with the failure", stale)
	}

	if _, err := f.NewFresh().Stock.Load(ctx, sku)(); err == nil {
		t.Fatal("a change's loaders served a stale entity")
	}
	if l := f.New(); l.Stale() != nil {
		t.Fatalf("fresh loaders report %+v", l.Stale())
	}
}
