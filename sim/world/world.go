// Package world generates the one seeded data set behind the three upstream
// simulators: people, products, orders and invoices, with each system's keys
// and the mess real data has.
package world

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/govalues/decimal"
)

// defaultAnchor is the default "now" of a generated data set: every timestamp in it
// lies before this instant, so the same seed gives the same data on any day.
var defaultAnchor = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Size sets how big a generated data set is.
type Size struct {
	People   int // distinct people and companies across the three systems
	Orders   int // shop orders
	Products int // SKUs, each stocked in every warehouse
}

// defaultSize is the size used by the demo, the tests and the benchmarks.
var defaultSize = Size{People: 2500, Orders: 20000, Products: 500}

// Options configure New.
type Options struct {
	Seed uint64
	Size Size // zero fields take the default size
	// Anchor is the data set's "now": every timestamp lies before it, and
	// invoices are due, overdue or paid as of its day. Zero takes
	// 2026-11-01T00:00:00Z, so that the data is the same on any day.
	Anchor time.Time
	// Disagreements seeds a handful of known disagreements of each kind
	// between the systems, listed in World.Seeded (see Seeded).
	Disagreements bool
}

// World is the one data set behind the three simulators: every person,
// product, order and invoice, with the key and the (messy) e-mail each system
// stores. Simulators read it under RLock; the change generator writes it under
// Lock. Whoever changes the world once simulators serve it holds Lock: its
// Unlock counts the write, which is how an Index learns that it may be stale.
type World struct {
	sync.RWMutex
	writes uint64 // write sections ended; read under RLock

	Anchor     time.Time
	Currency   string
	Company    string // the ERP company the documents belong to
	Warehouses []string

	People   []*Person
	Products []*Product
	Orders   []*Order   // ascending by ID
	Invoices []*Invoice // ascending by name

	// Seeded lists the disagreements seeded on purpose; empty unless
	// Options.Disagreements asked for them.
	Seeded Seeded

	peopleByCRM  map[string]*Person
	peopleByShop map[int64]*Person
	peopleByERP  map[string]*Person
	productBySKU map[string]*Product
	productByID  map[int64]*Product
	orderByID    map[int64]*Order
	invoiceByID  map[string]*Invoice
}

// Person is one customer or prospect. Each system that knows them holds its
// own record with its own key; a nil record means that system does not know
// the person.
type Person struct {
	FirstName string
	LastName  string
	Company   string
	Phone     string
	Email     string // the normalised address (trimmed, lower case); empty for ERP-only companies without one
	// Of is, for a record entered again as if of someone else (an ERP
	// customer entered twice, a contact under another spelling), the
	// person it is; nil for a person.
	Of *Person

	CRM  *CRMContact
	Shop *ShopAccount
	ERP  *ERPCustomer
}

// CRMContact is a person's HubSpot contact record.
type CRMContact struct {
	ID             string
	Email          string
	LifecycleStage string
	OwnerID        string
	Created        time.Time
	Modified       time.Time
}

// ShopAccount is a person's WooCommerce customer account.
type ShopAccount struct {
	ID       int64
	Email    string
	Phone    string // as typed into the billing address
	Username string
	Created  time.Time
	Modified time.Time
}

// ERPCustomer is a person's ERPNext Customer document.
type ERPCustomer struct {
	Name        string // document name
	Email       string // email_id, possibly empty or with stray case and spaces
	Phone       string // mobile_no, written as the ERP's users write it
	Type        string // Company or Individual
	Group       string
	Territory   string
	CreditLimit decimal.Decimal // zero means no credit limit row
	Disabled    bool
	Created     time.Time
	Modified    time.Time
}

// Product is one SKU: its shop listing and its ERP item and bins.
type Product struct {
	ID           int64 // WooCommerce product id
	SKU          string
	Name         string
	ItemGroup    string
	Status       string
	RegularPrice decimal.Decimal
	SalePrice    *decimal.Decimal
	ManageStock  bool
	ShopStock    int // the shop's own stock_quantity
	Created      time.Time
	Modified     time.Time
	Bins         []*Bin // one per warehouse, in World.Warehouses order
}

// Price is what the shop charges now.
func (p *Product) Price() decimal.Decimal {
	if p.SalePrice != nil {
		return *p.SalePrice
	}
	return p.RegularPrice
}

// StockStatus is the shop's stock_status derived from its stock count.
func (p *Product) StockStatus() string {
	switch {
	case !p.ManageStock:
		return "instock"
	case p.ShopStock > 0:
		return "instock"
	default:
		return "outofstock"
	}
}

// Bin is the ERP stock of one item in one warehouse.
type Bin struct {
	Name      string
	SKU       string
	Warehouse string
	Actual    decimal.Decimal
	Reserved  decimal.Decimal
	Ordered   decimal.Decimal
	Modified  time.Time
}

// Projected is ERPNext's projected_qty: actual + ordered - reserved.
func (b *Bin) Projected() decimal.Decimal {
	d, _ := b.Actual.Add(b.Ordered)
	d, _ = d.Sub(b.Reserved)
	return d
}

// Order is a shop order.
type Order struct {
	ID            int64
	Key           string // order_key
	Status        string
	Person        *Person
	Guest         bool   // placed without an account: customer_id 0
	BillingEmail  string // as typed at checkout
	Currency      string
	PaymentMethod string
	Lines         []*OrderLine
	Shipping      decimal.Decimal
	Discount      decimal.Decimal
	Tax           decimal.Decimal // line taxes
	Total         decimal.Decimal // lines + shipping + tax
	Created       time.Time
	Modified      time.Time
	Paid          *time.Time
	Completed     *time.Time
	SalesOrder    string // the ERP Sales Order name; empty when the order never reached the ERP
}

// OrderLine is one line of a shop order.
type OrderLine struct {
	ID       int64
	Product  *Product
	Quantity int
	Price    decimal.Decimal // unit price, before tax
	Subtotal decimal.Decimal // price × quantity
	Total    decimal.Decimal // after discount
	Tax      decimal.Decimal
}

// Invoice is an ERP Sales Invoice.
type Invoice struct {
	Name        string
	Customer    *Person // always has an ERP record
	Order       *Order  // the shop order it bills (po_no); nil for invoices raised in the ERP
	Status      string
	DocStatus   int
	Posting     time.Time // a date
	Due         time.Time // a date
	Currency    string
	Total       decimal.Decimal
	Outstanding decimal.Decimal
	Items       []*InvoiceItem
	Created     time.Time
	Modified    time.Time
}

// StatusOn is the status ERPNext's set_status gives the invoice on the day
// today (a date, 00:00 UTC, as Posting and Due are): Draft or Cancelled by
// its docstatus; once submitted, Overdue while money is outstanding past the
// due date, else Partly Paid, Unpaid or Paid by the amount outstanding.
func (inv *Invoice) StatusOn(today time.Time) string {
	owed := inv.Outstanding.IsPos()
	switch {
	case inv.DocStatus == 0:
		return "Draft"
	case inv.DocStatus == 2:
		return "Cancelled"
	case owed && inv.Due.Before(today):
		return "Overdue"
	case owed && inv.Outstanding.Cmp(inv.Total) < 0:
		return "Partly Paid"
	case owed:
		return "Unpaid"
	}
	return "Paid"
}

// Day is the date of t in UTC, as the data set keeps dates: 00:00 UTC.
func Day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// InvoiceItem is a Sales Invoice Item child row.
type InvoiceItem struct {
	Name     string
	SKU      string
	Quantity int
	Rate     decimal.Decimal
	Amount   decimal.Decimal
}

// Unlock ends a write section and counts it.
func (w *World) Unlock() {
	w.writes++
	w.RWMutex.Unlock()
}

// PersonByCRM, PersonByShop, PersonByERP, ProductBySKU, ProductByID, OrderByID
// and InvoiceByName look records up by each system's own key. Callers hold
// the read lock (simulators) or use them on a data set nobody changes (tests).
func (w *World) PersonByCRM(id string) *Person      { return w.peopleByCRM[id] }
func (w *World) PersonByShop(id int64) *Person      { return w.peopleByShop[id] }
func (w *World) PersonByERP(name string) *Person    { return w.peopleByERP[name] }
func (w *World) ProductBySKU(sku string) *Product   { return w.productBySKU[sku] }
func (w *World) ProductByID(id int64) *Product      { return w.productByID[id] }
func (w *World) OrderByID(id int64) *Order          { return w.orderByID[id] }
func (w *World) InvoiceByName(name string) *Invoice { return w.invoiceByID[name] }

// New builds a world deterministically from the seed.
func New(opts Options) *World {
	size := opts.Size
	if size.People <= 0 {
		size.People = defaultSize.People
	}
	if size.Orders <= 0 {
		size.Orders = defaultSize.Orders
	}
	if size.Products <= 0 {
		size.Products = defaultSize.Products
	}
	anchor := opts.Anchor
	if anchor.IsZero() {
		anchor = defaultAnchor
	}
	g := &generator{
		rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		d: &World{
			Anchor:     anchor.UTC(),
			Currency:   "EUR",
			Company:    "Trestle Demo GmbH",
			Warehouses: []string{"Stores - TD", "Finished Goods - TD", "Berlin Hub - TD"},
		},
	}
	g.products(size.Products)
	g.people(size.People)
	g.orders(size.Orders)
	g.erpOnlyInvoices()
	if opts.Disagreements {
		g.disagreements(opts.Seed)
	}
	g.index()
	return g.d
}

// generator holds the state of one New run.
type generator struct {
	rng *rand.Rand
	d   *World

	nextShopID    int64
	nextLineID    int64
	nextInvoice   map[int]int // per year
	nextSalesOrd  map[int]int
	nextCustomer  map[int]int
	nextItemRowID int
}

// span is how far back the data set reaches: a little over two years.
const span = 800 * 24 * time.Hour

func (g *generator) between(from, to time.Time) time.Time {
	if !to.After(from) {
		return from
	}
	return from.Add(time.Duration(g.rng.Int64N(int64(to.Sub(from))))).Truncate(time.Second)
}

func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }

func (g *generator) pick(s []string) string { return s[g.rng.IntN(len(s))] }

func (g *generator) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.rng.IntN(16)]
	}
	return string(b)
}

func (g *generator) seq(counter *map[int]int, prefix string, t time.Time) string {
	if *counter == nil {
		*counter = map[int]int{}
	}
	y := t.Year()
	(*counter)[y]++
	return fmt.Sprintf("%s-%d-%05d", prefix, y, (*counter)[y])
}

// cents makes a decimal amount from a whole number of cents.
func cents(c int64) decimal.Decimal { return decimal.MustNew(c, 2) }

func mustAdd(a, b decimal.Decimal) decimal.Decimal {
	s, err := a.Add(b)
	if err != nil {
		panic(err) // amounts in the data set are far from the decimal range
	}
	return s
}

func mustSub(a, b decimal.Decimal) decimal.Decimal {
	s, err := a.Sub(b)
	if err != nil {
		panic(err)
	}
	return s
}

func mustMul(a, b decimal.Decimal) decimal.Decimal {
	s, err := a.Mul(b)
	if err != nil {
		panic(err)
	}
	return s
}

func (g *generator) products(n int) {
	d := g.d
	start := d.Anchor.Add(-span - 90*24*time.Hour)
	for i := range n {
		group := g.pick(itemGroups)
		p := &Product{
			ID:           int64(100 + i),
			SKU:          fmt.Sprintf("TD-%05d", 10001+i),
			Name:         g.pick(adjectives) + " " + g.pick(itemNouns[group]),
			ItemGroup:    group,
			Status:       "publish",
			RegularPrice: cents(int64(199+g.rng.IntN(400)*100) - 1 + int64(g.rng.IntN(2))*50),
			ManageStock:  !g.chance(0.04),
		}
		if g.chance(0.03) {
			p.Status = "draft"
		}
		if g.chance(0.12) {
			sale := mustMul(p.RegularPrice, decimal.MustNew(85, 2)).Round(2)
			p.SalePrice = &sale
		}
		p.Created = g.between(start, start.Add(60*24*time.Hour))
		p.Modified = g.between(d.Anchor.Add(-60*24*time.Hour), d.Anchor)
		total := 0
		for _, wh := range d.Warehouses {
			actual := int64(g.rng.IntN(120))
			if g.chance(0.08) {
				actual = 0
			}
			reserved := min(actual, int64(g.rng.IntN(8)))
			b := &Bin{
				Name:      g.hex(10),
				SKU:       p.SKU,
				Warehouse: wh,
				Actual:    decimal.MustNew(actual, 0),
				Reserved:  decimal.MustNew(reserved, 0),
				Ordered:   decimal.MustNew(int64(g.rng.IntN(3))*10, 0),
				Modified:  g.between(d.Anchor.Add(-30*24*time.Hour), d.Anchor),
			}
			total += int(actual - reserved)
			p.Bins = append(p.Bins, b)
		}
		// The shop's own count drifts from the ERP's, as it does in real life.
		p.ShopStock = max(0, total+g.rng.IntN(7)-3)
		d.Products = append(d.Products, p)
	}
}

// Person mix: most people are in all three systems; the rest show the gaps
// real data has.
const (
	shareCRMOnly   = 0.08 // leads that never bought
	shareGuest     = 0.08 // buy without an account
	shareERPOnly   = 0.05 // B2B customers kept in the ERP only, no e-mail
	shareNoCRM     = 0.05 // shop customers the CRM never imported
	shareCaseShop  = 0.15 // shop address typed with capitals
	shareCaseERP   = 0.10
	shareSpacesERP = 0.08
)

func (g *generator) people(n int) {
	d := g.d
	first := d.Anchor.Add(-span - 60*24*time.Hour)
	usedEmail := map[string]bool{}
	for i := range n {
		p := &Person{
			FirstName: g.pick(firstNames),
			LastName:  g.pick(lastNames),
			Phone:     fmt.Sprintf("+49 30 %04d %04d", g.rng.IntN(10000), g.rng.IntN(10000)),
		}
		if g.chance(0.35) {
			p.Company = g.pick(companyStems) + " " + g.pick(companySuffixes)
		}
		local := strings.ToLower(p.FirstName + "." + p.LastName)
		email := local + "@" + g.pick(mailDomains)
		for k := 2; usedEmail[email]; k++ {
			email = fmt.Sprintf("%s%d@%s", local, k, g.pick(mailDomains))
		}
		usedEmail[email] = true
		p.Email = email
		created := g.between(first, d.Anchor.Add(-30*24*time.Hour))

		r := g.rng.Float64()
		crmOnly := r < shareCRMOnly
		guest := !crmOnly && r < shareCRMOnly+shareGuest
		erpOnly := !crmOnly && !guest && r < shareCRMOnly+shareGuest+shareERPOnly
		noCRM := !crmOnly && !guest && !erpOnly && r < shareCRMOnly+shareGuest+shareERPOnly+shareNoCRM

		if erpOnly {
			// Companies entered straight into the ERP: no e-mail, no shop, no CRM.
			p.Email = ""
			if p.Company == "" {
				p.Company = g.pick(companyStems) + " " + g.pick(companySuffixes)
			}
			p.ERP = g.erpCustomer(p, created)
			d.People = append(d.People, p)
			continue
		}
		if !noCRM {
			stage := "customer"
			if crmOnly {
				stage = g.pick([]string{"subscriber", "lead", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity"})
			} else if g.chance(0.05) {
				stage = "evangelist"
			}
			p.CRM = &CRMContact{
				ID:             fmt.Sprintf("%d", 5101+i*3),
				Email:          email, // HubSpot stores addresses in lower case
				LifecycleStage: stage,
				OwnerID:        g.pick(crmOwners),
				Created:        created,
				Modified:       g.between(created, d.Anchor),
			}
		}
		if !crmOnly && !guest {
			shopEmail := email
			if g.chance(shareCaseShop) {
				shopEmail = mixCase(email)
			}
			g.nextShopID++
			p.Shop = &ShopAccount{
				ID:       g.nextShopID + 1, // user 1 is the site admin
				Email:    shopEmail,
				Phone:    g.phoneAsTyped(p.Phone),
				Username: strings.Split(email, "@")[0],
				Created:  created,
				Modified: g.between(created, d.Anchor),
			}
		}
		d.People = append(d.People, p)
	}
}

func (g *generator) erpCustomer(p *Person, created time.Time) *ERPCustomer {
	email := p.Email
	switch {
	case email == "":
	case g.chance(shareCaseERP):
		email = strings.ToUpper(email[:1]) + email[1:]
		if g.chance(0.5) {
			email = strings.ToUpper(email)
		}
	case g.chance(shareSpacesERP):
		email = " " + email + " "
	}
	c := &ERPCustomer{
		Name:      g.seq(&g.nextCustomer, "CUST", created),
		Email:     email,
		Phone:     g.phoneAsTyped(p.Phone),
		Type:      "Individual",
		Group:     "Individual",
		Territory: g.pick([]string{"Germany", "Germany", "Germany", "Austria", "Switzerland", "Netherlands"}),
		Created:   created,
		Modified:  g.between(created, g.d.Anchor),
	}
	if p.Company != "" {
		c.Type, c.Group = "Company", "Commercial"
		c.CreditLimit = cents(int64(g.rng.IntN(20)+1) * 500000)
	}
	if g.chance(0.01) {
		c.Disabled = true
	}
	return c
}

// phoneAsTyped writes a "+49 30 1234 5678" number the ways people type it
// into forms: as given, with dashes, or with the 00 prefix and no spaces.
func (g *generator) phoneAsTyped(phone string) string {
	switch r := g.rng.Float64(); {
	case r < 0.15:
		return strings.ReplaceAll(phone, " ", "-")
	case r < 0.30:
		return "00" + strings.ReplaceAll(strings.TrimPrefix(phone, "+"), " ", "")
	default:
		return phone
	}
}

// buyers are the people who place shop orders: everybody but CRM-only leads
// and ERP-only companies.
func (g *generator) buyers() []*Person {
	var out []*Person
	for _, p := range g.d.People {
		if p.Email == "" || (p.Shop == nil && p.CRM != nil && p.CRM.LifecycleStage != "customer" && p.CRM.LifecycleStage != "evangelist") {
			continue
		}
		out = append(out, p)
	}
	return out
}

var (
	taxRate       = decimal.MustNew(19, 2)
	freeShipping  = cents(5000)
	shippingPrice = cents(490)
)

func (g *generator) orders(n int) {
	d := g.d
	buyers := g.buyers()
	// Order times: spread over the span, sorted so ids rise with time as in WooCommerce.
	times := make([]time.Time, n)
	for i := range times {
		times[i] = g.between(d.Anchor.Add(-span), d.Anchor.Add(-time.Hour))
	}
	sortTimes(times)
	nextID := int64(1000)
	for i := range n {
		created := times[i]
		p := buyers[g.rng.IntN(len(buyers))]
		nextID += 1 + int64(g.rng.IntN(3)) // posts share the id sequence, so ids have gaps
		o := &Order{
			ID:            nextID,
			Key:           "wc_order_" + g.hex(13),
			Person:        p,
			Guest:         p.Shop == nil,
			BillingEmail:  p.Email,
			Currency:      d.Currency,
			PaymentMethod: g.pick([]string{"stripe", "stripe", "paypal", "bacs", "cod"}),
			Created:       created,
		}
		if p.Shop != nil {
			o.BillingEmail = p.Shop.Email
		} else if g.chance(shareCaseShop) {
			o.BillingEmail = mixCase(p.Email)
		}
		g.orderLines(o)
		g.orderStatus(o)
		if p.ERP == nil && o.Status != "pending" && o.Status != "failed" {
			p.ERP = g.erpCustomer(p, created)
		}
		d.Orders = append(d.Orders, o)
		g.invoiceFor(o)
	}
}

func (g *generator) orderLines(o *Order) {
	lines := 1 + g.rng.IntN(5)
	var net, tax decimal.Decimal
	seen := map[*Product]bool{}
	for range lines {
		pr := g.d.Products[g.rng.IntN(len(g.d.Products))]
		if seen[pr] {
			continue
		}
		seen[pr] = true
		g.nextLineID++
		qty := 1 + g.rng.IntN(3)
		if g.chance(0.05) {
			qty += 5 + g.rng.IntN(20)
		}
		price := pr.Price()
		sub := mustMul(price, decimal.MustNew(int64(qty), 0))
		total := sub
		if g.chance(0.07) {
			total = mustMul(sub, decimal.MustNew(90, 2)).Round(2)
		}
		lineTax := mustMul(total, taxRate).Round(2)
		o.Lines = append(o.Lines, &OrderLine{
			ID: g.nextLineID, Product: pr, Quantity: qty, Price: price,
			Subtotal: sub, Total: total, Tax: lineTax,
		})
		net = mustAdd(net, total)
		tax = mustAdd(tax, lineTax)
		o.Discount = mustAdd(o.Discount, mustSub(sub, total))
	}
	if net.Cmp(freeShipping) < 0 {
		o.Shipping = shippingPrice
	} else {
		o.Shipping = cents(0)
	}
	o.Tax = tax
	o.Total = mustAdd(mustAdd(net, tax), o.Shipping)
}

func (g *generator) orderStatus(o *Order) {
	age := g.d.Anchor.Sub(o.Created)
	r := g.rng.Float64()
	switch {
	case age < 3*24*time.Hour:
		o.Status = pickWeighted(r, []string{"pending", "processing", "on-hold", "completed", "failed"}, []float64{0.15, 0.45, 0.15, 0.2, 0.05})
	case age < 14*24*time.Hour:
		o.Status = pickWeighted(r, []string{"processing", "on-hold", "completed", "cancelled", "failed"}, []float64{0.2, 0.05, 0.65, 0.05, 0.05})
	default:
		o.Status = pickWeighted(r, []string{"completed", "cancelled", "refunded", "failed"}, []float64{0.9, 0.04, 0.03, 0.03})
	}
	o.Modified = o.Created.Add(time.Duration(g.rng.IntN(48*3600)) * time.Second)
	if o.Status == "completed" || o.Status == "processing" || o.Status == "refunded" || o.Status == "cancelled" && g.chance(0.5) {
		paid := o.Created.Add(time.Duration(g.rng.IntN(300)) * time.Second)
		o.Paid = &paid
	}
	if o.Status == "completed" || o.Status == "refunded" {
		done := o.Created.Add(time.Duration(24+g.rng.IntN(96)) * time.Hour)
		if done.After(g.d.Anchor) {
			done = g.d.Anchor.Add(-time.Minute)
		}
		o.Completed = &done
		if done.After(o.Modified) {
			o.Modified = done
		}
	}
	if o.Modified.After(g.d.Anchor) {
		o.Modified = g.d.Anchor.Add(-time.Second)
	}
}

// invoiceFor raises the ERP invoice of a shop order, as an ERP connector does
// for most orders that were paid or are being processed.
func (g *generator) invoiceFor(o *Order) {
	switch o.Status {
	case "pending", "failed":
		return
	}
	if g.chance(0.06) { // the connector missed it
		return
	}
	d := g.d
	o.SalesOrder = g.seq(&g.nextSalesOrd, "SAL-ORD", o.Created)
	if o.Status == "cancelled" && o.Paid == nil {
		return
	}
	posting := o.Created.Truncate(24 * time.Hour)
	inv := &Invoice{
		Name:     g.seq(&g.nextInvoice, "ACC-SINV", posting),
		Customer: o.Person,
		Order:    o,
		Posting:  posting,
		Due:      posting.Add(time.Duration(14+g.rng.IntN(2)*16) * 24 * time.Hour),
		Currency: o.Currency,
		Total:    o.Total,
		Created:  o.Created.Add(time.Duration(g.rng.IntN(3600)) * time.Second),
	}
	for _, l := range o.Lines {
		g.nextItemRowID++
		inv.Items = append(inv.Items, &InvoiceItem{
			Name: g.hex(10), SKU: l.Product.SKU, Quantity: l.Quantity,
			Rate: l.Price, Amount: l.Total,
		})
	}
	g.settle(inv, o.Status == "cancelled" || o.Status == "refunded")
	d.Invoices = append(d.Invoices, inv)
}

// settle gives an invoice its status, docstatus and outstanding amount from
// its age, the way payments trickle in.
func (g *generator) settle(inv *Invoice, cancelled bool) {
	anchor := g.d.Anchor
	inv.DocStatus = 1
	inv.Modified = inv.Created
	switch {
	case cancelled:
		inv.DocStatus, inv.Status, inv.Outstanding = 2, "Cancelled", inv.Total
	case anchor.Sub(inv.Posting) < 10*24*time.Hour && g.chance(0.15):
		inv.DocStatus, inv.Status, inv.Outstanding = 0, "Draft", inv.Total
	case g.chance(paidShare(anchor.Sub(inv.Posting))):
		inv.Status, inv.Outstanding = "Paid", cents(0)
	case g.chance(0.3):
		part := mustMul(inv.Total, decimal.MustNew(int64(20+g.rng.IntN(60)), 2)).Round(2)
		inv.Outstanding = mustSub(inv.Total, part)
		inv.Status = "Partly Paid"
	default:
		inv.Status, inv.Outstanding = "Unpaid", inv.Total
	}
	inv.Status = inv.StatusOn(Day(anchor))
	if inv.Status != "Draft" {
		inv.Modified = g.between(inv.Created, minTime(anchor, inv.Due.Add(10*24*time.Hour)))
	}
}

// paidShare is the chance an invoice of that age is paid in full.
func paidShare(age time.Duration) float64 {
	switch {
	case age < 7*24*time.Hour:
		return 0.35
	case age < 30*24*time.Hour:
		return 0.7
	default:
		return 0.97
	}
}

// erpOnlyInvoices raises invoices in the ERP for the ERP-only companies:
// no shop order, no po_no.
func (g *generator) erpOnlyInvoices() {
	d := g.d
	for _, p := range d.People {
		if p.ERP == nil || p.Email != "" {
			continue
		}
		for range 1 + g.rng.IntN(6) {
			posting := g.between(d.Anchor.Add(-span), d.Anchor.Add(-24*time.Hour)).Truncate(24 * time.Hour)
			inv := &Invoice{
				Name:     g.seq(&g.nextInvoice, "ACC-SINV", posting),
				Customer: p,
				Posting:  posting,
				Due:      posting.Add(30 * 24 * time.Hour),
				Currency: d.Currency,
				Created:  posting.Add(9 * time.Hour),
			}
			for range 1 + g.rng.IntN(4) {
				pr := d.Products[g.rng.IntN(len(d.Products))]
				qty := 5 + g.rng.IntN(50)
				amount := mustMul(pr.RegularPrice, decimal.MustNew(int64(qty), 0))
				inv.Items = append(inv.Items, &InvoiceItem{Name: g.hex(10), SKU: pr.SKU, Quantity: qty, Rate: pr.RegularPrice, Amount: amount})
				inv.Total = mustAdd(inv.Total, amount)
			}
			inv.Total = mustAdd(inv.Total, mustMul(inv.Total, taxRate).Round(2))
			g.settle(inv, g.chance(0.03))
			d.Invoices = append(d.Invoices, inv)
		}
	}
	sortInvoices(d.Invoices)
}

func (g *generator) index() {
	d := g.d
	d.peopleByCRM = map[string]*Person{}
	d.peopleByShop = map[int64]*Person{}
	d.peopleByERP = map[string]*Person{}
	for _, p := range d.People {
		if p.CRM != nil {
			d.peopleByCRM[p.CRM.ID] = p
		}
		if p.Shop != nil {
			d.peopleByShop[p.Shop.ID] = p
		}
		if p.ERP != nil {
			d.peopleByERP[p.ERP.Name] = p
		}
	}
	d.productBySKU = make(map[string]*Product, len(d.Products))
	d.productByID = make(map[int64]*Product, len(d.Products))
	for _, p := range d.Products {
		d.productBySKU[p.SKU] = p
		d.productByID[p.ID] = p
	}
	d.orderByID = make(map[int64]*Order, len(d.Orders))
	for _, o := range d.Orders {
		d.orderByID[o.ID] = o
	}
	d.invoiceByID = make(map[string]*Invoice, len(d.Invoices))
	for _, inv := range d.Invoices {
		d.invoiceByID[inv.Name] = inv
	}
}

// PlaceOrder adds a new order, placed now by a random customer with a shop
// account, paid and processing, priced by the same rules as the generated
// orders. The caller holds the write lock.
func (w *World) PlaceOrder(rng *rand.Rand, now time.Time) *Order {
	var buyers []*Person
	for _, p := range w.People {
		if p.Shop != nil {
			buyers = append(buyers, p)
		}
	}
	last := w.Orders[len(w.Orders)-1]
	g := &generator{rng: rng, d: w, nextLineID: last.Lines[len(last.Lines)-1].ID}
	p := buyers[rng.IntN(len(buyers))]
	now = now.UTC().Truncate(time.Second)
	o := &Order{
		ID:            last.ID + 1 + int64(rng.IntN(3)),
		Key:           "wc_order_" + g.hex(13),
		Status:        "processing",
		Person:        p,
		BillingEmail:  p.Shop.Email,
		Currency:      w.Currency,
		PaymentMethod: "stripe",
		Created:       now,
		Modified:      now,
		Paid:          &now,
	}
	g.orderLines(o)
	w.Orders = append(w.Orders, o)
	w.orderByID[o.ID] = o
	return o
}
