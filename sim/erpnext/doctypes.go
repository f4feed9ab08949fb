package erpnext

import (
	"hash/fnv"
	"strconv"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/sim/world"
)

// kind is how a column compares and renders, after Frappe's field types:
// Data, Link and Select are strings; Float and Currency are floats; Int and
// Check are integers.
type kind uint8

const (
	kindData kind = iota
	kindDate
	kindDatetime
	kindFloat
	kindInt
)

// value is one column of one row.
type value struct {
	kind kind
	null bool
	s    string
	num  decimal.Decimal
	n    int64
	t    time.Time // dates at midnight UTC; datetimes as naive wall clock in a UTC container
}

func str(s string) value                  { return value{kind: kindData, s: s} }
func flt(d decimal.Decimal) value         { return value{kind: kindFloat, num: d} }
func integer(n int64) value               { return value{kind: kindInt, n: n} }
func date(t time.Time) value              { return value{kind: kindDate, t: t} }
func null(k kind) value                   { return value{kind: k, null: true} }
func qty(n int) value                     { return flt(decimal.MustNew(int64(n), 0)) }
func (e *env) datetime(t time.Time) value { return value{kind: kindDatetime, t: wallClock(t, e.loc)} }

// rec points at the world records behind one row of any DocType. Only the
// pointers that DocType needs are set; idx numbers child rows from 1. A rec
// is dereferenced only under the world's read lock.
type rec struct {
	p    *world.Person
	inv  *world.Invoice
	item *world.InvoiceItem
	prod *world.Product
	bin  *world.Bin
	idx  int
}

// env is what column getters need besides the record.
type env struct {
	w   *world.World
	loc *time.Location
}

// field is one column of a DocType.
type field struct {
	name string
	kind kind
	get  func(e *env, r rec) value
}

// childTable is a Table field of a parent DocType: its child DocType and
// how to list a parent's rows.
type childTable struct {
	field string
	table *table
	rows  func(r rec) []rec
}

// table is one DocType: its columns in table order, the parent DocTypes it
// is a child table of, its own child tables, how to enumerate its rows and
// which columns are indexed.
type table struct {
	doctype  string
	fields   []field
	pos      map[string]int
	parents  map[string]bool // child tables only: the DocTypes that embed it
	children []childTable
	rows     func(w *world.World) []rec
	modified func(r rec) time.Time // the world's time behind the modified column
	version  func(w *world.World) uint64
	indexed  []string
	order    string // default order_by: the DocType's sort_field and sort_order
}

func boolean(b bool) value {
	if b {
		return integer(1)
	}
	return integer(0)
}

func (t *table) isChild() bool { return len(t.parents) > 0 }

func (t *table) field(name string) (field, bool) {
	i, ok := t.pos[name]
	if !ok {
		return field{}, false
	}
	return t.fields[i], true
}

func newTable(t *table) *table {
	if t.order == "" {
		t.order = "modified desc"
	}
	t.pos = make(map[string]int, len(t.fields))
	for i, f := range t.fields {
		t.pos[f.name] = i
	}
	return t
}

// Fixed master data of the simulated site.
const (
	admin       = "Administrator"
	stockUOM    = "Nos"
	debtors     = "Debtors - TD"
	income      = "Sales - TD"
	costCenter  = "Main - TD"
	priceList   = "Standard Selling"
	customerSer = "CUST-.YYYY.-"
	invoiceSer  = "ACC-SINV-.YYYY.-"
)

// standard is Frappe's default columns, present in every table.
func standard(name func(r rec) string, created, modified func(r rec) time.Time, docstatus func(r rec) int64, idx func(r rec) int64) []field {
	return []field{
		{"name", kindData, func(_ *env, r rec) value { return str(name(r)) }},
		{"owner", kindData, func(*env, rec) value { return str(admin) }},
		{"creation", kindDatetime, func(e *env, r rec) value { return e.datetime(created(r)) }},
		{"modified", kindDatetime, func(e *env, r rec) value { return e.datetime(modified(r)) }},
		{"modified_by", kindData, func(*env, rec) value { return str(admin) }},
		{"docstatus", kindInt, func(_ *env, r rec) value { return integer(docstatus(r)) }},
		{"idx", kindInt, func(_ *env, r rec) value { return integer(idx(r)) }},
	}
}

// childStandard is the columns every child row adds.
func childStandard(parent func(r rec) string, parentfield, parenttype string) []field {
	return []field{
		{"parent", kindData, func(_ *env, r rec) value { return str(parent(r)) }},
		{"parentfield", kindData, func(*env, rec) value { return str(parentfield) }},
		{"parenttype", kindData, func(*env, rec) value { return str(parenttype) }},
	}
}

func zero(rec) int64 { return 0 }

func customerName(p *world.Person) string {
	if p.ERP.Type == "Company" && p.Company != "" {
		return p.Company
	}
	return p.FirstName + " " + p.LastName
}

// customerCurrency is default_currency: set on company accounts, left empty
// on individuals, as sites commonly do.
func customerCurrency(w *world.World, p *world.Person) string {
	if p.ERP.Type == "Company" {
		return w.Currency
	}
	return ""
}

// rowName makes the random-looking name Frappe gives child rows and Bins
// (autoname "hash"), stable for a given key.
func rowName(key string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	s := strconv.FormatUint(h.Sum64(), 16)
	for len(s) < 10 {
		s = "0" + s
	}
	return s[:10]
}

func creditLimitName(p *world.Person) string { return rowName("ccl/" + p.ERP.Name) }

func invoiceNet(inv *world.Invoice) decimal.Decimal {
	var sum decimal.Decimal
	for _, it := range inv.Items {
		sum, _ = sum.Add(it.Amount)
	}
	return sum
}

func invoiceQty(inv *world.Invoice) decimal.Decimal {
	n := 0
	for _, it := range inv.Items {
		n += it.Quantity
	}
	return decimal.MustNew(int64(n), 0)
}

func itemName(w *world.World, sku string) string {
	if p := w.ProductBySKU(sku); p != nil {
		return p.Name
	}
	return sku
}

func itemGroup(w *world.World, sku string) string {
	if p := w.ProductBySKU(sku); p != nil {
		return p.ItemGroup
	}
	return ""
}

// doctypes builds the six DocTypes the simulator serves.
func doctypes() map[string]*table {
	customerModified := func(r rec) time.Time { return r.p.ERP.Modified }
	itemModified := func(r rec) time.Time { return r.prod.Modified }
	binModified := func(r rec) time.Time { return r.bin.Modified }
	invoiceModified := func(r rec) time.Time { return r.inv.Modified }

	creditLimit := newTable(&table{
		doctype: "Customer Credit Limit",
		parents: map[string]bool{"Customer": true},
		fields: append(append(
			standard(func(r rec) string { return creditLimitName(r.p) },
				func(r rec) time.Time { return r.p.ERP.Created },
				customerModified,
				zero, func(r rec) int64 { return int64(r.idx) }),
			childStandard(func(r rec) string { return r.p.ERP.Name }, "credit_limits", "Customer")...),
			field{"company", kindData, func(e *env, _ rec) value { return str(e.w.Company) }},
			field{"credit_limit", kindFloat, func(_ *env, r rec) value { return flt(r.p.ERP.CreditLimit) }},
			field{"bypass_credit_limit_check", kindInt, func(*env, rec) value { return integer(0) }},
		),
		rows: func(w *world.World) []rec {
			var out []rec
			for _, p := range w.People {
				if p.ERP != nil && !p.ERP.CreditLimit.IsZero() {
					out = append(out, rec{p: p, idx: 1})
				}
			}
			return out
		},
		modified: customerModified,
		version:  customerVersion,
		indexed:  []string{"name", "parent"},
	})

	customer := newTable(&table{
		doctype: "Customer",
		fields: append(
			standard(func(r rec) string { return r.p.ERP.Name },
				func(r rec) time.Time { return r.p.ERP.Created },
				customerModified,
				zero, zero),
			field{"naming_series", kindData, func(*env, rec) value { return str(customerSer) }},
			field{"customer_name", kindData, func(_ *env, r rec) value { return str(customerName(r.p)) }},
			field{"customer_type", kindData, func(_ *env, r rec) value { return str(r.p.ERP.Type) }},
			field{"customer_group", kindData, func(_ *env, r rec) value { return str(r.p.ERP.Group) }},
			field{"territory", kindData, func(_ *env, r rec) value { return str(r.p.ERP.Territory) }},
			field{"default_currency", kindData, func(e *env, r rec) value { return str(customerCurrency(e.w, r.p)) }},
			field{"language", kindData, func(*env, rec) value { return str("de") }},
			field{"email_id", kindData, func(_ *env, r rec) value { return str(r.p.ERP.Email) }},
			field{"mobile_no", kindData, func(_ *env, r rec) value { return str(r.p.ERP.Phone) }},
			field{"disabled", kindInt, func(_ *env, r rec) value { return boolean(r.p.ERP.Disabled) }},
			field{"is_frozen", kindInt, func(*env, rec) value { return integer(0) }},
		),
		children: []childTable{{field: "credit_limits", table: creditLimit, rows: func(r rec) []rec {
			if r.p.ERP.CreditLimit.IsZero() {
				return nil
			}
			return []rec{{p: r.p, idx: 1}}
		}}},
		rows: func(w *world.World) []rec {
			var out []rec
			for _, p := range w.People {
				if p.ERP != nil {
					out = append(out, rec{p: p})
				}
			}
			return out
		},
		modified: customerModified,
		version:  customerVersion,
		indexed:  []string{"name", "email_id"},
	})

	item := newTable(&table{
		doctype: "Item",
		fields: append(
			standard(func(r rec) string { return r.prod.SKU },
				func(r rec) time.Time { return r.prod.Created },
				itemModified,
				zero, zero),
			field{"item_code", kindData, func(_ *env, r rec) value { return str(r.prod.SKU) }},
			field{"item_name", kindData, func(_ *env, r rec) value { return str(r.prod.Name) }},
			field{"item_group", kindData, func(_ *env, r rec) value { return str(r.prod.ItemGroup) }},
			field{"stock_uom", kindData, func(*env, rec) value { return str(stockUOM) }},
			field{"disabled", kindInt, func(*env, rec) value { return integer(0) }},
			field{"is_stock_item", kindInt, func(*env, rec) value { return integer(1) }},
			field{"has_variants", kindInt, func(*env, rec) value { return integer(0) }},
			field{"description", kindData, func(_ *env, r rec) value { return str(r.prod.Name) }},
			field{"standard_rate", kindFloat, func(_ *env, r rec) value { return flt(r.prod.RegularPrice) }},
		),
		rows: func(w *world.World) []rec {
			out := make([]rec, 0, len(w.Products))
			for _, p := range w.Products {
				out = append(out, rec{prod: p})
			}
			return out
		},
		modified: itemModified,
		version:  productVersion,
		indexed:  []string{"name", "item_code"},
	})

	bin := newTable(&table{
		doctype: "Bin",
		fields: append(
			standard(func(r rec) string { return r.bin.Name },
				func(r rec) time.Time { return r.prod.Created },
				binModified,
				zero, zero),
			field{"warehouse", kindData, func(_ *env, r rec) value { return str(r.bin.Warehouse) }},
			field{"item_code", kindData, func(_ *env, r rec) value { return str(r.bin.SKU) }},
			field{"reserved_qty", kindFloat, func(_ *env, r rec) value { return flt(r.bin.Reserved) }},
			field{"actual_qty", kindFloat, func(_ *env, r rec) value { return flt(r.bin.Actual) }},
			field{"ordered_qty", kindFloat, func(_ *env, r rec) value { return flt(r.bin.Ordered) }},
			field{"indented_qty", kindFloat, func(*env, rec) value { return flt(decimal.Zero) }},
			field{"planned_qty", kindFloat, func(*env, rec) value { return flt(decimal.Zero) }},
			field{"projected_qty", kindFloat, func(_ *env, r rec) value { return flt(r.bin.Projected()) }},
			field{"reserved_qty_for_production", kindFloat, func(*env, rec) value { return flt(decimal.Zero) }},
			field{"stock_uom", kindData, func(*env, rec) value { return str(stockUOM) }},
		),
		rows: func(w *world.World) []rec {
			out := make([]rec, 0, 3*len(w.Products))
			for _, p := range w.Products {
				for _, b := range p.Bins {
					out = append(out, rec{prod: p, bin: b})
				}
			}
			return out
		},
		modified: binModified,
		version:  productVersion,
		indexed:  []string{"name", "item_code"},
		order:    "modified asc", // Bin's sort_order is ASC
	})

	invoiceItem := newTable(&table{
		doctype: "Sales Invoice Item",
		parents: map[string]bool{"Sales Invoice": true},
		fields: append(append(
			standard(func(r rec) string { return r.item.Name },
				func(r rec) time.Time { return r.inv.Created },
				invoiceModified,
				func(r rec) int64 { return int64(r.inv.DocStatus) },
				func(r rec) int64 { return int64(r.idx) }),
			childStandard(func(r rec) string { return r.inv.Name }, "items", "Sales Invoice")...),
			field{"item_code", kindData, func(_ *env, r rec) value { return str(r.item.SKU) }},
			field{"item_name", kindData, func(e *env, r rec) value { return str(itemName(e.w, r.item.SKU)) }},
			field{"description", kindData, func(e *env, r rec) value { return str(itemName(e.w, r.item.SKU)) }},
			field{"item_group", kindData, func(e *env, r rec) value { return str(itemGroup(e.w, r.item.SKU)) }},
			field{"qty", kindFloat, func(_ *env, r rec) value { return qty(r.item.Quantity) }},
			field{"stock_uom", kindData, func(*env, rec) value { return str(stockUOM) }},
			field{"uom", kindData, func(*env, rec) value { return str(stockUOM) }},
			field{"conversion_factor", kindFloat, func(*env, rec) value { return flt(decimal.One) }},
			field{"stock_qty", kindFloat, func(_ *env, r rec) value { return qty(r.item.Quantity) }},
			field{"rate", kindFloat, func(_ *env, r rec) value { return flt(r.item.Rate) }},
			field{"amount", kindFloat, func(_ *env, r rec) value { return flt(r.item.Amount) }},
			field{"base_rate", kindFloat, func(_ *env, r rec) value { return flt(r.item.Rate) }},
			field{"base_amount", kindFloat, func(_ *env, r rec) value { return flt(r.item.Amount) }},
			field{"net_amount", kindFloat, func(_ *env, r rec) value { return flt(r.item.Amount) }},
			field{"warehouse", kindData, func(e *env, _ rec) value { return str(e.w.Warehouses[0]) }},
			field{"income_account", kindData, func(*env, rec) value { return str(income) }},
			field{"cost_center", kindData, func(*env, rec) value { return str(costCenter) }},
			field{"sales_order", kindData, func(_ *env, r rec) value {
				if r.inv.Order == nil {
					return str("")
				}
				return str(r.inv.Order.SalesOrder)
			}},
		),
		rows: func(w *world.World) []rec {
			out := make([]rec, 0, 4*len(w.Invoices))
			for _, inv := range w.Invoices {
				for i, it := range inv.Items {
					out = append(out, rec{inv: inv, item: it, idx: i + 1})
				}
			}
			return out
		},
		modified: invoiceModified,
		version:  invoiceVersion,
		indexed:  []string{"name", "parent", "item_code"},
	})

	invoice := newTable(&table{
		doctype: "Sales Invoice",
		fields: append(
			standard(func(r rec) string { return r.inv.Name },
				func(r rec) time.Time { return r.inv.Created },
				invoiceModified,
				func(r rec) int64 { return int64(r.inv.DocStatus) }, zero),
			field{"title", kindData, func(_ *env, r rec) value { return str(customerName(r.inv.Customer)) }},
			field{"naming_series", kindData, func(*env, rec) value { return str(invoiceSer) }},
			field{"customer", kindData, func(_ *env, r rec) value { return str(r.inv.Customer.ERP.Name) }},
			field{"customer_name", kindData, func(_ *env, r rec) value { return str(customerName(r.inv.Customer)) }},
			field{"company", kindData, func(e *env, _ rec) value { return str(e.w.Company) }},
			field{"posting_date", kindDate, func(_ *env, r rec) value { return date(r.inv.Posting) }},
			field{"posting_time", kindData, func(e *env, r rec) value { return str(r.inv.Created.In(e.loc).Format("15:04:05")) }},
			field{"due_date", kindDate, func(_ *env, r rec) value { return date(r.inv.Due) }},
			field{"is_return", kindInt, func(*env, rec) value { return integer(0) }},
			field{"is_pos", kindInt, func(*env, rec) value { return integer(0) }},
			field{"currency", kindData, func(_ *env, r rec) value { return str(r.inv.Currency) }},
			field{"conversion_rate", kindFloat, func(*env, rec) value { return flt(decimal.One) }},
			field{"selling_price_list", kindData, func(*env, rec) value { return str(priceList) }},
			field{"price_list_currency", kindData, func(_ *env, r rec) value { return str(r.inv.Currency) }},
			field{"total_qty", kindFloat, func(_ *env, r rec) value { return flt(invoiceQty(r.inv)) }},
			field{"total", kindFloat, func(_ *env, r rec) value { return flt(invoiceNet(r.inv)) }},
			field{"net_total", kindFloat, func(_ *env, r rec) value { return flt(invoiceNet(r.inv)) }},
			field{"total_taxes_and_charges", kindFloat, func(_ *env, r rec) value {
				d, _ := r.inv.Total.Sub(invoiceNet(r.inv))
				return flt(d)
			}},
			field{"grand_total", kindFloat, func(_ *env, r rec) value { return flt(r.inv.Total) }},
			field{"rounding_adjustment", kindFloat, func(*env, rec) value { return flt(decimal.Zero) }},
			field{"rounded_total", kindFloat, func(_ *env, r rec) value { return flt(r.inv.Total) }},
			field{"outstanding_amount", kindFloat, func(_ *env, r rec) value { return flt(r.inv.Outstanding) }},
			field{"po_no", kindData, func(_ *env, r rec) value {
				if r.inv.Order == nil {
					return str("")
				}
				return str(strconv.FormatInt(r.inv.Order.ID, 10))
			}},
			field{"po_date", kindDate, func(_ *env, r rec) value {
				if r.inv.Order == nil {
					return null(kindDate)
				}
				return date(r.inv.Order.Created.Truncate(24 * time.Hour))
			}},
			field{"debit_to", kindData, func(*env, rec) value { return str(debtors) }},
			field{"customer_group", kindData, func(_ *env, r rec) value { return str(r.inv.Customer.ERP.Group) }},
			field{"territory", kindData, func(_ *env, r rec) value { return str(r.inv.Customer.ERP.Territory) }},
			field{"status", kindData, func(_ *env, r rec) value { return str(r.inv.Status) }},
		),
		children: []childTable{{field: "items", table: invoiceItem, rows: func(r rec) []rec {
			out := make([]rec, len(r.inv.Items))
			for i, it := range r.inv.Items {
				out[i] = rec{inv: r.inv, item: it, idx: i + 1}
			}
			return out
		}}},
		rows: func(w *world.World) []rec {
			out := make([]rec, len(w.Invoices))
			for i, inv := range w.Invoices {
				out[i] = rec{inv: inv}
			}
			return out
		},
		modified: invoiceModified,
		version:  invoiceVersion,
		indexed:  []string{"name", "customer", "po_no"},
	})

	all := []*table{customer, creditLimit, item, bin, invoice, invoiceItem}
	out := make(map[string]*table, len(all))
	for _, t := range all {
		out[t.doctype] = t
	}
	return out
}
