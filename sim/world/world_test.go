package world_test

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim/world"
)

var seeded = sync.OnceValue(func() *world.World { return world.New(world.Options{Seed: 1}) })

func TestNewIsDeterministic(t *testing.T) {
	a, b := seeded(), world.New(world.Options{Seed: 1})
	if !reflect.DeepEqual(a.Orders[:50], b.Orders[:50]) || !reflect.DeepEqual(a.People[:50], b.People[:50]) ||
		!reflect.DeepEqual(a.Invoices[len(a.Invoices)-50:], b.Invoices[len(b.Invoices)-50:]) {
		t.Fatal("the same seed gave different worlds")
	}
	c := world.New(world.Options{Seed: 2})
	if reflect.DeepEqual(a.Orders[:50], c.Orders[:50]) {
		t.Fatal("different seeds gave the same orders")
	}
}

func TestNewMeetsTheSizes(t *testing.T) {
	w := seeded()
	customers := 0
	for _, p := range w.People {
		if p.Shop != nil || p.ERP != nil || p.CRM != nil {
			customers++
		}
	}
	if customers < 2000 {
		t.Errorf("%d customers, want at least 2000", customers)
	}
	if len(w.Orders) < 20000 {
		t.Errorf("%d orders, want at least 20000", len(w.Orders))
	}
	if len(w.Products) < 500 || len(w.Warehouses) != 3 {
		t.Errorf("%d products in %d warehouses, want 500 in 3", len(w.Products), len(w.Warehouses))
	}
	for _, p := range w.Products {
		if len(p.Bins) != 3 {
			t.Fatalf("%s has %d bins, want one per warehouse", p.SKU, len(p.Bins))
		}
	}
	first, last := w.Orders[0].Created, w.Orders[len(w.Orders)-1].Created
	if last.Sub(first) < 2*365*24*time.Hour {
		t.Errorf("orders span %v, want at least two years", last.Sub(first))
	}
	for i, o := range w.Orders {
		if len(o.Lines) < 1 || len(o.Lines) > 5 {
			t.Fatalf("order %d has %d lines, want 1 to 5", o.ID, len(o.Lines))
		}
		if i > 0 && o.ID <= w.Orders[i-1].ID {
			t.Fatalf("order ids not ascending at %d", o.ID)
		}
	}
}

func TestOrderAmountsAddUp(t *testing.T) {
	for _, o := range seeded().Orders {
		sum := o.Shipping
		for _, l := range o.Lines {
			if l.Price.Scale() > 2 || l.Total.Scale() > 2 || l.Tax.Scale() > 2 {
				t.Fatalf("order %d has an amount finer than cents", o.ID)
			}
			want, _ := l.Price.Mul(decimal.MustNew(int64(l.Quantity), 0))
			if !want.Equal(l.Subtotal) {
				t.Fatalf("order %d line %d: %v × %d != %v", o.ID, l.ID, l.Price, l.Quantity, l.Subtotal)
			}
			sum, _ = sum.Add(l.Total)
			sum, _ = sum.Add(l.Tax)
		}
		if !sum.Equal(o.Total) {
			t.Fatalf("order %d: lines + tax + shipping = %v, total %v", o.ID, sum, o.Total)
		}
	}
}

func TestInvoicesCoverMostOrdersWithEveryStatus(t *testing.T) {
	w := seeded()
	statuses := map[string]int{}
	billed := map[int64]bool{}
	for _, inv := range w.Invoices {
		statuses[inv.Status]++
		if inv.Customer == nil || inv.Customer.ERP == nil {
			t.Fatalf("invoice %s has no ERP customer", inv.Name)
		}
		if inv.Order != nil {
			billed[inv.Order.ID] = true
		}
		paid, _ := inv.Total.Sub(inv.Outstanding)
		if inv.Outstanding.IsNeg() || paid.IsNeg() {
			t.Fatalf("invoice %s: outstanding %v of %v", inv.Name, inv.Outstanding, inv.Total)
		}
		wantDoc := 1
		switch inv.Status {
		case "Draft":
			wantDoc = 0
		case "Cancelled":
			wantDoc = 2
		}
		if inv.DocStatus != wantDoc {
			t.Fatalf("invoice %s is %s with docstatus %d", inv.Name, inv.Status, inv.DocStatus)
		}
	}
	for _, s := range []string{"Paid", "Unpaid", "Partly Paid", "Overdue", "Cancelled", "Draft"} {
		if statuses[s] == 0 {
			t.Errorf("no invoice is %s", s)
		}
	}
	if share := float64(len(billed)) / float64(len(w.Orders)); share < 0.8 {
		t.Errorf("%.0f%% of orders are invoiced, want most", share*100)
	}
}

func TestPeopleHaveTheMessOfRealData(t *testing.T) {
	w := seeded()
	var crmOnly, erpNoEmail, shopCase, erpCase, erpSpaces, guests int
	for _, p := range w.People {
		if p.CRM != nil && p.Shop == nil && p.ERP == nil {
			crmOnly++
		}
		if p.ERP != nil && p.ERP.Email == "" {
			erpNoEmail++
		}
		if p.Shop != nil {
			if p.Shop.Email != p.Email && model.NormalizeEmail(p.Shop.Email) == p.Email {
				shopCase++
			}
		}
		if p.ERP != nil && p.ERP.Email != "" {
			switch {
			case strings.TrimSpace(p.ERP.Email) != p.ERP.Email:
				erpSpaces++
			case p.ERP.Email != p.Email:
				erpCase++
			}
			if model.NormalizeEmail(p.ERP.Email) != p.Email {
				t.Fatalf("ERP e-mail %q does not normalise to %q", p.ERP.Email, p.Email)
			}
		}
		if p.CRM != nil && p.CRM.Email != p.Email {
			t.Fatalf("CRM e-mail %q is not stored normalised", p.CRM.Email)
		}
	}
	for _, o := range w.Orders {
		if o.Guest {
			guests++
			if o.Person.Shop != nil {
				t.Fatalf("guest order %d belongs to a shop account", o.ID)
			}
		}
	}
	for name, n := range map[string]int{"CRM-only people": crmOnly, "ERP customers without e-mail": erpNoEmail,
		"shop addresses in other case": shopCase, "ERP addresses in other case": erpCase,
		"ERP addresses with spaces": erpSpaces, "guest orders": guests} {
		if n < 20 {
			t.Errorf("%d %s, want a good number", n, name)
		}
	}
}

func TestLookups(t *testing.T) {
	w := seeded()
	o := w.Orders[123]
	if w.OrderByID(o.ID) != o {
		t.Error("OrderByID")
	}
	inv := w.Invoices[77]
	if w.InvoiceByName(inv.Name) != inv || w.PersonByERP(inv.Customer.ERP.Name) != inv.Customer {
		t.Error("InvoiceByName or PersonByERP")
	}
	pr := w.Products[9]
	if w.ProductBySKU(pr.SKU) != pr || w.ProductByID(pr.ID) != pr {
		t.Error("ProductBySKU or ProductByID")
	}
	for _, p := range w.People {
		if p.CRM != nil && w.PersonByCRM(p.CRM.ID) != p || p.Shop != nil && w.PersonByShop(p.Shop.ID) != p {
			t.Fatal("PersonByCRM or PersonByShop")
		}
	}
}

// BenchmarkNew measures the cost of building the default world, which every
// test package and the no-config start pay once (budget: < 1 s, < 200 MB).
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		world.New(world.Options{Seed: 1})
	}
}

func TestPlaceOrder(t *testing.T) {
	w := world.New(world.Options{Seed: 3, Size: world.Size{People: 40, Orders: 60, Products: 8}})
	last := w.Orders[len(w.Orders)-1]
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	w.Lock()
	o := w.PlaceOrder(rand.New(rand.NewPCG(1, 2)), now)
	w.Unlock()
	if o.ID <= last.ID || w.OrderByID(o.ID) != o || w.Orders[len(w.Orders)-1] != o {
		t.Fatalf("order %d not added after %d", o.ID, last.ID)
	}
	if o.Status != "processing" || o.Guest || o.Person.Shop == nil || !o.Created.Equal(now) || len(o.Lines) == 0 {
		t.Fatalf("order %+v", o)
	}
	if o.Lines[0].ID <= last.Lines[len(last.Lines)-1].ID {
		t.Error("line ids not continued")
	}
	sum := o.Shipping
	for _, l := range o.Lines {
		sum, _ = sum.Add(l.Total)
		sum, _ = sum.Add(l.Tax)
	}
	if !sum.Equal(o.Total) {
		t.Errorf("total %s, lines add up to %s", o.Total, sum)
	}
}

// A world anchored on the day it is built, as the demo anchors it, reaches up
// to that day and no further, with its invoices due and overdue as of it.
func TestAnchoredOnAnyDay(t *testing.T) {
	for _, anchor := range []time.Time{
		time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC),
		world.Day(time.Now()),
		time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC),
		time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 6, 15, 30, 0, 0, time.FixedZone("CET", 3600)), // not a midnight, not UTC
	} {
		t.Run(anchor.Format(time.RFC3339), func(t *testing.T) {
			w := world.New(world.Options{Seed: 5, Size: world.Size{People: 300, Orders: 3000, Products: 30}, Anchor: anchor})
			if !w.Anchor.Equal(anchor) || w.Anchor.Location() != time.UTC {
				t.Fatalf("anchor %s, want %s in UTC", w.Anchor, anchor)
			}
			today := world.Day(anchor)
			notAfter := func(what string, ts ...time.Time) {
				t.Helper()
				for _, ts := range ts {
					if ts.After(w.Anchor) {
						t.Fatalf("%s at %s, after the anchor %s", what, ts, w.Anchor)
					}
				}
			}
			for _, p := range w.People {
				if p.CRM != nil {
					notAfter("contact "+p.CRM.ID, p.CRM.Created, p.CRM.Modified)
				}
				if p.Shop != nil {
					notAfter("shop customer "+p.Shop.Username, p.Shop.Created, p.Shop.Modified)
				}
				if p.ERP != nil {
					notAfter("customer "+p.ERP.Name, p.ERP.Created, p.ERP.Modified)
				}
			}
			for _, p := range w.Products {
				notAfter("product "+p.SKU, p.Created, p.Modified)
				for _, b := range p.Bins {
					notAfter("bin "+b.Name, b.Modified)
				}
			}
			for _, o := range w.Orders {
				notAfter("order", o.Created, o.Modified)
				if o.Paid != nil {
					notAfter("order paid", *o.Paid)
				}
				if o.Completed != nil {
					notAfter("order completed", *o.Completed)
				}
			}
			for _, inv := range w.Invoices {
				notAfter("invoice "+inv.Name, inv.Created, inv.Modified)
				if inv.Posting.After(today) {
					t.Fatalf("invoice %s posted on %s, after %s", inv.Name, inv.Posting, today)
				}
				if want := inv.StatusOn(today); inv.Status != want {
					t.Fatalf("invoice %s due %s with %s of %s outstanding is %s, want %s", inv.Name,
						inv.Due.Format(time.DateOnly), inv.Outstanding, inv.Total, inv.Status, want)
				}
			}
			// The data reaches the present day: the last order is recent.
			if last := w.Orders[len(w.Orders)-1].Created; w.Anchor.Sub(last) > 3*24*time.Hour {
				t.Errorf("last order at %s, long before the anchor %s", last, w.Anchor)
			}
		})
	}
}

func TestStatusOn(t *testing.T) {
	today := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		docstatus   int
		due         time.Time
		outstanding string
		want        string
	}{
		{0, today.AddDate(0, 0, -1), "100", "Draft"},
		{2, today.AddDate(0, 0, -1), "100", "Cancelled"},
		{1, today.AddDate(0, 0, -1), "100", "Overdue"},
		{1, today.AddDate(0, 0, -1), "1", "Overdue"},
		{1, today, "100", "Unpaid"},
		{1, today, "1", "Partly Paid"},
		{1, today.AddDate(0, 0, -1), "0", "Paid"},
		{1, today.AddDate(0, 0, 9), "0", "Paid"},
	} {
		inv := &world.Invoice{DocStatus: tc.docstatus, Due: tc.due, Total: decimal.MustNew(100, 0), Outstanding: decimal.MustParse(tc.outstanding)}
		if got := inv.StatusOn(today); got != tc.want {
			t.Errorf("docstatus %d due %s with %s outstanding: %s, want %s", tc.docstatus, tc.due.Format(time.DateOnly), tc.outstanding, got, tc.want)
		}
	}
}
