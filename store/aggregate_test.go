package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
	"github.com/trestlehq/trestle/store/pgtest"
)

// aggregateQueries are line, invoice, stock and customer reports of every
// dimension, filter and sort, run against SQLite and PostgreSQL alike.
func aggregateQueries() (lines []LineReportQuery, invoices []InvoiceReportQuery, stock []StockReportQuery, customers []CustomerReportQuery) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	york, _ := time.LoadLocation("America/New_York")
	top := []OrderSort{{By: "total", Desc: true}}
	lines = []LineReportQuery{
		{ReportShape: ReportShape{GroupBy: []Dimension{ByProduct}, OrderBy: top, Limit: 10, Amounts: []string{"max.quantity"}}},
		{ReportShape: ReportShape{GroupBy: []Dimension{ByProduct}, OrderBy: []OrderSort{{By: "orders", Desc: true}}, Limit: 10}},
		{ReportShape: ReportShape{GroupBy: []Dimension{ByCreated}, Bucket: Month, Zone: berlin}},
		{ReportShape: ReportShape{GroupBy: []Dimension{ByPaid, ByStatus}, Bucket: Week, Zone: york, OrderBy: []OrderSort{{By: "avg_quantity", Desc: true}}}},
		{ReportShape: ReportShape{GroupBy: []Dimension{ByCustomer, ByLifecycleStage}, OrderBy: []OrderSort{{By: "customers", Desc: true}, {By: "avg_total"}}, Limit: 20}, Customers: true},
		{ReportShape: ReportShape{GroupBy: []Dimension{ByOwner, ByProduct}}, Statuses: []string{"completed"}, SKUs: []string{"TD-10001", "TD-10002"}},
		{ReportShape: ReportShape{}, From: time.Date(2026, 1, 1, 0, 0, 0, 0, berlin), Customers: true},
	}
	invoices = []InvoiceReportQuery{
		{ReportShape: ReportShape{GroupBy: []Dimension{ByStatus}, OrderBy: []OrderSort{{By: "outstanding", Desc: true}}}},
		{ReportShape: ReportShape{GroupBy: []Dimension{ByIssued}, Bucket: Quarter, Zone: york}},
		{ReportShape: ReportShape{GroupBy: []Dimension{ByDue, ByCustomer}, Bucket: Month, OrderBy: []OrderSort{{By: "avg_outstanding", Desc: true}}, Limit: 30}, InvoiceFilter: InvoiceFilter{OpenOnly: true}},
		{ReportShape: ReportShape{GroupBy: []Dimension{ByLifecycleStage, ByOwner}}, InvoiceFilter: InvoiceFilter{Statuses: []string{"Paid", "Overdue"}}},
	}
	stock = []StockReportQuery{
		{ReportShape: ReportShape{GroupBy: []Dimension{ByWarehouse}}},
		{ReportShape: ReportShape{GroupBy: []Dimension{ByProduct}, OrderBy: []OrderSort{{By: "available", Desc: true}}, Limit: 5}},
		{ReportShape: ReportShape{GroupBy: []Dimension{ByWarehouse, ByProduct}}, SKUs: []string{"TD-10003"}},
		{},
	}
	customers = []CustomerReportQuery{
		{ReportShape: ReportShape{GroupBy: []Dimension{ByLifecycleStage}}},
		{ReportShape: ReportShape{GroupBy: []Dimension{BySystems, ByOwner}, OrderBy: []OrderSort{{By: "lifetime_value", Desc: true}}}},
		{ReportShape: ReportShape{GroupBy: []Dimension{ByCreated}, Bucket: Year, Zone: berlin, OrderBy: []OrderSort{{By: "avg_lifetime_value"}}}, KnownTo: model.SystemShop},
	}
	return lines, invoices, stock, customers
}

// sameReports runs the reports against both stores and compares.
func sameReports(t *testing.T, want, got *Store) {
	t.Helper()
	lines, invoices, stock, customers := aggregateQueries()
	compare(t, "line report", want.LineReport, got.LineReport, lines)
	compare(t, "invoice report", want.InvoiceReport, got.InvoiceReport, invoices)
	compare(t, "stock report", want.StockReport, got.StockReport, stock)
	compare(t, "customer report", want.CustomerReport, got.CustomerReport, customers)
}

func compare[Q, G any](t *testing.T, name string, want, got func(context.Context, Q) ([]G, error), qs []Q) {
	t.Helper()
	for _, q := range qs {
		w, err := want(t.Context(), q)
		if err != nil {
			t.Fatalf("%s %+v: %v", name, q, err)
		}
		g, err := got(t.Context(), q)
		if err != nil {
			t.Fatalf("%s %+v: %v", name, q, err)
		}
		if len(g) != len(w) || len(w) == 0 {
			t.Errorf("%s %+v: PostgreSQL gives %d groups, SQLite %d", name, q, len(g), len(w))
			continue
		}
		for i := range w {
			if !reflect.DeepEqual(g[i], w[i]) {
				t.Errorf("%s %+v: group %d of PostgreSQL's\n%+v\nis SQLite's\n%+v", name, q, i, g[i], w[i])
				break
			}
		}
	}
}

func TestPostgresAnswersTheAggregatesAsSQLiteDoes(t *testing.T) {
	srv := pgtest.Start(t)
	env := simtest.Start(t, smallWorld)
	pg := openPostgres(t, srv.Database(t, "aggregates"))
	lite := openTemp(t)
	for _, s := range []*Store{pg, lite} {
		if _, err := s.Backfill(t.Context(), sources(env, 0)); err != nil {
			t.Fatal(err)
		}
	}
	sameReports(t, lite, pg)
	// The order reports too, as the gateway asks them: measuring some
	// amounts, sorted by an average.
	compare(t, "order report", lite.OrderReport, pg.OrderReport, []OrderReportQuery{
		{GroupBy: []OrderDimension{ByStatus}, Amounts: []string{"sum.total", "max.tax"}},
		{GroupBy: []OrderDimension{ByCustomer}, OrderBy: []OrderSort{{By: "avg_total", Desc: true}}, Amounts: []string{}, Limit: 10},
		// Every customer by key: addresses with dots, @ and umlauts, which
		// a collation by language orders otherwise than bytes.
		{GroupBy: []OrderDimension{ByCustomer, ByStatus}, Amounts: []string{"sum.total"}},
	})
}

// TestInvoiceDatesAreGroupedAsDates: an invoice's dates are days, grouped
// by the calendar whatever the zone; the zone places the periods.
func TestInvoiceDatesAreGroupedAsDates(t *testing.T) {
	env := simtest.Start(t, smallWorld)
	s := openTemp(t)
	if _, err := s.Backfill(t.Context(), sources(env, 0)); err != nil {
		t.Fatal(err)
	}
	w := env.Sim.World
	want := map[string]int64{}
	w.RLock()
	for _, inv := range w.Invoices {
		want[inv.Posting.Format("2006-01")]++
	}
	w.RUnlock()
	for _, zone := range []string{"UTC", "America/New_York", "Pacific/Kiritimati"} {
		loc, _ := time.LoadLocation(zone)
		groups, err := s.InvoiceReport(t.Context(), InvoiceReportQuery{ReportShape: ReportShape{GroupBy: []Dimension{ByIssued}, Bucket: Month, Zone: loc}})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, g := range groups {
			got[g.Period.Label] += g.Count
			if start := g.Period.Start.In(loc); start.Format("2006-01-02 15:04") != g.Period.Label+"-01 00:00" {
				t.Errorf("%s %s starts %s, want the month's first midnight there", zone, g.Period.Label, start)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: invoices per month of issue %v, want %v", zone, got, want)
		}
	}
}

// TestCustomerReportIsTheWorldsPeople: every person of the world is one
// consolidated customer; grouped by the systems that know them and when
// they were first known, with what they bought.
func TestCustomerReportIsTheWorldsPeople(t *testing.T) {
	env := simtest.Start(t, smallWorld)
	s := openTemp(t)
	if _, err := s.Backfill(t.Context(), sources(env, 0)); err != nil {
		t.Fatal(err)
	}
	type key struct {
		systems string
		year    string
	}
	type want struct {
		count, buyers int64
		value         decimal.Decimal
	}
	w := env.Sim.World
	wants := map[key]*want{}
	w.RLock()
	spent := map[*world.Person]decimal.Decimal{}
	bought := map[*world.Person]bool{}
	for _, o := range w.Orders {
		if o.Status == "processing" || o.Status == "completed" {
			spent[o.Person], _ = spent[o.Person].Add(o.Total)
			bought[o.Person] = true
		}
	}
	for _, p := range w.People {
		var systems string
		first := time.Time{}
		for _, r := range []struct {
			name    string
			known   bool
			created func() time.Time
		}{
			{"crm", p.CRM != nil, func() time.Time { return p.CRM.Created }},
			{"shop", p.Shop != nil, func() time.Time { return p.Shop.Created }},
			{"erp", p.ERP != nil, func() time.Time { return p.ERP.Created }},
		} {
			if !r.known {
				continue
			}
			systems += r.name + " "
			if c := r.created(); first.IsZero() || c.Before(first) {
				first = c
			}
		}
		k := key{systems, first.UTC().Format("2006")}
		if wants[k] == nil {
			wants[k] = &want{}
		}
		wants[k].count++
		if bought[p] {
			wants[k].buyers++
			wants[k].value, _ = wants[k].value.Add(spent[p])
		}
	}
	w.RUnlock()
	groups, err := s.CustomerReport(t.Context(), CustomerReportQuery{ReportShape: ReportShape{GroupBy: []Dimension{BySystems, ByCreated}, Bucket: Year}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[key]*want{}
	for _, g := range groups {
		var systems string
		for _, sys := range g.Systems {
			systems += string(sys) + " "
		}
		k := key{systems, g.Period.Label}
		if got[k] == nil {
			got[k] = &want{}
		}
		if g.Currency == "" {
			got[k].count += g.Count
			continue
		}
		got[k].count += g.Count
		got[k].buyers += g.Count
		got[k].value, _ = got[k].value.Add(*g.Sum)
		if avg, _ := g.Sum.Quo(decimal.MustNew(g.Count, 0)); avg.Round(2).Cmp(*g.Avg) != 0 || g.Min.Cmp(*g.Max) > 0 {
			t.Errorf("%v: sum %s of %d, avg %s, min %s, max %s", k, g.Sum, g.Count, g.Avg, g.Min, g.Max)
		}
	}
	if len(got) != len(wants) {
		t.Errorf("%d groups, want %d", len(got), len(wants))
	}
	for k, w := range wants {
		if g := got[k]; g == nil || g.count != w.count || g.buyers != w.buyers || g.value.Cmp(w.value) != 0 {
			t.Errorf("%v: %+v, want %+v", k, g, w)
		}
	}
	// Known to the shop: the people with an account.
	shop, err := s.CustomerReport(t.Context(), CustomerReportQuery{KnownTo: model.SystemShop})
	if err != nil {
		t.Fatal(err)
	}
	var n, accounts int64
	for _, g := range shop {
		n += g.Count
	}
	w.RLock()
	for _, p := range w.People {
		if p.Shop != nil {
			accounts++
		}
	}
	w.RUnlock()
	if n != accounts {
		t.Errorf("%d customers known to the shop, want %d", n, accounts)
	}
}

func TestAggregatesAskedWronglyAreRefused(t *testing.T) {
	s := openTemp(t)
	for name, run := range map[string]func() error{
		"a dimension of another report": func() error {
			_, err := s.StockReport(t.Context(), StockReportQuery{ReportShape: ReportShape{GroupBy: []Dimension{ByStatus}}})
			return err
		},
		"a dimension twice": func() error {
			_, err := s.LineReport(t.Context(), LineReportQuery{ReportShape: ReportShape{GroupBy: []Dimension{ByProduct, ByProduct}}})
			return err
		},
		"two times": func() error {
			_, err := s.InvoiceReport(t.Context(), InvoiceReportQuery{ReportShape: ReportShape{GroupBy: []Dimension{ByIssued, ByDue}}})
			return err
		},
		"a measure of another report": func() error {
			_, err := s.CustomerReport(t.Context(), CustomerReportQuery{ReportShape: ReportShape{OrderBy: []OrderSort{{By: "outstanding"}}}})
			return err
		},
	} {
		if err := run(); !errors.Is(err, ErrReport) {
			t.Errorf("%s: %v, want ErrReport", name, err)
		}
	}
}
