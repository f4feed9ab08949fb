package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/graph/model"
)

// The reports of order lines, invoices, stock and customers are grouped
// as OrderReport's are, in two steps (see grouping), by dimensions of
// their own; each sorts with OrderSort ("key" or a measure's name) and
// answers at most rowBound(Limit) groups.

// Dimension is what any report groups by: order reports named it first.
type Dimension = OrderDimension

// The dimensions beside the orders'. Lines group by ByProduct and the
// order's (its times, ByStatus, the customer's); invoices by ByIssued,
// ByDue, ByStatus and the customer's; stock by ByWarehouse and ByProduct;
// customers by ByLifecycleStage, ByOwner, BySystems and ByCreated (their
// first record's).
const (
	ByProduct   Dimension = "product"
	ByWarehouse Dimension = "warehouse"
	ByIssued    Dimension = "issue_date"
	ByDue       Dimension = "due_date"
	BySystems   Dimension = "systems"
)

// GroupKey is the key of a line, invoice, stock or customer group: what
// the report grouped by is set, the rest zero.
type GroupKey struct {
	Period         *Period // nil for rows without the time
	Status         string  // the upstream's name
	Currency       string  // empty for a customer group without sales
	SKU, Name      string
	Warehouse      string
	Customer       *CustomerRef
	LifecycleStage *string
	Owner          *string
	Systems        []model.System // in the order CRM, shop, ERP
}

// ReportShape is what every report's query has beside its filter: how it
// groups, measures, sorts and cuts.
type ReportShape struct {
	GroupBy []Dimension
	Bucket  Bucket
	Zone    *time.Location // nil is UTC
	// Amounts are the measures wanted, as an aggregate and an amount
	// ("sum.total", "avg.quantity", "max.on_hand"…; nil is all). Each
	// costs a pass over the rows, so a report measures only these (and
	// what it sorts by); the others are zero.
	Amounts []string
	OrderBy []OrderSort
	Limit   int
}

// LineReportQuery asks for order lines grouped and measured.
type LineReportQuery struct {
	ReportShape
	From, To time.Time // the order created in [From, To); zero is open
	Statuses []string  // the order's status, the shop's names; none is all
	Customer string    // a customer's key; empty is all
	SKUs     []string  // none is all
	// Orders counts each group's distinct orders, and Customers its
	// distinct customers, which needs each order's customer; either is
	// counted when sorted by.
	Orders, Customers bool
}

// LineAmounts are a line group's amounts of one measure.
type LineAmounts struct {
	Quantity, Total, Tax decimal.Decimal
}

// LineGroup is one group of a line report.
type LineGroup struct {
	GroupKey
	Count, Orders, Customers int64
	Sum, Avg, Min, Max       LineAmounts
}

// lineDimensions are the dimensions lines group by: their own, their
// order's and its customer's.
var lineDimensions = map[Dimension]keyColumn{
	ByProduct:        {field: fieldSKU, expr: "l.sku || ''", also: "l.name"}, // not along its index, which costs a lookup a line
	ByCreated:        {field: fieldPeriod, expr: "o.created_at"},
	ByPaid:           {field: fieldPeriod, expr: "o.paid_at"},
	ByCompleted:      {field: fieldPeriod, expr: "o.completed_at"},
	ByStatus:         {field: fieldStatus, expr: "o.status"},
	ByCustomer:       {field: fieldCustomer},
	ByLifecycleStage: {field: fieldStage},
	ByOwner:          {field: fieldOwner},
}

// LineReport groups and measures order lines. Lines are read with their
// order only where the report needs it (its times, status or customer).
func (s *Store) LineReport(ctx context.Context, q LineReportQuery) ([]LineGroup, error) {
	g := grouping{name: "line report", rows: "order_lines l", ties: []string{"l.currency"}, customer: q.Customer}
	for _, o := range q.OrderBy {
		q.Orders, q.Customers = q.Orders || o.By == "orders", q.Customers || o.By == "customers"
	}
	var orderWhere []string
	var orderArgs []any
	if !q.From.IsZero() {
		orderWhere, orderArgs = append(orderWhere, "o.created_at >= ?"), append(orderArgs, q.From.UnixNano())
	}
	if !q.To.IsZero() {
		orderWhere, orderArgs = append(orderWhere, "o.created_at < ?"), append(orderArgs, q.To.UnixNano())
	}
	if len(q.Statuses) > 0 {
		orderWhere, orderArgs = append(orderWhere, "o.status IN "+argList(len(q.Statuses))), append(orderArgs, anys(q.Statuses)...)
	}
	needOrder := len(orderWhere) > 0 || q.Customer != "" || q.Customers
	for _, d := range q.GroupBy {
		needOrder = needOrder || d != ByProduct
	}
	if needOrder {
		g.rows = "order_lines l JOIN orders o ON o.id = l.order_id"
	}
	g.where, g.args = append(g.where, orderWhere...), append(g.args, orderArgs...)
	if len(q.SKUs) > 0 {
		g.where, g.args = append(g.where, "l.sku IN "+argList(len(q.SKUs))), append(g.args, anys(q.SKUs)...)
	}
	// The buckets span the orders the report reads (a SKU filter narrows
	// the lines, not the span), read without their lines.
	if err := s.keys(ctx, &g, q.ReportShape, lineDimensions, &timeSpan{from: "orders o" + whereClause(orderWhere), args: orderArgs}); err != nil {
		return nil, err
	}
	if g.needsCustomer() || q.Customers {
		g.customers = withCustomers
		g.finders = []string{"o.customer_id + 0 AS customer_id", "o.billing_email_normalized AS billing_email_normalized"}
		g.partials = append(g.partials, noBillingName)
	}
	g.partials = append(g.partials, "count(*) AS n")
	g.finals = append(g.finals, "sum(n) AS count")
	if q.Orders {
		g.partials, g.finals = append(g.partials, "count(DISTINCT l.order_id) AS n_orders"), append(g.finals, "sum(n_orders) AS orders")
	} else {
		g.finals = append(g.finals, "0 AS orders")
	}
	if q.Customers {
		g.finals = append(g.finals, "count(DISTINCT customer_key) AS customers")
	} else {
		g.finals = append(g.finals, "0 AS customers")
	}
	g.measure(q.ReportShape, "quantity", "l.quantity * 10000")
	g.measure(q.ReportShape, "total", "l.total_e4")
	g.measure(q.ReportShape, "tax", "l.total_tax_e4")
	g.sorts = map[string]string{"count": "count", "orders": "orders", "customers": "customers",
		"quantity": "sum_quantity", "avg_quantity": "sum_quantity * 1.0 / count",
		"total": "sum_total", "avg_total": "sum_total * 1.0 / count", "tax": "sum_tax"}
	var out []LineGroup
	err := s.grouped(ctx, g, q.ReportShape, func() ([]any, func(GroupKey)) {
		var l LineGroup
		var m [3]stats
		dest := []any{&l.Currency, &l.Count, &l.Orders, &l.Customers}
		for i := range m {
			dest = append(dest, m[i].dest()...)
		}
		return dest, func(k GroupKey) {
			k.Currency = l.Currency
			l.GroupKey = k
			q, t, x := m[0].read(quantity, l.Count), m[1].read(money, l.Count), m[2].read(money, l.Count)
			l.Sum, l.Avg = LineAmounts{q.sum, t.sum, x.sum}, LineAmounts{q.avg, t.avg, x.avg}
			l.Min, l.Max = LineAmounts{q.min, t.min, x.min}, LineAmounts{q.max, t.max, x.max}
			out = append(out, l)
		}
	})
	return out, err
}

// InvoiceReportQuery asks for invoices grouped and measured.
type InvoiceReportQuery struct {
	ReportShape
	InvoiceFilter
	Customer string // a customer's key; empty is all
}

// InvoiceAmounts are an invoice group's amounts of one measure.
type InvoiceAmounts struct {
	Total, Outstanding decimal.Decimal
}

// InvoiceGroup is one group of an invoice report. Its amounts are in
// Currency, the outstanding ones in OutstandingCurrency.
type InvoiceGroup struct {
	GroupKey
	OutstandingCurrency string
	Count               int64
	Sum, Avg, Min, Max  InvoiceAmounts
}

// invoiceDimensions are the dimensions invoices group by: dates are dates
// (00:00 UTC of the day), grouped by the calendar's buckets whatever the
// zone.
var invoiceDimensions = map[Dimension]keyColumn{
	ByIssued:         {field: fieldPeriod, expr: "i.issue_date", dates: true},
	ByDue:            {field: fieldPeriod, expr: "i.due_date", dates: true},
	ByStatus:         {field: fieldStatus, expr: "i.status"},
	ByCustomer:       {field: fieldCustomer},
	ByLifecycleStage: {field: fieldStage},
	ByOwner:          {field: fieldOwner},
}

// InvoiceReport groups and measures ERP invoices, each with the
// consolidated customer of its ERP customer.
func (s *Store) InvoiceReport(ctx context.Context, q InvoiceReportQuery) ([]InvoiceGroup, error) {
	g := grouping{name: "invoice report", rows: "invoices i", ties: []string{"i.currency", "i.outstanding_currency"}, customer: q.Customer}
	g.where, g.args = q.where()
	if err := s.keys(ctx, &g, q.ReportShape, invoiceDimensions, nil); err != nil {
		return nil, err
	}
	if g.needsCustomer() {
		g.customers = withInvoiceCustomers
		g.finders = []string{"i.customer_id AS customer_id"}
	}
	g.partials = append(g.partials, "count(*) AS n")
	g.finals = append(g.finals, "sum(n) AS count")
	g.measure(q.ReportShape, "total", "i.total_e4")
	g.measure(q.ReportShape, "outstanding", "i.outstanding_e4")
	g.sorts = map[string]string{"count": "count", "total": "sum_total", "avg_total": "sum_total * 1.0 / count",
		"outstanding": "sum_outstanding", "avg_outstanding": "sum_outstanding * 1.0 / count"}
	var out []InvoiceGroup
	err := s.grouped(ctx, g, q.ReportShape, func() ([]any, func(GroupKey)) {
		var v InvoiceGroup
		var m [2]stats
		dest := append([]any{&v.Currency, &v.OutstandingCurrency, &v.Count}, m[0].dest()...)
		dest = append(dest, m[1].dest()...)
		return dest, func(k GroupKey) {
			k.Currency = v.Currency
			v.GroupKey = k
			t, o := m[0].read(money, v.Count), m[1].read(money, v.Count)
			v.Sum, v.Avg, v.Min, v.Max = InvoiceAmounts{t.sum, o.sum}, InvoiceAmounts{t.avg, o.avg}, InvoiceAmounts{t.min, o.min}, InvoiceAmounts{t.max, o.max}
			out = append(out, v)
		}
	})
	return out, err
}

// withInvoiceCustomers selects the rows of invoices (a subquery with its
// ERP customer_id) with the columns of their consolidated customers, as
// withCustomers does for orders: the ERP customer's, or one of its own
// keyed "erp:" and its name.
func withInvoiceCustomers(invoices string) string {
	return `SELECT i.*, COALESCE(c.key, 'erp:' || i.customer_id) AS customer_key, c.email AS customer_email,
	c.crm_id AS customer_crm_id, c.shop_id AS customer_shop_id, i.customer_id AS customer_erp_id,
	c.lifecycle_stage AS customer_lifecycle_stage, c.owner AS customer_owner
FROM ` + invoices + ` i LEFT JOIN consolidated_customers c ON c.erp_id = i.customer_id`
}

// StockReportQuery asks for ERP stock grouped and measured.
type StockReportQuery struct {
	ReportShape
	SKUs, Warehouses []string // none is all
}

// StockQuantities are a stock group's quantities of one measure.
type StockQuantities struct {
	OnHand, Reserved, Available decimal.Decimal
}

// StockGroup is one group of a stock report: Count rows of SKU and
// warehouse, of SKUs distinct SKUs.
type StockGroup struct {
	GroupKey
	Count, SKUs   int64
	Sum, Min, Max StockQuantities
}

var stockDimensions = map[Dimension]keyColumn{
	ByWarehouse: {field: fieldWarehouse, expr: "s.warehouse"},
	ByProduct:   {field: fieldSKU, expr: "s.sku"},
}

// StockReport groups and measures the ERP's stock per SKU and warehouse.
func (s *Store) StockReport(ctx context.Context, q StockReportQuery) ([]StockGroup, error) {
	g := grouping{name: "stock report", rows: "stock s"}
	if len(q.SKUs) > 0 {
		g.where, g.args = append(g.where, "s.sku IN "+argList(len(q.SKUs))), append(g.args, anys(q.SKUs)...)
	}
	if len(q.Warehouses) > 0 {
		g.where, g.args = append(g.where, "s.warehouse IN "+argList(len(q.Warehouses))), append(g.args, anys(q.Warehouses)...)
	}
	if err := s.keys(ctx, &g, q.ReportShape, stockDimensions, nil); err != nil {
		return nil, err
	}
	// Stock has no customer: step two's groups are step one's, so its
	// distinct count carries over.
	g.partials = append(g.partials, "count(*) AS n", "count(DISTINCT s.sku) AS n_skus")
	g.finals = append(g.finals, "sum(n) AS count", "sum(n_skus) AS skus")
	g.measure(q.ReportShape, "on_hand", "s.on_hand_e4")
	g.measure(q.ReportShape, "reserved", "s.reserved_e4")
	g.measure(q.ReportShape, "available", "s.on_hand_e4 - s.reserved_e4")
	g.sorts = map[string]string{"count": "count", "skus": "skus", "on_hand": "sum_on_hand", "reserved": "sum_reserved", "available": "sum_available"}
	var out []StockGroup
	err := s.grouped(ctx, g, q.ReportShape, func() ([]any, func(GroupKey)) {
		var v StockGroup
		var m [3]stats
		dest := []any{&v.Count, &v.SKUs}
		for i := range m {
			dest = append(dest, m[i].dest()...)
		}
		return dest, func(k GroupKey) {
			v.GroupKey = k
			h, r, a := m[0].read(quantity, v.Count), m[1].read(quantity, v.Count), m[2].read(quantity, v.Count)
			v.Sum, v.Min, v.Max = StockQuantities{h.sum, r.sum, a.sum}, StockQuantities{h.min, r.min, a.min}, StockQuantities{h.max, r.max, a.max}
			out = append(out, v)
		}
	})
	return out, err
}

// CustomerReportQuery asks for consolidated customers grouped and
// measured.
type CustomerReportQuery struct {
	ReportShape
	KnownTo        model.System // only customers this system knows; empty is all
	LifecycleStage string       // empty is all
	From, To       time.Time    // first created in [From, To); zero is open
}

// CustomerGroup is one group of a customer report: Count customers, and
// the sum, average, least and greatest of their lifetime values in
// Currency (nil in a group of customers without sales, Currency "").
type CustomerGroup struct {
	GroupKey
	Count              int64
	Sum, Avg, Min, Max *decimal.Decimal
}

// customerCreated is when a consolidated customer c's first record was
// created, over its records r1 (CRM), r2 (shop) and r3 (ERP): the least
// that is known.
const customerCreated = `CASE WHEN r1.created_at IS NOT NULL AND (r2.created_at IS NULL OR r1.created_at <= r2.created_at)
		AND (r3.created_at IS NULL OR r1.created_at <= r3.created_at) THEN r1.created_at
	WHEN r2.created_at IS NOT NULL AND (r3.created_at IS NULL OR r2.created_at <= r3.created_at) THEN r2.created_at
	ELSE r3.created_at END`

// customerRows are the consolidated customers, each with when it was
// first created, the systems that know it (bits 1 CRM, 2 shop, 4 ERP)
// and, with values, per currency it bought in, its lifetime value: the
// orders that count as sales, each finding its customer as orders do. A
// customer without sales has one row, its currency and value NULL.
func customerRows(values bool) (string, []any) {
	columns := `c.*, ` + customerCreated + ` AS created_at,
	CASE WHEN c.crm_id IS NULL THEN 0 ELSE 1 END + CASE WHEN c.shop_id IS NULL THEN 0 ELSE 2 END + CASE WHEN c.erp_id IS NULL THEN 0 ELSE 4 END AS systems`
	records := `
LEFT JOIN crm_contacts r1 ON r1.id = c.crm_id
LEFT JOIN shop_customers r2 ON r2.id = c.shop_id
LEFT JOIN erp_customers r3 ON r3.id = c.erp_id`
	if !values {
		return `(SELECT ` + columns + ` FROM consolidated_customers c` + records + `) AS c`, nil
	}
	sales := `SELECT customer_id, billing_email_normalized, ` + noBillingName + `,
	currency, sum(total_e4) AS value FROM orders WHERE status IN ` + argList(len(consolidate.SalesStatuses)) + `
	GROUP BY customer_id, billing_email_normalized, currency`
	// The customers with sales joined to them by key, and those without:
	// each side looks the other up by an index.
	return `(WITH v AS MATERIALIZED (SELECT customer_key, currency, sum(value) AS value FROM (` + withCustomers("("+sales+")") + `) AS o
	GROUP BY customer_key, currency)
SELECT ` + columns + `, v.currency, v.value FROM v JOIN consolidated_customers c ON c.key = v.customer_key` + records + `
UNION ALL
SELECT ` + columns + `, NULL, NULL FROM consolidated_customers c` + records + `
WHERE c.key NOT IN (SELECT customer_key FROM v WHERE customer_key IS NOT NULL)) AS c`, anys(consolidate.SalesStatuses)
}

// customerIDs are the columns of consolidated_customers that hold each
// system's key.
var customerIDs = map[model.System]string{model.SystemCRM: "c.crm_id", model.SystemShop: "c.shop_id", model.SystemERP: "c.erp_id"}

var customerDimensions = map[Dimension]keyColumn{
	ByLifecycleStage: {field: fieldStage, expr: "c.lifecycle_stage"},
	ByOwner:          {field: fieldOwner, expr: "c.owner"},
	BySystems:        {field: fieldSystems, expr: "c.systems"},
	ByCreated:        {field: fieldPeriod, expr: "c.created_at"},
}

// systemBits are the bits of customerRows' systems, in GroupKey.Systems'
// order.
var systemBits = []model.System{model.SystemCRM, model.SystemShop, model.SystemERP}

// CustomerReport groups the consolidated customers and measures their
// lifetime values.
func (s *Store) CustomerReport(ctx context.Context, q CustomerReportQuery) ([]CustomerGroup, error) {
	if err := s.consolidateCustomers(ctx); err != nil {
		return nil, err
	}
	rows, args := customerRows(true)
	g := grouping{name: "customer report", rows: rows, args: args, ties: []string{"c.currency"}}
	if q.KnownTo != "" {
		id, ok := customerIDs[q.KnownTo]
		if !ok {
			return nil, fmt.Errorf("%w: no system %q", ErrReport, q.KnownTo)
		}
		g.where = append(g.where, id+" IS NOT NULL")
	}
	if q.LifecycleStage != "" {
		g.where, g.args = append(g.where, "c.lifecycle_stage = ?"), append(g.args, q.LifecycleStage)
	}
	if !q.From.IsZero() {
		g.where, g.args = append(g.where, "c.created_at >= ?"), append(g.args, q.From.UnixNano())
	}
	if !q.To.IsZero() {
		g.where, g.args = append(g.where, "c.created_at < ?"), append(g.args, q.To.UnixNano())
	}
	// The buckets span the customers without their values.
	spanRows, _ := customerRows(false)
	span := &timeSpan{from: spanRows + whereClause(g.where), args: g.args[len(args):]}
	if err := s.keys(ctx, &g, q.ReportShape, customerDimensions, span); err != nil {
		return nil, err
	}
	// No customer join: step two's groups are step one's.
	g.partials = append(g.partials, "count(*) AS n")
	g.finals = append(g.finals, "sum(n) AS count")
	g.measure(q.ReportShape, "lifetime_value", "c.value")
	g.sorts = map[string]string{"count": "count", "lifetime_value": "sum_lifetime_value", "avg_lifetime_value": "sum_lifetime_value * 1.0 / count"}
	var out []CustomerGroup
	err := s.grouped(ctx, g, q.ReportShape, func() ([]any, func(GroupKey)) {
		var v CustomerGroup
		var currency sql.NullString
		var m stats
		return append([]any{&currency, &v.Count}, m.dest()...), func(k GroupKey) {
			k.Currency = currency.String
			v.GroupKey = k
			if currency.Valid {
				a := m.read(money, v.Count)
				v.Sum, v.Avg, v.Min, v.Max = &a.sum, &a.avg, &a.min, &a.max
			}
			out = append(out, v)
		}
	})
	return out, err
}

// keyField is what of GroupKey a key fills.
type keyField int

const (
	fieldPeriod keyField = iota
	fieldStatus
	fieldSKU
	fieldWarehouse
	fieldCustomer
	fieldStage
	fieldOwner
	fieldSystems
)

// keyColumn is one key of a grouping: its expression over the rows, or,
// for the customer's keys without one, over the rows joined to their
// customers in step two.
type keyColumn struct {
	field keyField
	expr  string
	also  string // a column carried beside the key (its greatest): the line's name beside its SKU
	dates bool   // a time that is a date: 00:00 UTC of the day
	// The buckets of a time: in SQL, the bounds the expression is compared
	// with; shown, the same periods in the report's zone.
	periods, shown []Period
}

// customerKeys are step two's columns of the customer's keys, which
// withCustomers and withInvoiceCustomers give.
var customerKeys = map[keyField][]string{
	fieldCustomer: {"customer_key", "max(customer_email)", "max(customer_crm_id)", "max(customer_shop_id)", "max(customer_erp_id)"},
	fieldStage:    {"customer_lifecycle_stage"},
	fieldOwner:    {"customer_owner"},
}

// grouping is the SQL of a grouped report in parts, which grouped puts
// together as OrderReport's is: step one groups the rows by the keys of
// their own and, where a key needs the customer, by what finds it
// (finders); step two joins those groups, far fewer than the rows, to
// their customers and groups them again by every key. A distinct count of
// step one carries over only while no customer is joined, or when each
// row has one customer.
type grouping struct {
	name     string
	rows     string   // step one's FROM
	where    []string // step one's conditions
	args     []any    // rows' and where's arguments, in order
	keys     []keyColumn
	ties     []string // grouped by after the keys, in both steps: the currencies
	partials []string // step one's aggregates, "expr AS alias"
	finals   []string // step two's, over step one's aliases
	// customers joins step one's groups (a subquery with finders' columns)
	// to their customers; nil when nothing needs them.
	customers func(rows string) string
	finders   []string
	customer  string // only this customer's key
	sorts     map[string]string
}

// timeSpan is where a time key's buckets are spanned: a FROM with its
// WHERE, and its arguments.
type timeSpan struct {
	from string
	args []any
}

// keys adds the dimensions grouped by, as dims defines them, to g,
// spanning a time's buckets over the rows of span (nil: g's own rows).
func (s *Store) keys(ctx context.Context, g *grouping, shape ReportShape, dims map[Dimension]keyColumn, span *timeSpan) error {
	zone := shape.Zone
	if zone == nil {
		zone = time.UTC
	}
	times := 0
	seen := map[Dimension]bool{}
	for _, d := range shape.GroupBy {
		k, ok := dims[d]
		if !ok {
			return fmt.Errorf("%w: %s cannot group by %s", ErrReport, g.name, d)
		}
		if seen[d] {
			return fmt.Errorf("%w: %s is given twice", ErrReport, d)
		}
		seen[d] = true
		if k.field == fieldPeriod {
			if times++; times > 1 {
				return fmt.Errorf("%w: one time at a time (a group has one period)", ErrReport)
			}
			from := span
			if from == nil {
				from = &timeSpan{from: g.rows + whereClause(g.where), args: g.args}
			}
			// A date is grouped in its own calendar (UTC, as stored); its
			// periods are shown in the zone's.
			loc := zone
			if k.dates {
				loc = time.UTC
			}
			ps, err := s.spanPeriods(ctx, from.from, from.args, k.expr, shape.Bucket, loc)
			if err != nil {
				return err
			}
			k.periods, k.shown = ps, ps
			if k.dates {
				k.shown = make([]Period, len(ps))
				for i, p := range ps {
					k.shown[i] = Period{Start: sameDay(p.Start, zone), End: sameDay(p.End, zone), Label: p.Label}
				}
			}
		}
		g.keys = append(g.keys, k)
	}
	return nil
}

// sameDay is 00:00 in loc of the day that t (00:00 UTC) is.
func sameDay(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// needsCustomer reports whether a key is one of the customer's.
func (g *grouping) needsCustomer() bool {
	for _, k := range g.keys {
		if k.expr == "" {
			return true
		}
	}
	return g.customer != ""
}

// measure adds the sum, least and greatest of an amount expression in
// stored units to g, as sum_<name>, min_<name> and max_<name>; those the
// report does not want are NULL.
func (g *grouping) measure(shape ReportShape, name, expr string) {
	for _, m := range []struct{ aggregate, inner, outer string }{{"sum", "s_", "sum"}, {"min", "lo_", "min"}, {"max", "hi_", "max"}} {
		part := "CAST(NULL AS BIGINT)" // typed, for PostgreSQL's sum of it
		if wantsAmount(shape.Amounts, shape.OrderBy, m.aggregate, name) {
			part = m.aggregate + "(" + expr + ")"
		}
		g.partials = append(g.partials, part+" AS "+m.inner+name)
		g.finals = append(g.finals, m.outer+"("+m.inner+name+") AS "+m.aggregate+"_"+name)
	}
}

// grouped runs g: it reads each group's keys into a GroupKey, and its
// other columns (ties, then finals) into what row gives, which done
// finishes with the key.
func (s *Store) grouped(ctx context.Context, g grouping, shape ReportShape, row func() (dest []any, done func(GroupKey))) error {
	var inner, innerGroup, outer, outerGroup, keys []string
	for i, k := range g.keys {
		alias := "k" + strconv.Itoa(i)
		keys = append(keys, alias)
		outerGroup = append(outerGroup, alias)
		if k.expr == "" {
			cols := customerKeys[k.field]
			outer = append(outer, cols[0]+" AS "+alias)
			outer = append(outer, cols[1:]...)
			continue
		}
		expr := k.expr
		if k.field == fieldPeriod {
			expr = "NULL"
			if len(k.periods) > 0 {
				expr = bucketOf(k.expr, k.periods)
			}
		}
		inner, innerGroup, outer = append(inner, expr+" AS "+alias), append(innerGroup, alias), append(outer, alias)
		if k.also != "" {
			inner, outer = append(inner, "max("+k.also+") AS "+alias+"_also"), append(outer, "max("+alias+"_also)")
		}
	}
	for i, t := range g.ties {
		alias := "t" + strconv.Itoa(i)
		inner, innerGroup = append(inner, t+" AS "+alias), append(innerGroup, alias)
		outer, outerGroup = append(outer, alias), append(outerGroup, alias)
	}
	if g.customers != nil {
		for _, f := range g.finders {
			expr, _, _ := strings.Cut(f, " AS ")
			inner, innerGroup = append(inner, f), append(innerGroup, expr)
		}
	}
	inner = append(inner, g.partials...)
	outer = append(outer, g.finals...)
	args := g.args
	from := "(SELECT " + strings.Join(inner, ", ") + " FROM " + g.rows + whereClause(g.where)
	if len(innerGroup) > 0 {
		from += " GROUP BY " + strings.Join(innerGroup, ", ")
	}
	from += ")"
	outerCond := ""
	if g.customers != nil {
		if err := s.consolidateCustomers(ctx); err != nil {
			return err
		}
		from = "(" + g.customers(from) + ")"
		if g.customer != "" {
			outerCond, args = " WHERE customer_key = ?", append(args, g.customer)
		}
	}
	// Text sorts byte by byte, in PostgreSQL as in SQLite.
	sorted := make([]string, len(keys))
	for i, k := range g.keys {
		sorted[i] = keys[i]
		if k.field != fieldPeriod && k.field != fieldSystems {
			sorted[i] = s.bytewise(keys[i])
		}
	}
	ties := make([]string, len(g.ties))
	for i := range g.ties {
		ties[i] = s.bytewise("t" + strconv.Itoa(i))
	}
	order, err := reportOrder(shape.OrderBy, g.sorts, sorted, ties...)
	if err != nil {
		return err
	}
	query := "SELECT " + strings.Join(outer, ", ") + " FROM " + from + " AS o" + outerCond
	if len(outerGroup) > 0 {
		query += " GROUP BY " + strings.Join(outerGroup, ", ")
	}
	// Sorted outside, so that a measure's expression may name the groups'
	// columns in either database.
	query = "SELECT * FROM (" + query + ") AS g"
	if order != "" {
		query += " ORDER BY " + order
	}
	query += " LIMIT " + strconv.Itoa(rowBound(shape.Limit))
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", g.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var key GroupKey
		dest, set := keyDest(g.keys, &key)
		more, done := row()
		if err := rows.Scan(append(dest, more...)...); err != nil {
			return fmt.Errorf("%s: %w", g.name, err)
		}
		set()
		done(key)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", g.name, err)
	}
	return nil
}

// keyDest are where a row's keys are scanned to, and set reads them into
// key.
func keyDest(keys []keyColumn, key *GroupKey) (dest []any, set func()) {
	var sets []func()
	for _, k := range keys {
		switch k.field {
		case fieldPeriod:
			var i sql.NullInt64
			dest = append(dest, &i)
			sets = append(sets, func() {
				if i.Valid {
					key.Period = &k.shown[i.Int64]
				}
			})
		case fieldCustomer:
			var id, email, crm, erp sql.NullString
			var shop sql.NullInt64
			dest = append(dest, &id, &email, &crm, &shop, &erp)
			sets = append(sets, func() {
				if id.Valid {
					key.Customer = &CustomerRef{Key: id.String, Email: email.String, CRMID: crm.String, ShopID: shop.Int64, ERPID: erp.String}
				}
			})
		case fieldSystems:
			var bits sql.NullInt64
			dest = append(dest, &bits)
			sets = append(sets, func() {
				key.Systems = []model.System{}
				for i, s := range systemBits {
					if bits.Int64&(1<<i) != 0 {
						key.Systems = append(key.Systems, s)
					}
				}
			})
		default:
			var v, also sql.NullString
			dest = append(dest, &v)
			if k.also != "" {
				dest = append(dest, &also)
			}
			sets = append(sets, func() {
				switch k.field {
				case fieldStatus:
					key.Status = v.String
				case fieldSKU:
					key.SKU, key.Name = v.String, also.String
				case fieldWarehouse:
					key.Warehouse = v.String
				case fieldStage:
					key.LifecycleStage = nullString(v)
				case fieldOwner:
					key.Owner = nullString(v)
				}
			})
		}
	}
	return dest, func() {
		for _, f := range sets {
			f()
		}
	}
}

// stats are the sum, least and greatest of a group's amount in stored
// units.
type stats struct{ sum, lo, hi sql.NullInt64 }

func (st *stats) dest() []any { return []any{&st.sum, &st.lo, &st.hi} }

// measured are an amount's sum, average (over n), least and greatest.
type measured struct{ sum, avg, min, max decimal.Decimal }

// read reads the stats as amounts (money) or quantities (quantity).
func (st *stats) read(as func(int64) decimal.Decimal, n int64) measured {
	return measured{as(st.sum.Int64), as(divRound(st.sum.Int64, n)), as(st.lo.Int64), as(st.hi.Int64)}
}
