package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"
	_ "github.com/ncruces/go-sqlite3/driver" // "sqlite3", as the store opens its file

	"github.com/trestlehq/trestle/app"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/erpnext"
	"github.com/trestlehq/trestle/sim/world"
)

// TestTheStoreIsExactlyTheTruth runs the demo: the full world backfilled,
// then a few seconds of the simulators' changes told by webhook and read by
// the pollers. Once the changes are in, every row of the store is what the
// three systems serve, to the cent and to the precision of each system's
// clock, with no row missing or left over. The store sweeps only hourly
// here, so the changes after the backfill can only have come through the
// change path.
func TestTheStoreIsExactlyTheTruth(t *testing.T) {
	cfg := demo()
	cfg.Store.Sweep = time.Hour
	a := running(t, cfg)

	awaitStore(t, a, "every kind backfilled", 4*time.Minute, func(st storeStatus) bool {
		for _, k := range st.Kinds {
			if !k.Backfill.Done {
				return false
			}
		}
		return len(st.Kinds) > 0
	})
	backfilled := time.Now().UTC()

	// The simulators' users at work: stock moves, orders placed and moved
	// on, invoices paid, contacts moved on.
	ctx, stop := context.WithCancel(t.Context())
	changed := make(chan struct{})
	go func() {
		defer close(changed)
		a.Sim().RunChanges(ctx, sim.Changes{Target: a.URL(), Secret: sim.DemoWebhookSecret, Every: 25 * time.Millisecond}, quiet)
	}()
	time.Sleep(3 * time.Second)
	stop()
	<-changed

	// The store must have had changes to follow.
	for kind, n := range changedSince(a.Sim().World, backfilled) {
		if n == 0 {
			t.Fatalf("no %s changed after the backfill", kind)
		}
	}

	db, err := sql.Open("sqlite3", "file:"+a.Config().Store.Path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The demo's own changes go on every few seconds and the pollers read
	// every five: compare until a comparison finds the store caught up.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		last := time.Now().After(deadline)
		diffs := compareStore(t, db, a.Sim().World, last)
		if len(diffs) == 0 {
			break
		}
		if last {
			t.Fatalf("the store differs from the systems in %d places, first:\n%s", len(diffs), strings.Join(diffs[:min(len(diffs), 20)], "\n"))
		}
	}

	st := readStoreStatus(t, a)
	for _, want := range [][2]string{{"SHOP", "ORDER"}, {"ERP", "STOCK"}, {"ERP", "INVOICE"}, {"CRM", "CUSTOMER"}} {
		if !slices.ContainsFunc(st.Kinds, func(k storeKind) bool {
			return k.Source == want[0] && k.Kind == want[1] && k.LastChange != nil && k.LastChange.Cursor != ""
		}) {
			t.Errorf("storeStatus %+v: no change applied to %s %s", st.Kinds, want[0], want[1])
		}
	}
}

// storeStatus is as much of the storeStatus query as the test reads.
type storeStatus struct {
	State string
	Kinds []storeKind
}

type storeKind struct {
	Source, Kind string
	Rows         int
	Backfill     struct {
		Read int
		Done bool
	}
	LastChange *struct{ Cursor string }
}

// readStoreStatus asks the gateway for its storeStatus.
func readStoreStatus(t *testing.T, a *app.App) storeStatus {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": `{ storeStatus { state kinds { source kind rows backfill { read done } lastChange { cursor } } } }`})
	resp, err := http.Post(a.URL()+"/query", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct {
		Data   struct{ StoreStatus *storeStatus }
		Errors []json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || answer.Data.StoreStatus == nil {
		t.Fatalf("storeStatus: HTTP %d, %v, errors %s", resp.StatusCode, err, answer.Errors)
	}
	return *answer.Data.StoreStatus
}

// awaitStore polls storeStatus until cond holds, for up to wait.
func awaitStore(t *testing.T, a *app.App, what string, wait time.Duration, cond func(storeStatus) bool) {
	t.Helper()
	// Each poll counts every table: not so often that it slows the backfill.
	for deadline := time.Now().Add(wait); ; time.Sleep(time.Second) {
		st := readStoreStatus(t, a)
		if cond(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: storeStatus still %+v", what, st)
		}
	}
}

// changedSince counts the records of each kind the simulators change that
// were modified at or after since.
func changedSince(w *world.World, since time.Time) map[string]int {
	w.RLock()
	defer w.RUnlock()
	n := map[string]int{"orders": 0, "bins": 0, "invoices": 0, "contacts": 0}
	for _, o := range w.Orders {
		if !o.Modified.Before(since) {
			n["orders"]++
		}
	}
	for _, p := range w.Products {
		for _, b := range p.Bins {
			if !b.Modified.Before(since) {
				n["bins"]++
			}
		}
	}
	for _, inv := range w.Invoices {
		if !inv.Modified.Before(since) {
			n["invoices"]++
		}
	}
	for _, p := range w.People {
		if p.CRM != nil && !p.CRM.Modified.Before(since) {
			n["contacts"]++
		}
	}
	return n
}

// compareStore compares every row of the store with what the systems
// serve, under the world's read lock so that the systems hold still, and
// returns the differences: of every table when all is set, else of the
// first table that differs, which is all a store still catching up needs.
func compareStore(t *testing.T, db *sql.DB, w *world.World, all bool) []string {
	t.Helper()
	site, err := time.LoadLocation(erpnext.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	w.RLock()
	defer w.RUnlock()
	// One read transaction: one snapshot of every table.
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var diffs []string
	for _, tr := range truths(site) {
		d, err := tr.diff(t.Context(), tx, tr.rows(w))
		if err != nil {
			t.Fatalf("read %s: %v", tr.table, err)
		}
		diffs = append(diffs, d...)
		if len(diffs) > 0 && !all {
			break
		}
	}
	return diffs
}

// truth is one table of the store (or view) and what each of its rows must
// hold: the columns compared, an SQL expression for the key a row is
// matched on, and the rows as the systems serve them, keyed alike. Each
// value is what the driver reads back: int64, string or nil for NULL.
type truth struct {
	table string
	key   string
	cols  []string
	rows  func(w *world.World) map[string][]any
}

// diff reads the table's rows and compares them with want, both ways.
func (tr truth) diff(ctx context.Context, tx *sql.Tx, want map[string][]any) ([]string, error) {
	rs, err := tx.QueryContext(ctx, "SELECT "+tr.key+", "+strings.Join(tr.cols, ", ")+" FROM "+tr.table)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	got := map[string][]any{}
	for rs.Next() {
		var key string
		vals := make([]any, len(tr.cols))
		dest := []any{&key}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rs.Scan(dest...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		got[key] = vals
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	var diffs []string
	for _, key := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[key]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s %s: served, not in the store", tr.table, key))
			continue
		}
		for i, col := range tr.cols {
			if g[i] != want[key][i] {
				diffs = append(diffs, fmt.Sprintf("%s %s: %s is %#v in the store, %#v served", tr.table, key, col, g[i], want[key][i]))
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[key]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s %s: in the store, not served", tr.table, key))
		}
	}
	return diffs, nil
}

// The precision of the shop's and the CRM's times on the wire: WordPress
// writes whole seconds, HubSpot milliseconds. The world's own times are
// whole seconds; the changes' carry the clock's nanoseconds.
const (
	shopClock = time.Second
	crmClock  = time.Millisecond
)

// at is a time as the store keeps it, read from a system whose clock
// counts in steps of res: UTC unix nanoseconds; nil for none.
func at(t time.Time, res time.Duration) any {
	if t.IsZero() {
		return nil
	}
	return t.Truncate(res).UnixNano()
}

func optAt(t *time.Time, res time.Duration) any {
	if t == nil {
		return nil
	}
	return at(*t, res)
}

// siteAt is an ERP datetime as the store keeps it. Frappe serves the
// site's wall-clock time to the microsecond, without an offset, and that
// is what there is to read back: in the hour that repeats when summer time
// ends, it names either of two instants.
func siteAt(t time.Time, site *time.Location) any {
	wall, _ := time.ParseInLocation("2006-01-02 15:04:05", erpnext.SiteTime(t), site)
	return wall.UnixNano()
}

// day is an ERP date as the store keeps it: Frappe serves the date alone,
// read as midnight UTC.
func day(t time.Time) any { return at(t, 24*time.Hour) }

// units is an amount as the store keeps it, exactly: in 1/10000 of the
// unit. The world's amounts have two decimals.
func units(d decimal.Decimal) int64 {
	whole, frac, _ := d.Int64(4)
	return whole*10000 + frac
}

func flag(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func fullName(p *world.Person) string { return p.FirstName + " " + p.LastName }

// shopCustomerID is an order's customer_id as the shop serves it: 0 for a
// guest checkout.
func shopCustomerID(o *world.Order) int64 {
	if o.Guest || o.Person == nil || o.Person.Shop == nil {
		return 0
	}
	return o.Person.Shop.ID
}

// erpCustomerName is a Customer's customer_name as the ERP serves it: the
// company for a company account, else the person's name.
func erpCustomerName(p *world.Person) string {
	if p.ERP.Type == "Company" && p.Company != "" {
		return p.Company
	}
	return fullName(p)
}

// erpCompany is what the ERP record gives a customer's company: its name,
// when it is a company's.
func erpCompany(p *world.Person) string {
	if p.ERP.Type == "Company" {
		return erpCustomerName(p)
	}
	return ""
}

// truths are the store's tables and the customers view, as the systems
// serve the world: the CRM's contacts (HubSpot), the ERP's invoices, bins
// and customers (ERPNext) and the shop's products, orders, lines and
// accounts (WooCommerce), each column as the simulator renders it and the
// adapter reads it. The tables the simulators change come first: they are
// the ones a store catching up differs in. The site is the ERP's zone.
func truths(site *time.Location) []truth {
	return []truth{
		{
			// HubSpot keeps addresses in lower case: the contact's is its
			// join key as it stands. The CRM owns every customer field.
			table: "crm_contacts", key: "id",
			cols: []string{"email", "first_name", "last_name", "phone", "company", "lifecycle_stage", "owner_id", "created_at",
				"join_key", "email_normalized", "customer_name", "customer_company", "customer_phone", "customer_lifecycle_stage", "customer_owner", "modified_at"},
			rows: func(w *world.World) map[string][]any {
				out := map[string][]any{}
				for _, p := range w.People {
					if c := p.CRM; c != nil {
						out[c.ID] = []any{c.Email, p.FirstName, p.LastName, p.Phone, p.Company, c.LifecycleStage, c.OwnerID, at(c.Created, crmClock),
							model.NormalizeEmail(c.Email), model.NormalizeEmail(c.Email), fullName(p), p.Company, p.Phone, c.LifecycleStage, c.OwnerID,
							at(c.Modified, crmClock)}
					}
				}
				return out
			},
		},
		{
			table: "invoices", key: "id",
			cols: []string{"customer_id", "status", "doc_status", "issue_date", "due_date", "currency", "total_e4",
				"outstanding_currency", "outstanding_e4", "order_ref", "modified_at"},
			rows: func(w *world.World) map[string][]any {
				out := make(map[string][]any, len(w.Invoices))
				for _, inv := range w.Invoices {
					var ref string
					if inv.Order != nil {
						ref = strconv.FormatInt(inv.Order.ID, 10)
					}
					out[inv.Name] = []any{inv.Customer.ERP.Name, inv.Status, int64(inv.DocStatus), day(inv.Posting), day(inv.Due),
						inv.Currency, units(inv.Total), inv.Currency, units(inv.Outstanding), ref, siteAt(inv.Modified, site)}
				}
				return out
			},
		},
		{
			table: "stock", key: "sku || '/' || warehouse",
			cols: []string{"on_hand_e4", "reserved_e4", "ordered_e4", "projected_e4", "modified_at"},
			rows: func(w *world.World) map[string][]any {
				out := map[string][]any{}
				for _, p := range w.Products {
					for _, b := range p.Bins {
						out[b.SKU+"/"+b.Warehouse] = []any{units(b.Actual), units(b.Reserved), units(b.Ordered), units(b.Projected()), siteAt(b.Modified, site)}
					}
				}
				return out
			},
		},
		{
			table: "orders", key: "id",
			cols: []string{"number", "status", "currency", "total_e4", "total_tax_e4", "shipping_total_e4", "discount_total_e4",
				"customer_id", "billing_email", "billing_name", "created_at", "paid_at", "completed_at", "modified_at"},
			rows: func(w *world.World) map[string][]any {
				out := make(map[string][]any, len(w.Orders))
				for _, o := range w.Orders {
					id := strconv.FormatInt(o.ID, 10)
					out[id] = []any{id, o.Status, o.Currency, units(o.Total), units(o.Tax), units(o.Shipping), units(o.Discount),
						shopCustomerID(o), o.BillingEmail, fullName(o.Person), at(o.Created, shopClock),
						optAt(o.Paid, shopClock), optAt(o.Completed, shopClock), at(o.Modified, shopClock)}
				}
				return out
			},
		},
		{
			// The unit price is the catalogue price (subtotal over
			// quantity), not the float of the discounted total the API
			// calls price.
			table: "order_lines", key: "order_id || '/' || id",
			cols: []string{"product_id", "sku", "name", "currency", "quantity", "price_e4", "subtotal_e4", "total_e4", "total_tax_e4", "modified_at"},
			rows: func(w *world.World) map[string][]any {
				out := map[string][]any{}
				for _, o := range w.Orders {
					for _, l := range o.Lines {
						out[fmt.Sprintf("%d/%d", o.ID, l.ID)] = []any{l.Product.ID, l.Product.SKU, l.Product.Name, o.Currency, int64(l.Quantity),
							units(l.Price), units(l.Subtotal), units(l.Total), units(l.Tax), at(o.Modified, shopClock)}
					}
				}
				return out
			},
		},
		{
			// An account is a paying customer once it has a paid order. The
			// shop owns the name, company and phone, not the stage or owner.
			table: "shop_customers", key: "id",
			cols: []string{"email", "first_name", "last_name", "company", "phone", "is_paying_customer", "created_at",
				"join_key", "email_normalized", "customer_name", "customer_company", "customer_phone", "customer_lifecycle_stage", "customer_owner", "modified_at"},
			rows: func(w *world.World) map[string][]any {
				paying := map[*world.Person]bool{}
				for _, o := range w.Orders {
					if o.Paid != nil && !o.Guest {
						paying[o.Person] = true
					}
				}
				out := map[string][]any{}
				for _, p := range w.People {
					if s := p.Shop; s != nil {
						out[strconv.FormatInt(s.ID, 10)] = []any{s.Email, p.FirstName, p.LastName, p.Company, s.Phone, flag(paying[p]), at(s.Created, shopClock),
							model.NormalizeEmail(s.Email), model.NormalizeEmail(s.Email), fullName(p), p.Company, s.Phone, nil, nil,
							at(s.Modified, shopClock)}
					}
				}
				return out
			},
		},
		{
			table: "products", key: "id",
			cols: []string{"sku", "name", "status", "currency", "price_e4", "regular_price_e4", "sale_price_e4",
				"manage_stock", "stock_quantity", "stock_status", "modified_at"},
			rows: func(w *world.World) map[string][]any {
				out := make(map[string][]any, len(w.Products))
				for _, p := range w.Products {
					var sale, stock any
					if p.SalePrice != nil {
						sale = units(*p.SalePrice)
					}
					if p.ManageStock {
						stock = int64(p.ShopStock)
					}
					out[strconv.FormatInt(p.ID, 10)] = []any{p.SKU, p.Name, p.Status, w.Currency, units(p.Price()), units(p.RegularPrice), sale,
						flag(p.ManageStock), stock, p.StockStatus(), at(p.Modified, shopClock)}
				}
				return out
			},
		},
		{
			// Only company accounts carry a currency and a credit limit (in
			// the company's currency). The ERP owns the name and company
			// only.
			table: "erp_customers", key: "id",
			cols: []string{"name", "email", "phone", "type", "customer_group", "territory", "currency", "credit_limit_currency", "credit_limit_e4",
				"disabled", "created_at", "join_key", "email_normalized", "customer_name", "customer_company", "customer_phone",
				"customer_lifecycle_stage", "customer_owner", "modified_at"},
			rows: func(w *world.World) map[string][]any {
				out := map[string][]any{}
				for _, p := range w.People {
					c := p.ERP
					if c == nil {
						continue
					}
					var currency string
					var limitCurrency, limit any
					if c.Type == "Company" {
						currency = w.Currency
					}
					if !c.CreditLimit.IsZero() {
						limitCurrency, limit = w.Currency, units(c.CreditLimit)
					}
					out[c.Name] = []any{erpCustomerName(p), c.Email, c.Phone, c.Type, c.Group, c.Territory, currency, limitCurrency, limit,
						flag(c.Disabled), siteAt(c.Created, site), model.NormalizeEmail(c.Email), model.NormalizeEmail(c.Email),
						erpCustomerName(p), erpCompany(p), nil, nil, nil, siteAt(c.Modified, site)}
				}
				return out
			},
		},
		{
			// One customer per address, whichever systems know it, joined
			// on the address; a company kept in the ERP alone, without one,
			// stands on its own, as does a second ERP record of an address
			// (the first joins). Each field comes from the first system
			// owning it that has a value: contact data from the CRM, then
			// the shop, then the ERP. A seeded disagreement is a Person
			// of its own holding one system's record of another's address.
			table: "customers", key: "key",
			cols: []string{"crm_id", "shop_id", "erp_id", "email", "name", "company", "phone", "lifecycle_stage", "owner"},
			rows: func(w *world.World) map[string][]any {
				type customer struct {
					crm, shop, erp *world.Person // the person holding each system's record
				}
				byKey := map[string]*customer{}
				at := func(key string) *customer {
					if byKey[key] == nil {
						byKey[key] = &customer{}
					}
					return byKey[key]
				}
				firstERP := map[string]*world.Person{} // the oldest ERP record of each address
				for _, p := range w.People {
					if p.ERP != nil && p.Email != "" {
						if f := firstERP[p.Email]; f == nil || p.ERP.Created.Before(f.ERP.Created) {
							firstERP[p.Email] = p
						}
					}
				}
				for _, p := range w.People {
					if p.CRM != nil {
						at(p.Email).crm = p
					}
					if p.Shop != nil {
						at(p.Email).shop = p
					}
					if p.ERP != nil {
						if p.Email == "" || firstERP[p.Email] != p {
							at("erp:" + p.ERP.Name).erp = p
						} else {
							at(p.Email).erp = p
						}
					}
				}
				out := map[string][]any{}
				for key, c := range byKey {
					var crmID, shopID, erpID any
					var names, companies, phones []string
					var stage, owner, email string
					if p := c.crm; p != nil {
						crmID, stage, owner, email = p.CRM.ID, p.CRM.LifecycleStage, p.CRM.OwnerID, p.Email
						names, companies, phones = append(names, fullName(p)), append(companies, p.Company), append(phones, p.Phone)
					}
					if p := c.shop; p != nil {
						shopID, email = p.Shop.ID, p.Email
						names, companies, phones = append(names, fullName(p)), append(companies, p.Company), append(phones, p.Shop.Phone)
					}
					if p := c.erp; p != nil {
						erpID, email = p.ERP.Name, p.Email
						names, companies = append(names, erpCustomerName(p)), append(companies, erpCompany(p))
					}
					out[key] = []any{crmID, shopID, erpID, firstOf(email), firstOf(names...), firstOf(companies...), firstOf(phones...),
						firstOf(stage), firstOf(owner)}
				}
				return out
			},
		},
	}
}

// firstOf is the first value that is not empty; nil (NULL) when none is.
func firstOf(vs ...string) any {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return nil
}
