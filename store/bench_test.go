package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

// demoWorld is the demo's world: 2,500 people, 20,000 orders.
var demoWorld = world.Options{Seed: 1}

// BenchmarkBackfill fills a new store with the demo's world from the
// simulators at 0 ms latency (go test -run - -bench Backfill ./store).
func BenchmarkBackfill(b *testing.B) {
	env := simtest.Start(b, demoWorld)
	for b.Loop() {
		s, err := Open(b.Context(), Options{Path: filepath.Join(b.TempDir(), "store.db"), Join: consolidate.JoinByEmail, Logger: logger})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Backfill(b.Context(), sources(env, 0)); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// demoStore is a store filled with the demo's world from its simulators.
func demoStore(b *testing.B) (*Store, *simtest.Env) {
	b.Helper()
	env := simtest.Start(b, demoWorld)
	s, err := Open(b.Context(), Options{Path: filepath.Join(b.TempDir(), "store.db"), Join: consolidate.JoinByEmail, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if _, err := s.Backfill(b.Context(), sources(env, 0)); err != nil {
		b.Fatal(err)
	}
	return s, env
}

// BenchmarkEachOrder reads every order of the demo's world with its
// consolidated customer, as the export does.
func BenchmarkEachOrder(b *testing.B) {
	s, env := demoStore(b)
	for b.Loop() {
		n := 0
		if err := s.EachOrder(b.Context(), OrderQuery{}, func(*OrderRow) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if n != len(env.Sim.World.Orders) {
			b.Fatalf("%d orders, want %d", n, len(env.Sim.World.Orders))
		}
	}
}

// BenchmarkOrderReport runs the reports the budgets name over the demo
// world: revenue per month for a year in Berlin, and the top 10 customers
// by lifetime value.
func BenchmarkOrderReport(b *testing.B) {
	s, _ := demoStore(b)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, c := range []struct {
		name string
		q    OrderReportQuery
		want int
	}{
		{"revenue per month", OrderReportQuery{From: time.Date(2026, 1, 1, 0, 0, 0, 0, berlin), To: time.Date(2027, 1, 1, 0, 0, 0, 0, berlin),
			GroupBy: []OrderDimension{ByCreated}, Bucket: Month, Zone: berlin, Amounts: []string{"sum.total"}}, 10},
		{"top 10 customers", OrderReportQuery{GroupBy: []OrderDimension{ByCustomer}, OrderBy: []OrderSort{{By: "total", Desc: true}}, Limit: 10, Amounts: []string{"sum.total"}}, 10},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				gs, err := s.OrderReport(b.Context(), c.q)
				if err != nil {
					b.Fatal(err)
				}
				if len(gs) < c.want {
					b.Fatalf("%d groups, want at least %d", len(gs), c.want)
				}
			}
		})
	}
}

// BenchmarkReceivablesAging ages every customer's receivables over the
// demo world.
func BenchmarkReceivablesAging(b *testing.B) {
	s, _ := demoStore(b)
	q := AgingQuery{AsOf: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), OrderBy: "most_overdue"}
	for b.Loop() {
		if _, customers, err := s.ReceivablesAging(b.Context(), q); err != nil || len(customers) == 0 {
			b.Fatalf("%d customers, %v", len(customers), err)
		}
	}
}
