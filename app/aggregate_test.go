package app_test

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

// sentAmount is a Money as the graph sends it.
type sentAmount struct{ Amount string }

// sameDecimal reports whether a sent decimal is d.
func sameDecimal(sent string, d decimal.Decimal) bool {
	v, err := decimal.Parse(sent)
	return err == nil && v.Cmp(d) == 0
}

func plus(a, b decimal.Decimal) decimal.Decimal { s, _ := a.Add(b); return s }

// TestAggregatesAreTheWorldsOwnNumbers asks the line, invoice, stock and
// customer reports what a BI user asks first, and compares each with what
// the simulators' world holds, counted here independently.
func TestAggregatesAreTheWorldsOwnNumbers(t *testing.T) {
	env := simtest.Start(t, reportWorld)
	a := reporting(t, env)
	w := env.Sim.World

	t.Run("top 10 products by line revenue", func(t *testing.T) {
		type product struct {
			sku, name    string
			lines        int
			orders       map[int64]bool
			revenue, tax decimal.Decimal
		}
		bySKU := map[string]*product{}
		w.RLock()
		for _, o := range w.Orders {
			for _, l := range o.Lines {
				p := bySKU[l.Product.SKU]
				if p == nil {
					p = &product{sku: l.Product.SKU, name: l.Product.Name, orders: map[int64]bool{}}
					bySKU[p.sku] = p
				}
				p.lines++
				p.orders[o.ID] = true
				p.revenue, p.tax = plus(p.revenue, l.Total), plus(p.tax, l.Tax)
			}
		}
		w.RUnlock()
		var want []*product
		for _, p := range bySKU {
			want = append(want, p)
		}
		sort.Slice(want, func(i, j int) bool {
			if c := want[i].revenue.Cmp(want[j].revenue); c != 0 {
				return c > 0
			}
			return want[i].sku < want[j].sku
		})
		var got struct {
			Data struct {
				LineReport struct {
					Groups []struct {
						Key struct {
							Sku, Name string
							Product   struct{ Sku string }
						}
						Count, Orders int
						Sum           struct{ Total, Tax sentAmount }
					}
				}
			}
			Errors []struct{ Message string }
		}
		graphQL(t, a, `{ lineReport(groupBy: [PRODUCT], orderBy: [{by: TOTAL, direction: DESC}], limit: 10) {
			groups { key { sku name product { sku } } count orders sum { total { amount } tax { amount } } } } }`, &got)
		groups := got.Data.LineReport.Groups
		if len(got.Errors) > 0 || len(groups) != 10 {
			t.Fatalf("errors %v, %d groups; want 10", got.Errors, len(groups))
		}
		for i, g := range groups {
			p := want[i]
			if g.Key.Sku != p.sku || g.Key.Name != p.name || g.Key.Product.Sku != p.sku || g.Count != p.lines || g.Orders != len(p.orders) ||
				!sameDecimal(g.Sum.Total.Amount, p.revenue) || !sameDecimal(g.Sum.Tax.Amount, p.tax) {
				t.Errorf("#%d: %+v; want %s %q (read live as itself), %d lines of %d orders, %s, tax %s",
					i+1, g, p.sku, p.name, p.lines, len(p.orders), p.revenue, p.tax)
			}
		}
	})

	t.Run("quantity per month in Europe/Berlin", func(t *testing.T) {
		berlin, _ := time.LoadLocation("Europe/Berlin")
		type month struct {
			lines       int64
			quantity    int64
			least, most int64
			revenue     decimal.Decimal
		}
		want := map[string]*month{}
		w.RLock()
		for _, o := range w.Orders {
			label := o.Created.In(berlin).Format("2006-01")
			m := want[label]
			if m == nil {
				m = &month{least: 1 << 62}
				want[label] = m
			}
			for _, l := range o.Lines {
				q := int64(l.Quantity)
				m.lines++
				m.quantity += q
				m.least, m.most = min(m.least, q), max(m.most, q)
				m.revenue = plus(m.revenue, l.Total)
			}
		}
		w.RUnlock()
		var got struct {
			Data struct {
				LineReport struct {
					Groups []struct {
						Key struct {
							Period struct{ Label, Start string }
						}
						Count int
						Sum   struct {
							Quantity string
							Total    sentAmount
						}
						Avg, Min, Max struct{ Quantity string }
					}
				}
			}
			Errors []struct{ Message string }
		}
		graphQL(t, a, `{ lineReport(groupBy: [CREATED], bucket: MONTH, timeZone: "Europe/Berlin", limit: 10000) {
			groups { key { period { label start } } count sum { quantity total { amount } } avg { quantity } min { quantity } max { quantity } } } }`, &got)
		groups := got.Data.LineReport.Groups
		if len(got.Errors) > 0 || len(groups) != len(want) {
			t.Fatalf("errors %v, %d months, want %d", got.Errors, len(groups), len(want))
		}
		for i, g := range groups {
			label := g.Key.Period.Label
			m := want[label]
			if m == nil {
				t.Errorf("%s: no order was created then", label)
				continue
			}
			avg, _ := decimal.MustNew(m.quantity, 0).Quo(decimal.MustNew(m.lines, 0))
			if g.Count != int(m.lines) || !sameDecimal(g.Sum.Quantity, decimal.MustNew(m.quantity, 0)) || !sameDecimal(g.Sum.Total.Amount, m.revenue) ||
				!sameDecimal(g.Avg.Quantity, avg.Round(2)) || !sameDecimal(g.Min.Quantity, decimal.MustNew(m.least, 0)) || !sameDecimal(g.Max.Quantity, decimal.MustNew(m.most, 0)) {
				t.Errorf("%s: %+v; want %d lines, quantity %d (avg %s, %d to %d), %s", label, g, m.lines, m.quantity, avg.Round(2), m.least, m.most, m.revenue)
			}
			start, _ := time.Parse(time.RFC3339, g.Key.Period.Start)
			if start.In(berlin).Format("2006-01-02 15:04") != label+"-01 00:00" {
				t.Errorf("%s starts %s, want the month's first midnight in Berlin", label, g.Key.Period.Start)
			}
			if i > 0 && groups[i-1].Key.Period.Label >= label {
				t.Errorf("%s after %s: want the months in order", label, groups[i-1].Key.Period.Label)
			}
		}
	})

	t.Run("invoices outstanding by status", func(t *testing.T) {
		type status struct {
			count              int
			total, outstanding decimal.Decimal
		}
		want := map[string]*status{}
		w.RLock()
		for _, inv := range w.Invoices {
			name := strings.ToUpper(strings.ReplaceAll(inv.Status, " ", "_"))
			s := want[name]
			if s == nil {
				s = &status{}
				want[name] = s
			}
			s.count++
			s.total, s.outstanding = plus(s.total, inv.Total), plus(s.outstanding, inv.Outstanding)
		}
		w.RUnlock()
		var got struct {
			Data struct {
				InvoiceReport struct {
					Groups []struct {
						Key   struct{ Status string }
						Count int
						Sum   struct{ Total, Outstanding sentAmount }
					}
				}
			}
			Errors []struct{ Message string }
		}
		graphQL(t, a, `{ invoiceReport(groupBy: [STATUS], orderBy: [{by: OUTSTANDING, direction: DESC}]) {
			groups { key { status } count sum { total { amount } outstanding { amount } } } } }`, &got)
		groups := got.Data.InvoiceReport.Groups
		if len(got.Errors) > 0 || len(groups) != len(want) || len(want) < 3 {
			t.Fatalf("errors %v, %d statuses, want %d", got.Errors, len(groups), len(want))
		}
		for i, g := range groups {
			s := want[g.Key.Status]
			if s == nil || g.Count != s.count || !sameDecimal(g.Sum.Total.Amount, s.total) || !sameDecimal(g.Sum.Outstanding.Amount, s.outstanding) {
				t.Errorf("%s: %+v, want %+v", g.Key.Status, g, s)
				continue
			}
			if i > 0 && want[groups[i-1].Key.Status].outstanding.Cmp(s.outstanding) < 0 {
				t.Errorf("%s owes more than %s before it", g.Key.Status, groups[i-1].Key.Status)
			}
		}
	})

	t.Run("stock per warehouse", func(t *testing.T) {
		type warehouse struct {
			rows                        int
			skus                        map[string]bool
			onHand, reserved, available decimal.Decimal
			least, most                 decimal.Decimal
		}
		want := map[string]*warehouse{}
		w.RLock()
		for _, p := range w.Products {
			for _, b := range p.Bins {
				h := want[b.Warehouse]
				if h == nil {
					h = &warehouse{skus: map[string]bool{}}
					want[b.Warehouse] = h
				}
				available, _ := b.Actual.Sub(b.Reserved)
				if h.rows == 0 || available.Cmp(h.least) < 0 {
					h.least = available
				}
				if h.rows == 0 || available.Cmp(h.most) > 0 {
					h.most = available
				}
				h.rows++
				h.skus[b.SKU] = true
				h.onHand, h.reserved, h.available = plus(h.onHand, b.Actual), plus(h.reserved, b.Reserved), plus(h.available, available)
			}
		}
		w.RUnlock()
		var got struct {
			Data struct {
				StockReport struct {
					Groups []struct {
						Key         struct{ Warehouse string }
						Count, Skus int
						Sum         struct{ OnHand, Reserved, Available string }
						Min, Max    struct{ Available string }
					}
				}
			}
			Errors []struct{ Message string }
		}
		graphQL(t, a, `{ stockReport(groupBy: [WAREHOUSE]) { groups { key { warehouse } count skus
			sum { onHand reserved available } min { available } max { available } } } }`, &got)
		groups := got.Data.StockReport.Groups
		if len(got.Errors) > 0 || len(groups) != len(want) || len(want) < 2 {
			t.Fatalf("errors %v, %d warehouses, want %d", got.Errors, len(groups), len(want))
		}
		for _, g := range groups {
			h := want[g.Key.Warehouse]
			if h == nil || g.Count != h.rows || g.Skus != len(h.skus) || !sameDecimal(g.Sum.OnHand, h.onHand) || !sameDecimal(g.Sum.Reserved, h.reserved) ||
				!sameDecimal(g.Sum.Available, h.available) || !sameDecimal(g.Min.Available, h.least) || !sameDecimal(g.Max.Available, h.most) {
				t.Errorf("%s: %+v, want %+v", g.Key.Warehouse, g, h)
			}
		}
	})

	t.Run("customers per lifecycle stage", func(t *testing.T) {
		type stage struct {
			count  int
			value  decimal.Decimal
			buyers int
		}
		want := map[string]*stage{}
		w.RLock()
		spent := map[*world.Person]decimal.Decimal{}
		bought := map[*world.Person]bool{}
		for _, o := range w.Orders {
			if o.Status == "processing" || o.Status == "completed" {
				spent[o.Person], bought[o.Person] = plus(spent[o.Person], o.Total), true
			}
		}
		for _, p := range w.People {
			name := ""
			if p.CRM != nil {
				name = p.CRM.LifecycleStage
			}
			s := want[name]
			if s == nil {
				s = &stage{}
				want[name] = s
			}
			s.count++
			if bought[p] {
				s.buyers++
				s.value = plus(s.value, spent[p])
			}
		}
		w.RUnlock()
		var got struct {
			Data struct {
				CustomerReport struct {
					Groups []struct {
						Key struct {
							LifecycleStage *string
							Currency       *string
						}
						Count int
						Sum   struct{ LifetimeValue *sentAmount }
					}
				}
			}
			Errors []struct{ Message string }
		}
		graphQL(t, a, `{ customerReport(groupBy: [LIFECYCLE_STAGE]) { groups { key { lifecycleStage currency } count sum { lifetimeValue { amount } } } } }`, &got)
		if len(got.Errors) > 0 {
			t.Fatalf("errors %v", got.Errors)
		}
		gotStages := map[string]*stage{}
		for _, g := range got.Data.CustomerReport.Groups {
			name := ""
			if g.Key.LifecycleStage != nil {
				name = *g.Key.LifecycleStage
			}
			s := gotStages[name]
			if s == nil {
				s = &stage{}
				gotStages[name] = s
			}
			s.count += g.Count
			if g.Key.Currency != nil {
				v, _ := decimal.Parse(g.Sum.LifetimeValue.Amount)
				s.buyers += g.Count
				s.value = plus(s.value, v)
			} else if g.Sum.LifetimeValue != nil {
				t.Errorf("%q: customers without sales worth %s", name, g.Sum.LifetimeValue.Amount)
			}
		}
		if len(gotStages) != len(want) || len(want) < 3 {
			t.Errorf("%d stages, want %d", len(gotStages), len(want))
		}
		for name, s := range want {
			if g := gotStages[name]; g == nil || g.count != s.count || g.buyers != s.buyers || g.value.Cmp(s.value) != 0 {
				t.Errorf("%q: %+v, want %+v", name, g, s)
			}
		}
	})
}

func TestAggregatesAskedWronglySayWhy(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 3, Size: world.Size{People: 20, Orders: 40, Products: 5}})
	a := reporting(t, env)
	for query, want := range map[string]struct{ message, code string }{
		`{ lineReport(groupBy: [CREATED, PAID]) { groups { count } } }`:                    {"one of CREATED, PAID and COMPLETED at a time", "BAD_USER_INPUT"},
		`{ lineReport(groupBy: [PRODUCT, PRODUCT]) { groups { count } } }`:                 {"PRODUCT is given twice", "BAD_USER_INPUT"},
		`{ lineReport(filter: { customer: "eA" }) { groups { count } } }`:                  {"not a Trestle global ID", "BAD_USER_INPUT"},
		`{ lineReport(orderBy: [{by: OUTSTANDING}]) { groups { count } } }`:                {"OUTSTANDING", "GRAPHQL_VALIDATION_FAILED"},
		`{ invoiceReport(groupBy: [ISSUED, DUE]) { groups { count } } }`:                   {"one of ISSUED and DUE at a time", "BAD_USER_INPUT"},
		`{ invoiceReport(filter: { status: [OTHER] }) { groups { count } } }`:              {"status OTHER cannot be filtered on", "BAD_USER_INPUT"},
		`{ invoiceReport(bucket: WEEK, timeZone: "Europe/Berlin ") { groups { count } } }`: {"not an IANA time zone", "BAD_USER_INPUT"},
		`{ stockReport(limit: 0) { groups { count } } }`:                                   {"limit: between 1 and 10000", "BAD_USER_INPUT"},
		`{ stockReport(groupBy: [STATUS]) { groups { count } } }`:                          {"STATUS", "GRAPHQL_VALIDATION_FAILED"},
		`{ customerReport(timeZone: "Mars/Olympus") { groups { count } } }`:                {"not an IANA time zone", "BAD_USER_INPUT"},
		`{ customerReport(groupBy: [OWNER, OWNER]) { groups { count } } }`:                 {"OWNER is given twice", "BAD_USER_INPUT"},
		`{ customerReport(limit: 10001) { groups { count } } }`:                            {"limit: between 1 and 10000", "BAD_USER_INPUT"},
	} {
		var got struct {
			Errors []struct {
				Message    string
				Extensions struct{ Code string }
			}
		}
		graphQL(t, a, query, &got)
		if len(got.Errors) == 0 || !strings.Contains(got.Errors[0].Message, want.message) || got.Errors[0].Extensions.Code != want.code {
			t.Errorf("%s: errors %+v, want one saying %q, code %s", query, got.Errors, want.message, want.code)
		}
	}
}
