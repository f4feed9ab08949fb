package store

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/events"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

var smallWorld = world.Options{Seed: 3, Size: world.Size{People: 60, Orders: 300, Products: 20}}

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

// checkWorld compares the store's rows with the simulators' world.
func checkWorld(t *testing.T, s *Store, w *world.World) {
	t.Helper()
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
	for _, c := range []struct {
		table string
		want  int
	}{
		{"orders", len(w.Orders)}, {"products", len(w.Products)}, {"stock", bins}, {"invoices", len(w.Invoices)},
		{"crm_contacts", contacts}, {"shop_customers", shop}, {"erp_customers", erp},
	} {
		if got := count(t, s, c.table); got != c.want {
			t.Errorf("%s: %d rows, want %d", c.table, got, c.want)
		}
	}
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
			for _, p := range ps {
				m, err := s.Mark(t.Context(), p.System, p.Kind)
				if err != nil {
					t.Fatal(err)
				}
				if m.Done != int64(p.New) || !m.Watermark.Equal(p.Watermark) || p.Watermark.IsZero() {
					t.Errorf("%s %s: mark done %d at %s, progress %d at %s", p.System, p.Kind, m.Done, m.Watermark, p.New, p.Watermark)
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
