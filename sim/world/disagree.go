package world

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Seeded are the disagreements between the systems that New seeds on
// purpose (Options.Disagreements), a handful of each kind, so that a test
// can name every one. Each person is seeded with one disagreement at most.
// The world has others of its own, such as the leads only the CRM knows.
type Seeded struct {
	// InvoiceTotals bill their shop order otherwise than it charged: a
	// grand total off by some amount, or (the last) in another currency.
	InvoiceTotals []*Invoice
	// NoCRM are people of the shop and the ERP whose contact the CRM lost.
	NoCRM []*Person
	// Phones are people whose shop account has a phone number other than
	// their contact's.
	Phones []*Person
	// Respelled are contacts the CRM keeps under another name and company
	// than the shop and the ERP: each a Person of its own holding the
	// contact, with the person's address, whose Of is the person.
	Respelled []*Person
	// Duplicates are ERP customers entered a second time, later than the
	// first: each a Person of its own holding the second record, with the
	// person's address, whose Of is the person.
	Duplicates []*Person
}

// seededEach is how many disagreements of each kind are seeded.
const seededEach = 4

// otherCurrency is the currency an invoice billed in the wrong one is in.
const otherCurrency = "CHF"

// disagreements seeds Seeded's disagreements. They draw on their own
// generator, so that the rest of the world is the same with them or
// without.
func (g *generator) disagreements(seed uint64) {
	d := g.d
	g.rng = rand.New(rand.NewPCG(seed^0x5eed, seed+0xd15a))
	used := map[*Person]bool{}
	// pick draws up to n people (in random order, each once) that ok
	// accepts.
	pick := func(n int, ok func(p *Person) bool) []*Person {
		var out []*Person
		for _, i := range g.rng.Perm(len(d.People)) {
			p := d.People[i]
			if len(out) == n {
				break
			}
			if p.Of == nil && !used[p] && ok(p) {
				used[p] = true
				out = append(out, p)
			}
		}
		return out
	}
	everywhere := func(p *Person) bool { return p.CRM != nil && p.Shop != nil && p.ERP != nil }

	for _, p := range pick(seededEach, everywhere) {
		p.CRM = nil
		d.Seeded.NoCRM = append(d.Seeded.NoCRM, p)
	}
	for _, p := range pick(seededEach, func(p *Person) bool { return p.CRM != nil && p.Shop != nil }) {
		phone := p.Phone
		for phone == p.Phone {
			phone = fmt.Sprintf("+49 40 %04d %04d", g.rng.IntN(10000), g.rng.IntN(10000))
		}
		p.Shop.Phone = phone
		d.Seeded.Phones = append(d.Seeded.Phones, p)
	}
	// Company accounts, whose ERP record names the company: the contact
	// disagrees with the shop on the name and with both on the company.
	for _, p := range pick(seededEach, func(p *Person) bool { return everywhere(p) && p.ERP.Type == "Company" }) {
		v := &Person{Of: p, FirstName: p.FirstName, LastName: p.LastName + "-" + g.pick(lastNames), Company: p.Company + " (alt)",
			Phone: p.Phone, Email: p.Email, CRM: p.CRM}
		p.CRM = nil
		d.People = append(d.People, v)
		d.Seeded.Respelled = append(d.Seeded.Respelled, v)
	}
	for _, p := range pick(seededEach, func(p *Person) bool {
		return p.ERP != nil && p.Email != "" && p.ERP.Created.Before(d.Anchor.Add(-48*time.Hour))
	}) {
		dup := &Person{Of: p, FirstName: p.FirstName, LastName: p.LastName, Company: p.Company, Phone: p.Phone, Email: p.Email}
		created := g.between(p.ERP.Created.Add(time.Hour), d.Anchor.Add(-time.Hour))
		dup.ERP = g.erpCustomer(dup, created)
		d.People = append(d.People, dup)
		d.Seeded.Duplicates = append(d.Seeded.Duplicates, dup)
	}

	var billing []*Invoice
	for _, i := range g.rng.Perm(len(d.Invoices)) {
		if inv := d.Invoices[i]; inv.Order != nil && inv.DocStatus < 2 && !used[inv.Customer] && len(billing) < seededEach {
			used[inv.Customer] = true
			billing = append(billing, inv)
		}
	}
	for i, inv := range billing {
		if i == len(billing)-1 {
			inv.Currency = otherCurrency
		} else {
			g.rebill(inv)
		}
		d.Seeded.InvoiceTotals = append(d.Seeded.InvoiceTotals, inv)
	}
}

// rebill makes an invoice's grand total differ from its order's, as a
// connector that drops the shipping or a clerk who retypes an amount
// does, keeping what was paid of it.
func (g *generator) rebill(inv *Invoice) {
	delta := cents(int64(1 + g.rng.IntN(5000)))
	if g.chance(0.5) && inv.Total.Cmp(delta) > 0 {
		delta = delta.Neg()
	}
	paid := mustSub(inv.Total, inv.Outstanding)
	inv.Total = mustAdd(inv.Total, delta)
	inv.Outstanding = mustSub(inv.Total, paid)
	if inv.Outstanding.IsNeg() {
		inv.Outstanding = cents(0)
	}
	if inv.DocStatus == 1 {
		inv.Status = inv.StatusOn(Day(g.d.Anchor))
	}
}
