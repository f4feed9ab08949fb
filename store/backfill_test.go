package store

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/events"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
	"github.com/trestlehq/trestle/sources/erpnext"
	"github.com/trestlehq/trestle/sources/hubspot"
	"github.com/trestlehq/trestle/sources/woocommerce"
)

var smallWorld = world.Options{Seed: 3, Size: world.Size{People: 60, Orders: 300, Products: 20}}

// The adapters count what a backfill has to read.
var (
	_ ShopCounter = (*woocommerce.Client)(nil)
	_ CRMCounter  = (*hubspot.Client)(nil)
	_ ERPCounter  = (*erpnext.Client)(nil)
)

func sources(env *simtest.Env, page int) Sources {
	return Sources{Shop: env.Sources.Shop, CRM: env.Sources.CRM, ERP: env.Sources.ERP, Page: page}
}

func count(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRowContext(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// worldCounts are how many records of each system and kind the world
// holds, by table.
func worldCounts(w *world.World) map[string]int {
	w.RLock()
	defer w.RUnlock()
	var contacts, shop, erp, bins int
	for _, p := range w.People {
		contacts += btoi(p.CRM != nil)
		shop += btoi(p.Shop != nil)
		erp += btoi(p.ERP != nil)
	}
	for _, p := range w.Products {
		bins += len(p.Bins)
	}
	return map[string]int{"orders": len(w.Orders), "products": len(w.Products), "stock": bins, "invoices": len(w.Invoices),
		"crm_contacts": contacts, "shop_customers": shop, "erp_customers": erp}
}

// tableOf names the table of a system and kind.
func tableOf(t *testing.T, system model.System, kind Kind) string {
	t.Helper()
	for _, tb := range tables {
		if tb.system == system && tb.kind == kind {
			return tb.name
		}
	}
	t.Fatalf("no table for %s %s", system, kind)
	return ""
}

// checkWorld compares the store's rows with the simulators' world.
func checkWorld(t *testing.T, s *Store, w *world.World) {
	t.Helper()
	for table, want := range worldCounts(w) {
		if got := count(t, s, table); got != want {
			t.Errorf("%s: %d rows, want %d", table, got, want)
		}
	}
	w.RLock()
	defer w.RUnlock()
	for _, o := range []*world.Order{w.Orders[0], w.Orders[len(w.Orders)/2], w.Orders[len(w.Orders)-1]} {
		got, ok := readOrder(t, s, o.ID)
		if !ok || got.Total.Cmp(o.Total) != 0 || len(got.Lines) != len(o.Lines) {
			t.Errorf("order %d: total %s with %d lines, want %s with %d", o.ID, got.Total, len(got.Lines), o.Total, len(o.Lines))
		}
	}
	for _, inv := range []*world.Invoice{w.Invoices[0], w.Invoices[len(w.Invoices)-1]} {
		got, ok := readInvoice(t, s, inv.Name)
		if !ok || got.Total.Amount.Cmp(inv.Total) != 0 {
			t.Errorf("invoice %s: total %s, want %s", inv.Name, got.Total.Amount, inv.Total)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func news(ps []Progress) int {
	n := 0
	for _, p := range ps {
		n += p.New
	}
	return n
}

func TestBackfill(t *testing.T) {
	for _, page := range []int{0, 7} {
		t.Run("page "+strconv.Itoa(page), func(t *testing.T) {
			env := simtest.Start(t, smallWorld)
			s := openTemp(t)
			ps, err := s.Backfill(t.Context(), sources(env, page))
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 7 {
				t.Fatalf("%d kinds backfilled, want 7", len(ps))
			}
			checkWorld(t, s, env.Sim.World)
			counts := worldCounts(env.Sim.World)
			for _, p := range ps {
				m, err := s.Mark(t.Context(), p.System, p.Kind)
				if err != nil {
					t.Fatal(err)
				}
				if m.Done != int64(p.New) || !m.Watermark.Equal(p.Watermark) || p.Watermark.IsZero() {
					t.Errorf("%s %s: mark done %d at %s, progress %d at %s", p.System, p.Kind, m.Done, m.Watermark, p.New, p.Watermark)
				}
				if want := counts[tableOf(t, p.System, p.Kind)]; m.Total != int64(want) || !m.Began.IsZero() {
					t.Errorf("%s %s: total %d, running since %s; want %d, none running", p.System, p.Kind, m.Total, m.Began, want)
				}
			}

			again, err := s.Backfill(t.Context(), sources(env, page))
			if err != nil {
				t.Fatal(err)
			}
			if n := news(again); n != 0 {
				t.Errorf("a second backfill found %d new records, want none: %+v", n, again)
			}
			checkWorld(t, s, env.Sim.World)
			for _, p := range again {
				// Nothing changed since: the total stays what was read.
				m, err := s.Mark(t.Context(), p.System, p.Kind)
				if err != nil {
					t.Fatal(err)
				}
				if m.Total != m.Done {
					t.Errorf("%s %s: total %d after a backfill with nothing new, want the %d read", p.System, p.Kind, m.Total, m.Done)
				}
			}
		})
	}
}

// downAfter is an ERP that goes down after its first read of invoices.
type downAfter struct {
	ERPReader
	up *sim.Upstream
}

func (d downAfter) InvoicesModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.Invoice, error) {
	out, err := d.ERPReader.InvoicesModifiedSince(ctx, since, limit)
	d.up.SetFaults(sim.Faults{Down: true})
	return out, err
}

func TestBackfillResumesAfterUpstreamDown(t *testing.T) {
	env := simtest.Start(t, smallWorld, func(c *config.Sources) {
		c.ERP.Retry.Attempts = 1
		c.ERP.Breaker.OpenFor = time.Millisecond
	})
	s := openTemp(t)
	src := sources(env, 50)
	src.ERP = downAfter{env.Sources.ERP, env.Sim.ERP}
	ps, err := s.Backfill(t.Context(), src)
	if err == nil {
		t.Fatal("backfill with the ERP down: no error")
	}
	for _, p := range ps {
		if (p.System == model.SystemERP) != (p.Err != nil) {
			t.Errorf("%s %s: error %v", p.System, p.Kind, p.Err)
		}
	}
	before := count(t, s, "invoices")
	if before == 0 || before >= len(env.Sim.World.Invoices) {
		t.Errorf("%d invoices before the ERP went down, want a first page", before)
	}
	if n := count(t, s, "orders"); n != len(env.Sim.World.Orders) {
		t.Errorf("%d orders with the ERP down, want all %d", n, len(env.Sim.World.Orders))
	}

	env.Sim.ERP.SetFaults(sim.Faults{})
	ps, err = s.Backfill(t.Context(), sources(env, 50))
	if err != nil {
		t.Fatal(err)
	}
	checkWorld(t, s, env.Sim.World)
	for _, p := range ps {
		if p.System != model.SystemERP && p.New != 0 {
			t.Errorf("%s %s: %d new records on resuming, want none", p.System, p.Kind, p.New)
		}
		if p.Kind == events.KindInvoice && p.New != len(env.Sim.World.Invoices)-before {
			t.Errorf("invoices: %d new on resuming, want %d", p.New, len(env.Sim.World.Invoices)-before)
		}
	}
}

// countFails is an ERP whose count of invoices fails.
type countFails struct{ *erpnext.Client }

func (countFails) CountInvoicesModifiedAfter(context.Context, time.Time) (int, error) {
	return 0, errors.New("count refused")
}

func TestBackfillCountsFailingLeaveTheTotalUnknown(t *testing.T) {
	env := simtest.Start(t, smallWorld)
	s := openTemp(t)
	src := sources(env, 50)
	src.ERP = countFails{env.Sources.ERP}
	src.CRM = struct{ CRMReader }{env.Sources.CRM} // a reader that cannot count
	if _, err := s.Backfill(t.Context(), src); err != nil {
		t.Fatalf("a failed count failed the backfill: %v", err)
	}
	checkWorld(t, s, env.Sim.World)
	counts := worldCounts(env.Sim.World)
	for _, tb := range tables {
		m, err := s.Mark(t.Context(), tb.system, tb.kind)
		if err != nil {
			t.Fatal(err)
		}
		want := int64(counts[tb.name])
		if tb.name == "invoices" || tb.name == "crm_contacts" {
			want = 0
		}
		if m.Total != want {
			t.Errorf("%s: total %d, want %d", tb.name, m.Total, want)
		}
	}
}

func TestEstimate(t *testing.T) {
	began := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	now := began.Add(10 * time.Second)
	tests := []struct {
		name string
		mark Mark
		want time.Duration
	}{
		{name: "none running", mark: Mark{Done: 100, Total: 1000}},
		{name: "nothing read yet", mark: Mark{Began: began, DoneBefore: 100, Done: 100, Total: 1000}},
		{name: "no total", mark: Mark{Began: began, DoneBefore: 100, Done: 200}},
		{name: "all read", mark: Mark{Began: began, DoneBefore: 100, Done: 1000, Total: 1000}},
		{name: "more read than counted", mark: Mark{Began: began, Done: 1010, Total: 1000}},
		{name: "a tenth of the rest in 10 s", mark: Mark{Began: began, DoneBefore: 100, Done: 200, Total: 1200}, want: 100 * time.Second},
		{name: "resumed", mark: Mark{Began: began, DoneBefore: 5000, Done: 5500, Total: 6000, Checkpoint: "17\n18"}, want: 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t)
			tt.mark.System, tt.mark.Kind = model.SystemERP, events.KindInvoice
			must(t, s.SetMark(t.Context(), tt.mark))
			got, err := s.Mark(t.Context(), model.SystemERP, events.KindInvoice)
			must(t, err)
			got.UpdatedAt = time.Time{}
			if got != tt.mark {
				t.Errorf("mark read back as %+v, want %+v", got, tt.mark)
			}

			y := NewSyncer(s, SyncOptions{Changes: Changes(), Sweep: time.Hour, Logger: logger})
			y.now = func() time.Time { return now }
			st, err := y.Status(t.Context())
			must(t, err)
			for _, k := range st.Kinds {
				if k.System == model.SystemERP && k.Kind == events.KindInvoice && k.Left != tt.want {
					t.Errorf("left %s, want %s", k.Left, tt.want)
				}
			}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(y)
			mfs, err := reg.Gather()
			must(t, err)
			n := 0
			for _, mf := range mfs {
				if mf.GetName() == "trestle_store_backfill_eta_seconds" {
					n = len(mf.GetMetric())
				}
			}
			if n != btoi(tt.want > 0) {
				t.Errorf("%d estimates exported, want %d", n, btoi(tt.want > 0))
			}
		})
	}
}

// TestEstimateDuringASlowBackfill watches a backfill of a slow ERP: while
// it runs, its kinds have a total and an estimate of the time left; once
// they are read, the estimate is gone and the totals are the world's.
func TestEstimateDuringASlowBackfill(t *testing.T) {
	env := simtest.StartSim(t, sim.Options{World: smallWorld, Faults: map[model.System]sim.Faults{model.SystemERP: {LatencyMS: 20}}})
	s := openTemp(t)
	y := NewSyncer(s, SyncOptions{Sources: sources(env, 10), Changes: Changes(), Sweep: time.Hour, Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { y.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	estimated := map[string]bool{}
	st := awaitState(t, y, "the backfill", func(st Status) bool {
		for _, k := range st.Kinds {
			if k.Left > 0 {
				if k.Total <= k.Done || !k.CaughtUp.IsZero() {
					t.Errorf("%s %s: %s left with %d of %d read, caught up at %s", k.System, k.Kind, k.Left, k.Done, k.Total, k.CaughtUp)
				}
				estimated[string(k.System)+" "+string(k.Kind)] = true
			}
		}
		return st.State == StateCurrent
	})
	if !estimated["erp invoice"] {
		t.Errorf("no estimate seen while the slow ERP's invoices were read: %v", estimated)
	}
	counts := worldCounts(env.Sim.World)
	for _, k := range st.Kinds {
		if want := counts[tableOf(t, k.System, k.Kind)]; k.Left != 0 || k.Total != int64(want) || k.Done != int64(want) {
			t.Errorf("%s %s: %d of %d read, %s left; want %d of %d and none left", k.System, k.Kind, k.Done, k.Total, k.Left, want, want)
		}
	}
}
