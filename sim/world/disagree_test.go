package world_test

import (
	"reflect"
	"testing"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim/world"
)

var disagreeing = world.Options{Seed: 7, Size: world.Size{People: 300, Orders: 3000, Products: 30}, Disagreements: true}

func TestDisagreementsAreSeededOfEachKind(t *testing.T) {
	w := world.New(disagreeing)
	s := w.Seeded
	for name, n := range map[string]int{"invoice totals": len(s.InvoiceTotals), "people without a contact": len(s.NoCRM),
		"phones": len(s.Phones), "respelled contacts": len(s.Respelled), "ERP duplicates": len(s.Duplicates)} {
		if n != 4 {
			t.Errorf("%d %s seeded, want 4", n, name)
		}
	}
	seen := map[*world.Person]bool{}
	once := func(p *world.Person) {
		t.Helper()
		if seen[p] {
			t.Errorf("%s %s is seeded twice", p.FirstName, p.LastName)
		}
		seen[p] = true
	}
	for i, inv := range s.InvoiceTotals {
		o := inv.Order
		if o == nil || inv.DocStatus == 2 {
			t.Fatalf("invoice %s bills no order, or is cancelled", inv.Name)
		}
		if inv.Currency == o.Currency && inv.Total.Equal(o.Total) {
			t.Errorf("invoice %s bills %s %s, as its order %d", inv.Name, inv.Currency, inv.Total, o.ID)
		}
		if last := i == len(s.InvoiceTotals)-1; last == (inv.Currency == o.Currency) {
			t.Errorf("invoice %s is in %s, its order in %s: want the last one alone in another currency", inv.Name, inv.Currency, o.Currency)
		}
		if paid, _ := inv.Total.Sub(inv.Outstanding); inv.Outstanding.IsNeg() || paid.IsNeg() || inv.Status != inv.StatusOn(world.Day(w.Anchor)) {
			t.Errorf("invoice %s: %s outstanding of %s, %s", inv.Name, inv.Outstanding, inv.Total, inv.Status)
		}
		once(inv.Customer)
	}
	for _, p := range s.NoCRM {
		if p.CRM != nil || p.Shop == nil || p.ERP == nil {
			t.Errorf("%s: want a shop account and an ERP customer, no contact", p.Email)
		}
		once(p)
	}
	for _, p := range s.Phones {
		if p.CRM == nil || p.Shop == nil || consolidate.NormalizePhone(p.Shop.Phone) == consolidate.NormalizePhone(p.Phone) {
			t.Errorf("%s: shop phone %q, contact's %q: want two numbers", p.Email, p.Shop.Phone, p.Phone)
		}
		once(p)
	}
	for _, v := range s.Respelled {
		p := v.Of
		if p == nil || v.CRM == nil || p.CRM != nil || p.Shop == nil || p.ERP == nil || v.Email != p.Email ||
			v.LastName == p.LastName || v.Company == p.Company {
			t.Errorf("%s: want the person's contact alone, under another name and company", v.Email)
		}
		once(p)
	}
	for _, dup := range s.Duplicates {
		p := dup.Of
		if p == nil || p.ERP == nil || dup.ERP == nil || dup.CRM != nil || dup.Shop != nil ||
			model.NormalizeEmail(dup.ERP.Email) != p.Email || !dup.ERP.Created.After(p.ERP.Created) || dup.ERP.Modified.After(w.Anchor) {
			t.Errorf("%s: want a second ERP customer of the same address, entered later", dup.Email)
		}
		if w.PersonByERP(dup.ERP.Name) != dup {
			t.Errorf("%s: the ERP's second customer %s is not found by its name", dup.Email, dup.ERP.Name)
		}
		once(p)
	}

	if again := world.New(disagreeing); !reflect.DeepEqual(w.Seeded, again.Seeded) {
		t.Error("the same seed seeded other disagreements")
	}
	// Only the seeded records differ from the world without them.
	plain := world.New(world.Options{Seed: disagreeing.Seed, Size: disagreeing.Size})
	if len(plain.Orders) != len(w.Orders) || len(plain.Invoices) != len(w.Invoices) || len(plain.People)+8 != len(w.People) {
		t.Fatalf("%d people, %d orders, %d invoices; without disagreements %d, %d, %d", len(w.People), len(w.Orders), len(w.Invoices),
			len(plain.People), len(plain.Orders), len(plain.Invoices))
	}
	for i, o := range w.Orders {
		if o.ID != plain.Orders[i].ID || !o.Total.Equal(plain.Orders[i].Total) {
			t.Fatalf("order %d differs from the world without disagreements", o.ID)
		}
	}
	if len(plain.Seeded.InvoiceTotals)+len(plain.Seeded.Duplicates) != 0 {
		t.Error("disagreements seeded without being asked for")
	}
}
