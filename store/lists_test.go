package store

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
	"github.com/trestlehq/trestle/store/pgtest"
)

// sorted is what a list is expected to hold: the rows' keys and the values
// they sort by, worked out from the world, in the list's order (ties by key
// in the sort's direction, byte by byte).
type sorted struct {
	keys   []string
	values map[string]any // decimal.Decimal, time.Time or string
}

func expect(values map[string]any, desc bool) sorted {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	compare := func(a, b any) int {
		switch a := a.(type) {
		case decimal.Decimal:
			return a.Cmp(b.(decimal.Decimal))
		case time.Time:
			return a.Compare(b.(time.Time))
		}
		return strings.Compare(a.(string), b.(string))
	}
	slices.SortFunc(keys, func(a, b string) int {
		c := compare(values[a], values[b])
		if c == 0 {
			c = strings.Compare(a, b)
		}
		if desc {
			return -c
		}
		return c
	})
	return sorted{keys: keys, values: values}
}

// foldASCII lower-cases ASCII letters only, as the store sorts names.
func foldASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

func sum(ds ...decimal.Decimal) decimal.Decimal {
	s := decimal.Zero
	for _, d := range ds {
		s, _ = s.Add(d)
	}
	return s
}

// customerKey is the key the store gives a person's customer when every
// record joins by e-mail.
func customerKey(p *world.Person) string {
	if p.Email != "" {
		return p.Email
	}
	return "erp:" + p.ERP.Name
}

// customerName is a person's name as their customer has it: the CRM's
// and the shop's are the person's; an ERP-only company's, the company's.
func customerName(p *world.Person) string {
	if p.CRM == nil && p.Shop == nil && p.ERP.Type == "Company" && p.Company != "" {
		return p.Company
	}
	return strings.TrimSpace(p.FirstName + " " + p.LastName)
}

// worldLists works out, from the world's own records, each list the store
// sorts, as the live graph's fields read them.
func worldLists(w *world.World) map[string]sorted {
	w.RLock()
	defer w.RUnlock()
	sales := func(o *world.Order) bool { return slices.Contains(consolidate.SalesStatuses, o.Status) }
	ltv, balance, created, names := map[string]any{}, map[string]any{}, map[string]any{}, map[string]any{}
	for _, p := range w.People {
		k := customerKey(p)
		var spent []decimal.Decimal
		for _, o := range w.Orders {
			// An account's orders; without an account, the guest orders
			// under the person's address.
			if sales(o) && (p.Shop != nil && !o.Guest && o.Person == p ||
				p.Shop == nil && p.Email != "" && o.Guest && model.NormalizeEmail(o.BillingEmail) == p.Email) {
				spent = append(spent, o.Total)
			}
		}
		ltv[k] = sum(spent...)
		var owed []decimal.Decimal
		for _, inv := range w.Invoices {
			if inv.DocStatus == 1 && inv.Customer == p {
				owed = append(owed, inv.Outstanding)
			}
		}
		balance[k] = sum(owed...)
		var first time.Time
		for _, t := range []time.Time{crmCreated(p), shopCreated(p), erpCreated(p)} {
			if !t.IsZero() && (first.IsZero() || t.Before(first)) {
				first = t
			}
		}
		created[k] = first
		names[k] = foldASCII(customerName(p))
	}
	outstanding, due := map[string]any{}, map[string]any{}
	for _, inv := range w.Invoices {
		outstanding[inv.Name] = inv.Outstanding
		due[inv.Name] = inv.Due
	}
	available, productNames := map[string]any{}, map[string]any{}
	for _, p := range w.Products {
		var free []decimal.Decimal
		for _, b := range p.Bins {
			d, _ := b.Actual.Sub(b.Reserved)
			free = append(free, d)
		}
		available[p.SKU] = sum(free...)
		productNames[p.SKU] = foldASCII(p.Name)
	}
	return map[string]sorted{
		"customers by lifetime_value desc": expect(ltv, true),
		"customers by open_balance desc":   expect(balance, true),
		"customers by created asc":         expect(created, false),
		"customers by name asc":            expect(names, false),
		"invoices by outstanding desc":     expect(outstanding, true),
		"invoices by due_date asc":         expect(due, false),
		"products by erp_available desc":   expect(available, true),
		"products by name asc":             expect(productNames, false),
	}
}

func crmCreated(p *world.Person) time.Time {
	if p.CRM == nil {
		return time.Time{}
	}
	return p.CRM.Created
}

func shopCreated(p *world.Person) time.Time {
	if p.Shop == nil {
		return time.Time{}
	}
	return p.Shop.Created
}

func erpCreated(p *world.Person) time.Time {
	if p.ERP == nil {
		return time.Time{}
	}
	return p.ERP.Created
}

// pageAll reads a whole list a page of first at a time, checking each
// page's place in it, and gives its keys.
func pageAll(t *testing.T, first int, read func(after string, first int) (ListPage[string], error)) []string {
	t.Helper()
	var keys []string
	after := ""
	for page := 0; ; page++ {
		p, err := read(after, first)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if len(p.Rows) != len(p.Cursors) || p.HasPrev != (page > 0) {
			t.Fatalf("page %d: %d rows, %d cursors, hasPrev %v", page, len(p.Rows), len(p.Cursors), p.HasPrev)
		}
		keys = append(keys, p.Rows...)
		if p.HasNext != (len(keys) < p.Total) || len(p.Rows) != min(first, p.Total-len(keys)+len(p.Rows)) {
			t.Fatalf("page %d: %d rows, hasNext %v, %d of %d read", page, len(p.Rows), p.HasNext, len(keys), p.Total)
		}
		if !p.HasNext {
			return keys
		}
		after = p.Cursors[len(p.Cursors)-1]
	}
}

// listReaders read each list of worldLists from a store.
func listReaders(ctx context.Context, s *Store) map[string]func(after string, first int) (ListPage[string], error) {
	customers := func(by string, desc bool) func(string, int) (ListPage[string], error) {
		return func(after string, first int) (ListPage[string], error) {
			p, err := s.CustomerList(ctx, CustomerListQuery{Sort: ListSort{By: by, Desc: desc}, After: after, First: first})
			keys := ListPage[string]{Cursors: p.Cursors, Total: p.Total, HasNext: p.HasNext, HasPrev: p.HasPrev}
			for _, c := range p.Rows {
				keys.Rows = append(keys.Rows, c.Key)
			}
			return keys, err
		}
	}
	invoices := func(by string, desc bool) func(string, int) (ListPage[string], error) {
		return func(after string, first int) (ListPage[string], error) {
			return s.InvoiceList(ctx, InvoiceListQuery{Sort: ListSort{By: by, Desc: desc}, After: after, First: first})
		}
	}
	products := func(by string, desc bool) func(string, int) (ListPage[string], error) {
		return func(after string, first int) (ListPage[string], error) {
			return s.ProductList(ctx, ProductListQuery{Sort: ListSort{By: by, Desc: desc}, After: after, First: first})
		}
	}
	return map[string]func(string, int) (ListPage[string], error){
		"customers by lifetime_value desc": customers("lifetime_value", true),
		"customers by open_balance desc":   customers("open_balance", true),
		"customers by created asc":         customers("created", false),
		"customers by name asc":            customers("name", false),
		"invoices by outstanding desc":     invoices("outstanding", true),
		"invoices by due_date asc":         invoices("due_date", false),
		"products by erp_available desc":   products("erp_available", true),
		"products by name asc":             products("name", false),
	}
}

func TestListsAreSortedAsTheWorldIs(t *testing.T) {
	env := simtest.Start(t, smallWorld)
	s := openTemp(t)
	if _, err := s.Backfill(t.Context(), sources(env, 50)); err != nil {
		t.Fatal(err)
	}
	want := worldLists(env.Sim.World)
	for name, read := range listReaders(t.Context(), s) {
		t.Run(name, func(t *testing.T) {
			exp := want[name]
			for _, first := range []int{7, MaxListPage} {
				got := pageAll(t, first, read)
				if !slices.Equal(got, exp.keys) {
					for i := range min(len(got), len(exp.keys)) {
						if got[i] != exp.keys[i] {
							t.Fatalf("first %d: #%d is %s (%v), want %s (%v); %d rows, want %d", first, i, got[i], exp.values[got[i]],
								exp.keys[i], exp.values[exp.keys[i]], len(got), len(exp.keys))
						}
					}
					t.Fatalf("first %d: %d rows, want %d", first, len(got), len(exp.keys))
				}
			}
		})
	}
}

func TestAListRefusesWhatItCannotPage(t *testing.T) {
	env := simtest.Start(t, smallWorld)
	s := openTemp(t)
	if _, err := s.Backfill(t.Context(), sources(env, 50)); err != nil {
		t.Fatal(err)
	}
	byDue := InvoiceListQuery{Sort: ListSort{By: "due_date"}, First: 3}
	p, err := s.InvoiceList(t.Context(), byDue)
	if err != nil || len(p.Cursors) != 3 {
		t.Fatalf("%d rows, %v", len(p.Cursors), err)
	}
	for _, c := range []struct {
		name string
		q    InvoiceListQuery
		want string
	}{
		{"a page over the bound", InvoiceListQuery{Sort: ListSort{By: "due_date"}, First: MaxListPage + 1}, "0 to 1000 rows, not 1001"},
		{"a cursor that is none", InvoiceListQuery{Sort: ListSort{By: "due_date"}, First: 3, After: "b2Zmc2V0OjQ"}, "not a cursor of this list"},
		{"a cursor of another sort", InvoiceListQuery{Sort: ListSort{By: "due_date", Desc: true}, First: 3, After: p.Cursors[2]},
			"a cursor of invoices by due_date asc, not of invoices by due_date desc"},
		{"a sort there is not", InvoiceListQuery{Sort: ListSort{By: "total"}, First: 3}, `cannot be sorted by "total"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.InvoiceList(t.Context(), c.q)
			if !errors.Is(err, ErrReport) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v, want a report error saying %q", err, c.want)
			}
		})
	}
	// A products' cursor is not a customers'.
	pp, err := s.ProductList(t.Context(), ProductListQuery{Sort: ListSort{By: "sku"}, First: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CustomerList(t.Context(), CustomerListQuery{Sort: ListSort{By: "name"}, First: 1, After: pp.Cursors[0]}); !errors.Is(err, ErrReport) {
		t.Errorf("a products' cursor paged customers: %v", err)
	}
}

func TestACursorKeepsItsPlaceWhileRowsChange(t *testing.T) {
	env := simtest.Start(t, smallWorld)
	s := openTemp(t)
	if _, err := s.Backfill(t.Context(), sources(env, 50)); err != nil {
		t.Fatal(err)
	}
	q := InvoiceListQuery{Sort: ListSort{By: "outstanding", Desc: true}, First: 10}
	whole, err := s.InvoiceList(t.Context(), InvoiceListQuery{Sort: q.Sort, First: MaxListPage})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.InvoiceList(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	// Rows before the cursor go, and one is added there: the next page
	// is still the rows after the cursor's.
	for _, id := range first.Rows[:5] {
		if _, err := s.db.ExecContext(t.Context(), `DELETE FROM invoices WHERE id = ?`, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.db.ExecContext(t.Context(), `INSERT INTO invoices (id, customer_id, status, doc_status, currency, total_e4,
		outstanding_currency, outstanding_e4, order_ref, modified_at, read_at) VALUES ('ZZ-NEW', 'x', 'Unpaid', 1, 'EUR', 1, 'EUR', 999999999999, '', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	q.After = first.Cursors[len(first.Cursors)-1]
	next, err := s.InvoiceList(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(next.Rows, whole.Rows[10:20]) || !next.HasPrev || next.Total != whole.Total-4 {
		t.Errorf("after the changes the next page is %v (total %d, hasPrev %v), want %v (total %d)", next.Rows, next.Total, next.HasPrev,
			whole.Rows[10:20], whole.Total-4)
	}
}

func TestPostgresSortsListsAsSQLiteDoes(t *testing.T) {
	srv := pgtest.Start(t)
	pg := openPostgres(t, srv.Database(t, "lists")) // sorting by language, not bytes
	lite := openTemp(t)
	env := simtest.Start(t, smallWorld)
	for _, s := range []*Store{pg, lite} {
		if _, err := s.Backfill(t.Context(), sources(env, 50)); err != nil {
			t.Fatal(err)
		}
	}
	// Names with letters beyond ASCII and of either case, whose order
	// PostgreSQL's collations would have otherwise.
	for _, s := range []*Store{pg, lite} {
		if _, err := s.db.ExecContext(t.Context(), `UPDATE products SET name = CASE WHEN id % 3 = 0 THEN 'Éclair ' || sku
			WHEN id % 3 = 1 THEN 'éclair ' || sku ELSE 'eclair ' || sku END`); err != nil {
			t.Fatal(err)
		}
	}
	queries := []struct {
		name string
		read func(s *Store) (any, error)
	}{
		{"customers by name, searched", func(s *Store) (any, error) {
			return s.CustomerList(t.Context(), CustomerListQuery{Sort: ListSort{By: "name"}, Search: "E", First: 40})
		}},
		{"customers by created, known to the shop", func(s *Store) (any, error) {
			return s.CustomerList(t.Context(), CustomerListQuery{Sort: ListSort{By: "created", Desc: true}, KnownTo: model.SystemShop, First: 40})
		}},
		{"customers by lifetime value, customers in the CRM", func(s *Store) (any, error) {
			return s.CustomerList(t.Context(), CustomerListQuery{Sort: ListSort{By: "lifetime_value", Desc: true}, LifecycleStage: "CUSTOMER", First: 40})
		}},
		{"invoices by posting date, open", func(s *Store) (any, error) {
			return s.InvoiceList(t.Context(), InvoiceListQuery{Sort: ListSort{By: "posting_date"}, InvoiceFilter: InvoiceFilter{OpenOnly: true}, First: 100})
		}},
		{"products by name", func(s *Store) (any, error) {
			return s.ProductList(t.Context(), ProductListQuery{Sort: ListSort{By: "name"}, First: 100})
		}},
		{"products by shop stock, in stock", func(s *Store) (any, error) {
			return s.ProductList(t.Context(), ProductListQuery{Sort: ListSort{By: "shop_stock"}, StockStatus: "instock", First: 100})
		}},
	}
	for _, q := range queries {
		t.Run(q.name, func(t *testing.T) {
			want, err := q.read(lite)
			if err != nil {
				t.Fatal(err)
			}
			got, err := q.read(pg)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) || reflect.ValueOf(want).FieldByName("Total").Int() == 0 {
				t.Errorf("PostgreSQL gives %+v\nSQLite %+v", got, want)
			}
		})
	}
	// And every whole list, paged.
	for name, read := range listReaders(t.Context(), lite) {
		if got, want := pageAll(t, 25, listReaders(t.Context(), pg)[name]), pageAll(t, 25, read); !slices.Equal(got, want) {
			t.Errorf("%s: PostgreSQL gives %v\nSQLite %v", name, got, want)
		}
	}
}

func TestListFiltersSelectWhatTheWorldHas(t *testing.T) {
	env := simtest.Start(t, smallWorld)
	// Two products sold out, for the stock status to select.
	env.Sim.World.Lock()
	for _, p := range []*world.Product{env.Sim.World.Products[2], env.Sim.World.Products[9]} {
		p.ManageStock, p.ShopStock = true, 0
	}
	env.Sim.World.Unlock()
	s := openTemp(t)
	if _, err := s.Backfill(t.Context(), sources(env, 50)); err != nil {
		t.Fatal(err)
	}
	w := env.Sim.World
	w.RLock()
	term := foldASCII(w.People[7].LastName[1:4])
	dueBefore := w.Invoices[len(w.Invoices)/2].Due
	byName := func(keep func(p *world.Person) bool) sorted {
		names := map[string]any{}
		for _, p := range w.People {
			if keep(p) {
				names[customerKey(p)] = foldASCII(customerName(p))
			}
		}
		return expect(names, false)
	}
	byDue := func(keep func(inv *world.Invoice) bool) sorted {
		due := map[string]any{}
		for _, inv := range w.Invoices {
			if keep(inv) {
				due[inv.Name] = inv.Due
			}
		}
		return expect(due, false)
	}
	bySKU := func(keep func(p *world.Product) bool) sorted {
		skus := map[string]any{}
		for _, p := range w.Products {
			if keep(p) {
				skus[p.SKU] = p.SKU
			}
		}
		return expect(skus, true)
	}
	someSKUs := []string{w.Products[3].SKU, w.Products[5].SKU, "NO-SUCH-SKU"}
	want := map[string]sorted{
		"customers known to the shop": byName(func(p *world.Person) bool { return p.Shop != nil }),
		"customers in the CRM's customer stage": byName(func(p *world.Person) bool {
			return p.CRM != nil && strings.EqualFold(p.CRM.LifecycleStage, "customer")
		}),
		"customers found by a part of a name": byName(func(p *world.Person) bool {
			return strings.Contains(foldASCII(customerName(p)), term) || strings.Contains(foldASCII(p.Company), term) ||
				strings.Contains(p.Email, term)
		}),
		"open invoices":             byDue(func(inv *world.Invoice) bool { return inv.DocStatus == 1 && inv.Outstanding.IsPos() }),
		"invoices due before a day": byDue(func(inv *world.Invoice) bool { return inv.Due.Before(dueBefore) }),
		"products out of stock":     bySKU(func(p *world.Product) bool { return p.StockStatus() == "outofstock" }),
		"products of some SKUs":     bySKU(func(p *world.Product) bool { return slices.Contains(someSKUs, p.SKU) }),
		"invoices of a customer, paid": byDue(func(inv *world.Invoice) bool {
			return inv.Customer == w.Invoices[0].Customer && inv.StatusOn(w.Anchor) == "Paid"
		}),
	}
	customer := w.Invoices[0].Customer.ERP.Name
	w.RUnlock()

	customers := func(q CustomerListQuery) func(string, int) (ListPage[string], error) {
		return func(after string, first int) (ListPage[string], error) {
			q.Sort, q.After, q.First = ListSort{By: "name"}, after, first
			p, err := s.CustomerList(t.Context(), q)
			keys := ListPage[string]{Cursors: p.Cursors, Total: p.Total, HasNext: p.HasNext, HasPrev: p.HasPrev}
			for _, c := range p.Rows {
				keys.Rows = append(keys.Rows, c.Key)
			}
			return keys, err
		}
	}
	invoices := func(q InvoiceListQuery) func(string, int) (ListPage[string], error) {
		return func(after string, first int) (ListPage[string], error) {
			q.Sort, q.After, q.First = ListSort{By: "due_date"}, after, first
			return s.InvoiceList(t.Context(), q)
		}
	}
	products := func(q ProductListQuery) func(string, int) (ListPage[string], error) {
		return func(after string, first int) (ListPage[string], error) {
			q.Sort, q.After, q.First = ListSort{By: "sku", Desc: true}, after, first
			return s.ProductList(t.Context(), q)
		}
	}
	for name, read := range map[string]func(string, int) (ListPage[string], error){
		"customers known to the shop":           customers(CustomerListQuery{KnownTo: model.SystemShop}),
		"customers in the CRM's customer stage": customers(CustomerListQuery{LifecycleStage: "Customer"}),
		"customers found by a part of a name":   customers(CustomerListQuery{Search: strings.ToUpper(term)}),
		"open invoices":                         invoices(InvoiceListQuery{InvoiceFilter: InvoiceFilter{OpenOnly: true}}),
		"invoices due before a day":             invoices(InvoiceListQuery{InvoiceFilter: InvoiceFilter{DueBefore: dueBefore}}),
		"products out of stock":                 products(ProductListQuery{StockStatus: "outofstock"}),
		"products of some SKUs":                 products(ProductListQuery{SKUs: someSKUs}),
		"invoices of a customer, paid":          invoices(InvoiceListQuery{Customer: customer, InvoiceFilter: InvoiceFilter{Statuses: []string{"Paid"}}}),
	} {
		t.Run(name, func(t *testing.T) {
			got := pageAll(t, 4, read)
			if exp := want[name].keys; !slices.Equal(got, exp) || len(exp) == 0 {
				t.Errorf("%v\nwant %v", got, exp)
			}
		})
	}
}
