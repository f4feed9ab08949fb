package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/app"
	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

// reportWorld is large enough for months and rankings, small enough to
// backfill in a few seconds under the race detector.
var reportWorld = world.Options{Seed: 11, Size: world.Size{People: 300, Orders: 3000, Products: 30}}

// reporting is a gateway with a store over the simulators of env, its
// first backfill done.
func reporting(t *testing.T, env *simtest.Env) *app.App {
	t.Helper()
	cfg := simulated(env)
	cfg.Store.Path = filepath.Join(t.TempDir(), "store.db")
	cfg.Auth.AnonymousRoles = config.Roles // receivables need FINANCE
	a := running(t, cfg)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		var out struct {
			Data struct{ StoreStatus struct{ Watermark *string } }
		}
		graphQL(t, a, `{ storeStatus { watermark } }`, &out)
		if out.Data.StoreStatus.Watermark != nil {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatal("the store's first backfill did not end")
		}
	}
}

// graphQL posts a query and decodes the answer into out.
func graphQL(t *testing.T, a *app.App, query string, out any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	resp, err := http.Post(a.URL()+"/query", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

type reportAnswer struct {
	Data struct {
		OrderReport struct {
			Freshness struct {
				Complete  bool
				Watermark string
			}
			Groups []struct {
				Key struct {
					Period   *struct{ Label, Start string }
					Customer *struct{ Email string }
				}
				Count int
				Sum   struct{ Total struct{ Amount string } }
			}
		}
	}
	Errors []struct{ Message string }
}

func TestRevenuePerMonthIsTheShopsInEachZone(t *testing.T) {
	env := simtest.Start(t, reportWorld)
	a := reporting(t, env)
	w := env.Sim.World
	for _, zone := range []string{"UTC", "Europe/Berlin"} {
		loc, _ := time.LoadLocation(zone)
		// Independently, from the shop's own orders.
		want := map[string]decimal.Decimal{}
		count := map[string]int{}
		w.RLock()
		for _, o := range w.Orders {
			month := o.Created.In(loc).Format("2006-01")
			want[month], _ = want[month].Add(o.Total)
			count[month]++
		}
		w.RUnlock()
		var got reportAnswer
		graphQL(t, a, `{ orderReport(groupBy: [CREATED], bucket: MONTH, timeZone: "`+zone+`", limit: 10000) {
			freshness { complete watermark } groups { key { period { label start } } count sum { total { amount } } } } }`, &got)
		r := got.Data.OrderReport
		if len(got.Errors) > 0 || !r.Freshness.Complete || r.Freshness.Watermark == "" {
			t.Fatalf("%s: errors %v, freshness %+v", zone, got.Errors, r.Freshness)
		}
		if len(r.Groups) != len(want) {
			t.Errorf("%s: %d months, want %d", zone, len(r.Groups), len(want))
		}
		for i, g := range r.Groups {
			label := g.Key.Period.Label
			if g.Count != count[label] || g.Sum.Total.Amount != want[label].String() {
				t.Errorf("%s %s: %d orders, %s; want %d, %s", zone, label, g.Count, g.Sum.Total.Amount, count[label], want[label])
			}
			start, _ := time.Parse(time.RFC3339, g.Key.Period.Start)
			if start.In(loc).Format("2006-01-02 15:04") != label+"-01 00:00" {
				t.Errorf("%s %s starts %s, want the month's first midnight there", zone, label, g.Key.Period.Start)
			}
			if i > 0 && r.Groups[i-1].Key.Period.Label >= label {
				t.Errorf("%s: %s after %s, want the months in order", zone, label, r.Groups[i-1].Key.Period.Label)
			}
		}
	}
}

// TestEachMeasureIsTheShopsOwn asks for each aggregate of a different
// amount, per status, sorted by an average it does not ask to see: a
// report measures only what it is asked for and what it sorts by.
func TestEachMeasureIsTheShopsOwn(t *testing.T) {
	env := simtest.Start(t, reportWorld)
	a := reporting(t, env)
	type measures struct {
		count              int
		sumShipping, total decimal.Decimal
		minTax, maxDisc    decimal.Decimal
	}
	want := map[model.OrderStatus]*measures{}
	w := env.Sim.World
	w.RLock()
	for _, o := range w.Orders {
		status := (&model.Order{Status: o.Status}).GraphStatus()
		m := want[status]
		if m == nil {
			m = &measures{minTax: o.Tax, maxDisc: o.Discount}
			want[status] = m
		}
		m.count++
		m.sumShipping, _ = m.sumShipping.Add(o.Shipping)
		m.total, _ = m.total.Add(o.Total)
		m.minTax, m.maxDisc = m.minTax.Min(o.Tax), m.maxDisc.Max(o.Discount)
	}
	w.RUnlock()
	avg := func(m *measures) decimal.Decimal {
		q, _ := m.total.Quo(decimal.MustNew(int64(m.count), 0))
		return q.Round(2)
	}

	var got struct {
		Data struct {
			OrderReport struct {
				Groups []struct {
					Key   struct{ Status model.OrderStatus }
					Count int
					Sum   struct{ Shipping struct{ Amount string } }
					Min   struct{ Tax struct{ Amount string } }
					Max   struct{ Discount struct{ Amount string } }
				}
			}
		}
		Errors []struct{ Message string }
	}
	graphQL(t, a, `{ orderReport(groupBy: [STATUS], orderBy: [{by: AVG_TOTAL, direction: DESC}]) {
		groups { key { status } count sum { shipping { amount } } min { tax { amount } } max { discount { amount } } } } }`, &got)
	groups := got.Data.OrderReport.Groups
	if len(got.Errors) > 0 || len(groups) != len(want) {
		t.Fatalf("%d groups, want %d; errors %v", len(groups), len(want), got.Errors)
	}
	for i, g := range groups {
		m := want[g.Key.Status]
		if m == nil {
			t.Fatalf("a group of %s, which no order has", g.Key.Status)
		}
		if g.Count != m.count || g.Sum.Shipping.Amount != m.sumShipping.String() ||
			g.Min.Tax.Amount != m.minTax.String() || g.Max.Discount.Amount != m.maxDisc.String() {
			t.Errorf("%s: %+v, want %d orders, shipping %s, least tax %s, greatest discount %s",
				g.Key.Status, g, m.count, m.sumShipping, m.minTax, m.maxDisc)
		}
		if i > 0 && avg(want[groups[i-1].Key.Status]).Cmp(avg(m)) < 0 {
			t.Errorf("%s (average %s) after %s (average %s), want the greater average first",
				g.Key.Status, avg(m), groups[i-1].Key.Status, avg(want[groups[i-1].Key.Status]))
		}
	}
}

// TestAReportOnAStoppedSyncSaysItIsStale stops the ERP after the
// backfill: the next sweep fails, and every report says that its numbers
// miss what changed since, until the sync catches up again.
func TestAReportOnAStoppedSyncSaysItIsStale(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 3, Size: world.Size{People: 20, Orders: 40, Products: 5}})
	cfg := simulated(env)
	cfg.Store.Path = filepath.Join(t.TempDir(), "store.db")
	cfg.Store.Sweep = 100 * time.Millisecond
	a := running(t, cfg)
	type answer struct {
		Data struct {
			OrderReport *struct {
				Freshness struct {
					State     string
					SyncError *string
					Watermark *string
				}
				Groups []struct{ Count int }
			}
		}
		Errors []struct {
			Message    string
			Extensions struct{ Code string }
		}
	}
	ask := func() answer {
		var got answer
		graphQL(t, a, `{ orderReport { freshness { state syncError watermark } groups { count } } }`, &got)
		if got.Data.OrderReport == nil {
			t.Fatalf("no report: %+v", got.Errors)
		}
		return got
	}
	stale := func(got answer) bool {
		return slices.ContainsFunc(got.Errors, func(e struct {
			Message    string
			Extensions struct{ Code string }
		}) bool {
			return e.Extensions.Code == "STORE_STALE" && strings.Contains(e.Message, "miss what changed since")
		})
	}
	await := func(what string, done func(answer) bool) answer {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			if got := ask(); done(got) {
				return got
			} else if time.Now().After(deadline) {
				t.Fatalf("%s: the last answer %+v", what, got)
			}
		}
	}
	await("the first backfill", func(got answer) bool { return got.Data.OrderReport.Freshness.Watermark != nil })

	env.Sim.ERP.SetFaults(sim.Faults{Down: true})
	got := await("the sync stopping", func(got answer) bool { return got.Data.OrderReport.Freshness.State == "FAILING" })
	f := got.Data.OrderReport.Freshness
	if !stale(got) || f.SyncError == nil || !strings.Contains(*f.SyncError, "erp") || len(got.Data.OrderReport.Groups) == 0 {
		t.Errorf("a report while the sync is stopped: %+v, want its numbers with a STORE_STALE error and the sync's error naming the ERP", got)
	}

	env.Sim.ERP.SetFaults(sim.Faults{})
	got = await("the sync catching up", func(got answer) bool { return got.Data.OrderReport.Freshness.State == "CURRENT" })
	if stale(got) || got.Data.OrderReport.Freshness.SyncError != nil {
		t.Errorf("a report once the sync caught up: %+v, want it whole", got)
	}
}

func TestAReportAskedWronglySaysWhy(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 3, Size: world.Size{People: 20, Orders: 40, Products: 5}})
	a := reporting(t, env)
	for query, want := range map[string]string{
		`{ orderReport(groupBy: [CREATED, PAID]) { groups { count } } }`:   "one of CREATED, PAID and COMPLETED at a time",
		`{ orderReport(groupBy: [STATUS, STATUS]) { groups { count } } }`:  "STATUS is given twice",
		`{ orderReport(timeZone: "Mars/Olympus") { groups { count } } }`:   "not an IANA time zone",
		`{ orderReport(limit: 0) { groups { count } } }`:                   "limit: between 1 and 10000",
		`{ orderReport(filter: { customer: "eA" }) { groups { count } } }`: "not a Trestle global ID",
		`{ receivablesAging(timeZone: "") { customers { invoices } } }`:    "not an IANA time zone",
		`{ orderReport(groupBy: [DAY_OF_WEEK]) { groups { count } } }`:     "DAY_OF_WEEK",
		`{ orderReport(orderBy: [{by: CUSTOMERS}]) { groups { count } } }`: "sorting by customers needs them counted",
	} {
		var got struct {
			Errors []struct {
				Message    string
				Extensions struct{ Code string }
			}
		}
		graphQL(t, a, query, &got)
		if len(got.Errors) == 0 || !strings.Contains(got.Errors[0].Message, want) || strings.HasPrefix(got.Errors[0].Message, "input:") {
			t.Errorf("%s: errors %+v, want one saying %q (and no more)", query, got.Errors, want)
		}
	}
}

func TestTopCustomersByLifetimeValueAreThePeopleWhoSpentMost(t *testing.T) {
	env := simtest.Start(t, reportWorld)
	a := reporting(t, env)
	w := env.Sim.World
	// Independently: each person's orders, by the address they are known by.
	type spend struct {
		email string
		total decimal.Decimal
	}
	byPerson := map[*world.Person]*spend{}
	w.RLock()
	for _, o := range w.Orders {
		s := byPerson[o.Person]
		if s == nil {
			s = &spend{email: o.Person.Email}
			byPerson[o.Person] = s
		}
		s.total, _ = s.total.Add(o.Total)
	}
	w.RUnlock()
	var want []*spend
	for _, s := range byPerson {
		want = append(want, s)
	}
	sort.Slice(want, func(i, j int) bool { return want[i].total.Cmp(want[j].total) > 0 })

	var got reportAnswer
	graphQL(t, a, `{ orderReport(groupBy: [CUSTOMER], orderBy: [{by: TOTAL, direction: DESC}], limit: 10) {
		groups { key { customer { email } } count sum { total { amount } } } } }`, &got)
	groups := got.Data.OrderReport.Groups
	if len(got.Errors) > 0 || len(groups) != 10 {
		t.Fatalf("errors %v, %d groups; want 10", got.Errors, len(groups))
	}
	for i, g := range groups {
		if g.Key.Customer == nil || g.Key.Customer.Email != want[i].email || g.Sum.Total.Amount != want[i].total.String() {
			t.Errorf("#%d: %+v %s, want %s %s", i+1, g.Key.Customer, g.Sum.Total.Amount, want[i].email, want[i].total)
		}
	}
}

func TestReceivablesAgingIsTheERPsOpenInvoicesByAge(t *testing.T) {
	env := simtest.Start(t, reportWorld)
	a := reporting(t, env)
	w := env.Sim.World
	// As of the day an open invoice is exactly 30 days past due: the
	// last day of its bucket.
	var asOf time.Time
	w.RLock()
	for _, inv := range w.Invoices {
		if inv.DocStatus == 1 && inv.Outstanding.IsPos() {
			asOf = inv.Due.AddDate(0, 0, 30)
			break
		}
	}
	w.RUnlock()
	// Independently: each ERP customer's open submitted invoices by days
	// past due on asOf.
	type buckets [6]decimal.Decimal // current, 1-30, 31-60, 61-90, over 90, total
	want := map[string]*buckets{}
	w.RLock()
	for _, inv := range w.Invoices {
		if inv.DocStatus != 1 || !inv.Outstanding.IsPos() {
			continue
		}
		b := want[inv.Customer.ERP.Name]
		if b == nil {
			b = &buckets{}
			want[inv.Customer.ERP.Name] = b
		}
		days := int(asOf.Sub(inv.Due).Hours() / 24)
		i := 0
		switch {
		case days > 90:
			i = 4
		case days > 60:
			i = 3
		case days > 30:
			i = 2
		case days > 0:
			i = 1
		}
		b[i], _ = b[i].Add(inv.Outstanding)
		b[5], _ = b[5].Add(inv.Outstanding)
	}
	w.RUnlock()

	var got struct {
		Data struct {
			ReceivablesAging struct {
				AsOf      string
				Customers []struct {
					Customer struct{ SourceIds struct{ Erp string } }
					Buckets  map[string]struct{ Amount string }
				}
			}
		}
		Errors []struct{ Message string }
	}
	graphQL(t, a, `{ receivablesAging(asOf: "`+asOf.Format(time.DateOnly)+`", orderBy: MOST_OVERDUE, limit: 10000) { asOf
		customers { customer { sourceIds { erp } } buckets { current { amount } days1to30 { amount } days31to60 { amount } days61to90 { amount } over90 { amount } total { amount } } } } }`, &got)
	r := got.Data.ReceivablesAging
	if len(got.Errors) > 0 || r.AsOf != asOf.Format(time.DateOnly) {
		t.Fatalf("errors %v, as of %q", got.Errors, r.AsOf)
	}
	if len(r.Customers) != len(want) || len(want) == 0 {
		t.Errorf("%d customers owe, want %d", len(r.Customers), len(want))
	}
	names := []string{"current", "days1to30", "days31to60", "days61to90", "over90", "total"}
	for i, c := range r.Customers {
		b := want[c.Customer.SourceIds.Erp]
		if b == nil {
			t.Errorf("%s owes nothing in the ERP", c.Customer.SourceIds.Erp)
			continue
		}
		for j, name := range names {
			if amount, err := decimal.Parse(c.Buckets[name].Amount); err != nil || amount.Cmp(b[j]) != 0 {
				t.Errorf("%s %s: %s, want %s", c.Customer.SourceIds.Erp, name, c.Buckets[name].Amount, b[j])
			}
		}
		if i > 0 {
			prev := want[r.Customers[i-1].Customer.SourceIds.Erp]
			if prev != nil && prev[4].Cmp(b[4]) < 0 {
				t.Errorf("%s owes more over 90 days than %s before it", c.Customer.SourceIds.Erp, r.Customers[i-1].Customer.SourceIds.Erp)
			}
		}
	}
}

func TestStockMismatchesAreTheSKUsTheShopAndERPCountOtherwise(t *testing.T) {
	env := simtest.Start(t, reportWorld)
	a := reporting(t, env)
	w := env.Sim.World
	// Independently: each managed product's shop count against the ERP's
	// available stock over its warehouses.
	want := map[string]int64{}
	w.RLock()
	for _, p := range w.Products {
		if !p.ManageStock || p.SKU == "" {
			continue
		}
		available := int64(0)
		for _, b := range p.Bins {
			v, _ := b.Actual.Sub(b.Reserved)
			n, _, _ := v.Int64(0)
			available += n
		}
		if d := int64(p.ShopStock) - available; d != 0 {
			want[p.SKU] = d
		}
	}
	w.RUnlock()
	if len(want) == 0 {
		t.Fatal("the world has no stock the shop and the ERP count otherwise")
	}
	var got struct {
		Data struct {
			StockMismatches struct {
				Count int
				Items []struct {
					Sku        string
					Difference string
					Product    struct{ Sku string }
				}
			}
		}
		Errors []struct{ Message string }
	}
	graphQL(t, a, `{ stockMismatches(limit: 10000) { count items { sku difference product { sku } } } }`, &got)
	m := got.Data.StockMismatches
	if len(got.Errors) > 0 || m.Count != len(want) || len(m.Items) != len(want) {
		t.Fatalf("errors %v, %d mismatches (%d listed), want %d", got.Errors, m.Count, len(m.Items), len(want))
	}
	for i, it := range m.Items {
		if d, _ := strconv.ParseInt(it.Difference, 10, 64); d != want[it.Sku] || it.Product.Sku != it.Sku {
			t.Errorf("%s: difference %s (product %q), want %d", it.Sku, it.Difference, it.Product.Sku, want[it.Sku])
		}
		if i > 0 {
			prev, _ := strconv.ParseInt(m.Items[i-1].Difference, 10, 64)
			cur, _ := strconv.ParseInt(it.Difference, 10, 64)
			if abs(prev) < abs(cur) {
				t.Errorf("%s (%d) listed after %s (%d): want the greatest differences first", it.Sku, cur, m.Items[i-1].Sku, prev)
			}
		}
	}
	// At least a difference of 3: fewer.
	graphQL(t, a, `{ stockMismatches(minDifference: "3") { count } }`, &got)
	least := 0
	for _, d := range want {
		if abs(d) >= 3 {
			least++
		}
	}
	if got.Data.StockMismatches.Count != least {
		t.Errorf("%d differ by 3 or more, want %d", got.Data.StockMismatches.Count, least)
	}
}

func abs(n int64) int64 { return max(n, -n) }

func TestUninvoicedOrdersAreTheCompletedOrdersNoInvoiceBills(t *testing.T) {
	env := simtest.Start(t, reportWorld)
	a := reporting(t, env)
	w := env.Sim.World
	// Independently: completed orders over a week ago without an invoice
	// that is not cancelled.
	before := time.Now().AddDate(0, 0, -7)
	w.RLock()
	billed := map[*world.Order]bool{}
	for _, inv := range w.Invoices {
		if inv.Order != nil && inv.DocStatus < 2 {
			billed[inv.Order] = true
		}
	}
	want := map[string]bool{}
	for _, o := range w.Orders {
		if o.Status == "completed" && o.Completed != nil && o.Completed.Before(before) && !billed[o] {
			want[strconv.FormatInt(o.ID, 10)] = true
		}
	}
	w.RUnlock()
	if len(want) == 0 {
		t.Fatal("the world has no completed order without an invoice")
	}
	var got struct {
		Data struct {
			UninvoicedOrders struct {
				Count int
				Items []struct {
					Number      string
					CompletedAt string
					Order       struct{ Number string }
				}
			}
		}
		Errors []struct{ Message string }
	}
	graphQL(t, a, `{ uninvoicedOrders(olderThanDays: 7, limit: 10000) { count items { number completedAt order { number } } } }`, &got)
	u := got.Data.UninvoicedOrders
	if len(got.Errors) > 0 || u.Count != len(want) || len(u.Items) != len(want) {
		t.Fatalf("errors %v, %d uninvoiced (%d listed), want %d", got.Errors, u.Count, len(u.Items), len(want))
	}
	for i, it := range u.Items {
		if !want[it.Number] || it.Order.Number != it.Number {
			t.Errorf("order %s (read live as %q) is listed, not uninvoiced", it.Number, it.Order.Number)
		}
		if i > 0 && it.CompletedAt < u.Items[i-1].CompletedAt {
			t.Errorf("order %s completed %s after %s: want the longest completed first", it.Number, it.CompletedAt, u.Items[i-1].CompletedAt)
		}
	}
}
