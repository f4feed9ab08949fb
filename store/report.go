package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/govalues/decimal"
)

// Bucket is a span of calendar time a report groups by.
type Bucket int

// The buckets, from the shortest.
const (
	Day Bucket = iota
	Week
	Month
	Quarter
	Year
)

// maxBuckets bounds the buckets of a report's time dimension.
const maxBuckets = 5000

// MaxRows is the most rows a report or list gives.
const MaxRows = 10_000

// rowBound is a report's limit within 1 and MaxRows; none (0) is MaxRows.
func rowBound(limit int) int {
	if limit <= 0 {
		return MaxRows
	}
	return min(limit, MaxRows)
}

// ErrReport is a report asked for in a way the store cannot answer; its
// message says why.
var ErrReport = errors.New("report")

// Period is one bucket of time in a zone.
type Period struct {
	Start, End time.Time
	Label      string
}

// periods are the buckets of a zone's calendar from the one holding first
// to the one holding last.
func periods(first, last time.Time, b Bucket, loc *time.Location) ([]Period, error) {
	start := bucketStart(first.In(loc), b)
	var out []Period
	for !start.After(last) {
		if len(out) == maxBuckets {
			return nil, fmt.Errorf("%w: more than %d buckets from %s to %s: group by a longer bucket or narrow the range",
				ErrReport, maxBuckets, first.Format(time.DateOnly), last.Format(time.DateOnly))
		}
		end := nextBucket(start, b)
		out = append(out, Period{Start: start, End: end, Label: bucketLabel(start, b)})
		start = end
	}
	return out, nil
}

func bucketStart(t time.Time, b Bucket) time.Time {
	y, m, d := t.Date()
	switch b {
	case Week:
		return time.Date(y, m, d-(int(t.Weekday())+6)%7, 0, 0, 0, 0, t.Location())
	case Month:
		return time.Date(y, m, 1, 0, 0, 0, 0, t.Location())
	case Quarter:
		return time.Date(y, (m-1)/3*3+1, 1, 0, 0, 0, 0, t.Location())
	case Year:
		return time.Date(y, 1, 1, 0, 0, 0, 0, t.Location())
	}
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

func nextBucket(start time.Time, b Bucket) time.Time {
	switch b {
	case Week:
		return start.AddDate(0, 0, 7)
	case Month:
		return start.AddDate(0, 1, 0)
	case Quarter:
		return start.AddDate(0, 3, 0)
	case Year:
		return start.AddDate(1, 0, 0)
	}
	return start.AddDate(0, 0, 1)
}

func bucketLabel(start time.Time, b Bucket) string {
	switch b {
	case Week:
		y, w := start.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	case Month:
		return start.Format("2006-01")
	case Quarter:
		return fmt.Sprintf("%d-Q%d", start.Year(), (int(start.Month())-1)/3+1)
	case Year:
		return start.Format("2006")
	}
	return start.Format(time.DateOnly)
}

// bucketOf is an SQL expression giving the index of the period holding
// column's time, by a binary search over the periods' bounds in UTC (the
// zone's calendar is Go's, which SQLite does not have); NULL for NULL.
func bucketOf(column string, ps []Period) string {
	var tree func(lo, hi int) string
	tree = func(lo, hi int) string {
		if hi-lo == 1 {
			return strconv.Itoa(lo)
		}
		mid := (lo + hi) / 2
		return fmt.Sprintf("CASE WHEN %s < %d THEN %s ELSE %s END", column, ps[mid].Start.UnixNano(), tree(lo, mid), tree(mid, hi))
	}
	return fmt.Sprintf("CASE WHEN %s IS NULL THEN NULL ELSE %s END", column, tree(0, len(ps)))
}

// OrderDimension is what orders are grouped by.
type OrderDimension string

// The order dimensions.
const (
	ByCreated        OrderDimension = "created_at"
	ByPaid           OrderDimension = "paid_at"
	ByCompleted      OrderDimension = "completed_at"
	ByStatus         OrderDimension = "status"
	ByCustomer       OrderDimension = "customer"
	ByLifecycleStage OrderDimension = "customer_lifecycle_stage"
	ByOwner          OrderDimension = "customer_owner"
)

// IsTime reports whether the dimension is a time, grouped by buckets.
func (d OrderDimension) IsTime() bool { return d == ByCreated || d == ByPaid || d == ByCompleted }

// customer reports whether the dimension needs the order's customer.
func (d OrderDimension) customer() bool {
	return d == ByCustomer || d == ByLifecycleStage || d == ByOwner
}

// OrderSort is what an order report's groups are sorted by: "key" (the
// dimensions in order) or a measure: "count", "customers", "total",
// "avg_total", "tax", "shipping", "discount".
type OrderSort struct {
	By   string
	Desc bool
}

// OrderReportQuery asks for orders grouped and measured.
type OrderReportQuery struct {
	From, To time.Time // created in [From, To); zero is open
	Statuses []string  // the shop's names; none is all
	Customer string    // a customer's key; empty is all
	GroupBy  []OrderDimension
	Bucket   Bucket
	Zone     *time.Location
	OrderBy  []OrderSort
	Limit    int
	// Customers counts each group's distinct customers, which needs each
	// order's customer.
	Customers bool
	// Amounts are the measures wanted, as an aggregate and an amount:
	// "sum.total", "avg.tax", "min.shipping", "max.discount"…; nil is all.
	// Each costs a pass over the orders, so a report measures only these
	// (and what it sorts by); the others are zero.
	Amounts []string
}

// OrderAmounts are an order group's amounts of one measure.
type OrderAmounts struct {
	Total, Tax, Shipping, Discount decimal.Decimal
}

// CustomerRef is a consolidated customer as the store keys it: its key (a
// customer's global ID key) and each system's key.
type CustomerRef struct {
	Key, Email, CRMID, ERPID string
	ShopID                   int64
}

// OrderGroup is one group of an order report.
type OrderGroup struct {
	Periods          map[OrderDimension]*Period // the time dimensions' buckets; nil for an order without that time
	Status, Currency string
	Customer         *CustomerRef
	LifecycleStage   *string
	Owner            *string
	Count, Customers int64
	Sum, Avg         OrderAmounts
	Min, Max         OrderAmounts
}

// orderAmounts are the amounts an order report measures, in OrderAmounts
// order: each one's name and column.
var orderAmounts = []struct{ name, column string }{
	{"total", "total_e4"}, {"tax", "total_tax_e4"}, {"shipping", "shipping_total_e4"}, {"discount", "discount_total_e4"},
}

// wants reports whether the report measures an amount by an aggregate
// (sum, min or max; an average is a sum's).
func (q OrderReportQuery) wants(aggregate, amount string) bool {
	return wantsAmount(q.Amounts, q.OrderBy, aggregate, amount)
}

// wantsAmount reports whether a report measures an amount by an aggregate
// (sum, min or max; an average is a sum's), given the amounts asked for
// ("sum.total", "avg.tax"…; nil is all) and what it sorts by.
func wantsAmount(amounts []string, sorts []OrderSort, aggregate, amount string) bool {
	if amounts == nil {
		return true
	}
	asked := func(aggregate string) bool { return slices.Contains(amounts, aggregate+"."+amount) }
	for _, o := range sorts {
		if o.By == amount || o.By == "avg_"+amount {
			return aggregate == "sum" || asked(aggregate)
		}
	}
	return asked(aggregate) || aggregate == "sum" && asked("avg")
}

// OrderReport groups and measures orders, in two steps: the orders are
// grouped by the dimensions of their own and, where the report needs the
// customer, by the shop account and billing address that find it; those
// groups, far fewer than the orders, are joined to their customers and
// grouped again by every dimension.
func (s *Store) OrderReport(ctx context.Context, q OrderReportQuery) ([]OrderGroup, error) {
	if q.Zone == nil {
		q.Zone = time.UTC
	}
	needCustomer := q.Customer != "" || q.Customers
	for _, d := range q.GroupBy {
		needCustomer = needCustomer || d.customer()
	}
	var where []string
	var args []any
	if !q.From.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, q.From.UnixNano())
	}
	if !q.To.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, q.To.UnixNano())
	}
	if len(q.Statuses) > 0 {
		where, args = append(where, "status IN "+argList(len(q.Statuses))), append(args, anys(q.Statuses)...)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}

	// Step one: the orders by their own dimensions (kN), the currency and,
	// for the customer, the account and address.
	var inner, innerGroup, outer, outerGroup []string
	keys := make([]string, len(q.GroupBy))
	buckets := map[OrderDimension][]Period{}
	for i, d := range q.GroupBy {
		keys[i] = fmt.Sprintf("k%d", i)
		switch {
		case d.IsTime():
			ps, err := s.orderPeriods(ctx, cond, args, d, q.Bucket, q.Zone)
			if err != nil {
				return nil, err
			}
			buckets[d] = ps
			expr := "NULL"
			if len(ps) > 0 {
				expr = bucketOf(string(d), ps)
			}
			inner, innerGroup = append(inner, expr+" AS "+keys[i]), append(innerGroup, keys[i])
			outer = append(outer, keys[i])
		case d == ByStatus:
			inner, innerGroup = append(inner, "status AS "+keys[i]), append(innerGroup, keys[i])
			outer = append(outer, keys[i])
		case d == ByCustomer:
			outer = append(outer, "customer_key AS "+keys[i], "max(customer_email)", "max(customer_crm_id)", "max(customer_shop_id)", "max(customer_erp_id)")
		default:
			outer = append(outer, string(d)+" AS "+keys[i])
		}
		outerGroup = append(outerGroup, keys[i])
	}
	inner = append(inner, "currency", "count(*) AS n")
	innerGroup = append(innerGroup, "currency")
	if needCustomer {
		// In the order of orders_accounts, which holds what a report
		// reads of the orders.
		inner = append(inner, "customer_id", "billing_email_normalized", noBillingName)
		innerGroup = append([]string{"customer_id", "billing_email_normalized"}, innerGroup...)
	}
	outer = append(outer, "currency", "sum(n) AS count")
	if q.Customers {
		outer = append(outer, "count(DISTINCT customer_key) AS customers")
	} else {
		outer = append(outer, "0 AS customers")
	}
	for _, a := range orderAmounts {
		c := a.column
		for _, m := range []struct{ aggregate, alias string }{{"sum", "s_"}, {"min", "lo_"}, {"max", "hi_"}} {
			expr := "CAST(NULL AS BIGINT)" // typed: PostgreSQL sums no text
			if q.wants(m.aggregate, a.name) {
				expr = m.aggregate + "(" + c + ")"
			}
			inner = append(inner, expr+" AS "+m.alias+c)
		}
		outer = append(outer, "sum(s_"+c+") AS sum_"+c, "min(lo_"+c+")", "max(hi_"+c+")")
	}
	outerGroup = append(outerGroup, "currency")
	from := "(SELECT " + strings.Join(inner, ", ") + " FROM orders" + cond + " GROUP BY " + strings.Join(innerGroup, ", ") + ")"

	// Step two: joined to the customers, grouped by every dimension.
	outerCond := ""
	if needCustomer {
		if err := s.consolidateCustomers(ctx); err != nil {
			return nil, err
		}
		from = "(" + withCustomers(from) + ")"
		if q.Customer != "" {
			outerCond, args = " WHERE customer_key = ?", append(args, q.Customer)
		}
	}
	// Text sorts byte by byte, in PostgreSQL as in SQLite.
	sorted := make([]string, len(keys))
	for i, d := range q.GroupBy {
		sorted[i] = keys[i]
		if !d.IsTime() {
			sorted[i] = s.bytewise(keys[i])
		}
	}
	order, err := orderReportOrder(q, sorted, s.bytewise("currency"))
	if err != nil {
		return nil, err
	}
	// Sorted outside, so that the order may be an expression of the
	// groups' columns in either database.
	query := "SELECT * FROM (SELECT " + strings.Join(outer, ", ") + " FROM " + from + " AS o" + outerCond +
		" GROUP BY " + strings.Join(outerGroup, ", ") + ") AS g ORDER BY " + order + " LIMIT " + strconv.Itoa(rowBound(q.Limit))
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("order report: %w", err)
	}
	defer rows.Close()
	var out []OrderGroup
	for rows.Next() {
		g, err := scanOrderGroup(rows, q.GroupBy, buckets)
		if err != nil {
			return nil, fmt.Errorf("order report: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// orderPeriods are the buckets spanning a time dimension's values among the
// orders a report reads.
func (s *Store) orderPeriods(ctx context.Context, cond string, args []any, d OrderDimension, b Bucket, loc *time.Location) ([]Period, error) {
	return s.spanPeriods(ctx, "orders"+cond, args, string(d), b, loc)
}

// spanPeriods are the buckets spanning a time column's values among the
// rows a report reads (from: a table or join and its WHERE).
func (s *Store) spanPeriods(ctx context.Context, from string, args []any, column string, b Bucket, loc *time.Location) ([]Period, error) {
	var first, last sql.NullInt64
	if err := s.db.QueryRowContext(ctx, "SELECT min("+column+"), max("+column+") FROM "+from, args...).Scan(&first, &last); err != nil {
		return nil, fmt.Errorf("report periods: %w", err)
	}
	if !first.Valid {
		return nil, nil
	}
	return periods(timeOf(first), timeOf(last), b, loc)
}

// orderReportOrder is the ORDER BY of an order report, its keys and
// currency as they sort.
func orderReportOrder(q OrderReportQuery, keys []string, currency string) (string, error) {
	measures := map[string]string{"count": "count", "customers": "customers", "total": "sum_total_e4",
		"avg_total": "sum_total_e4 * 1.0 / count", "tax": "sum_total_tax_e4", "shipping": "sum_shipping_total_e4", "discount": "sum_discount_total_e4"}
	for _, o := range q.OrderBy {
		if o.By == "customers" && !q.Customers {
			return "", fmt.Errorf("%w: sorting by customers needs them counted", ErrReport)
		}
	}
	return reportOrder(q.OrderBy, measures, keys, currency)
}

// reportOrder is the ORDER BY of a report's groups: the sorts asked for
// ("key": the keys in order; else a measure, as measures writes it), then
// the keys and ties, so that the order is the same every time. NULL comes
// first ascending and last descending, in PostgreSQL as in SQLite.
func reportOrder(sorts []OrderSort, measures map[string]string, keys []string, ties ...string) (string, error) {
	var parts []string
	for _, o := range sorts {
		dir := " ASC NULLS FIRST"
		if o.Desc {
			dir = " DESC NULLS LAST"
		}
		if o.By == "key" {
			for _, k := range keys {
				parts = append(parts, k+dir)
			}
			continue
		}
		m, ok := measures[o.By]
		if !ok {
			return "", fmt.Errorf("%w: no measure %q to sort by", ErrReport, o.By)
		}
		parts = append(parts, m+dir)
	}
	for _, k := range keys {
		parts = append(parts, k+" NULLS FIRST")
	}
	for _, k := range ties {
		parts = append(parts, k+" NULLS FIRST")
	}
	return strings.Join(parts, ", "), nil
}

// scanOrderGroup reads one group's row.
func scanOrderGroup(rows *sql.Rows, dims []OrderDimension, buckets map[OrderDimension][]Period) (OrderGroup, error) {
	g := OrderGroup{Periods: map[OrderDimension]*Period{}}
	var dest []any
	idx := make([]sql.NullInt64, len(dims))
	texts := make([]sql.NullString, len(dims))
	var custEmail, custCRM, custERP sql.NullString
	var custShop sql.NullInt64
	for i, d := range dims {
		switch {
		case d.IsTime():
			dest = append(dest, &idx[i])
		case d == ByCustomer:
			dest = append(dest, &texts[i], &custEmail, &custCRM, &custShop, &custERP)
		default:
			dest = append(dest, &texts[i])
		}
	}
	var sums, mins, maxs [4]sql.NullInt64
	dest = append(dest, &g.Currency, &g.Count, &g.Customers)
	for i := range orderAmounts {
		dest = append(dest, &sums[i], &mins[i], &maxs[i])
	}
	if err := rows.Scan(dest...); err != nil {
		return g, err
	}
	for i, d := range dims {
		switch {
		case d.IsTime():
			if idx[i].Valid {
				g.Periods[d] = &buckets[d][idx[i].Int64]
			} else {
				g.Periods[d] = nil
			}
		case d == ByStatus:
			g.Status = texts[i].String
		case d == ByCustomer:
			if texts[i].Valid {
				g.Customer = &CustomerRef{Key: texts[i].String, Email: custEmail.String, CRMID: custCRM.String, ShopID: custShop.Int64, ERPID: custERP.String}
			}
		case d == ByLifecycleStage:
			g.LifecycleStage = nullString(texts[i])
		case d == ByOwner:
			g.Owner = nullString(texts[i])
		}
	}
	amounts := func(vs [4]sql.NullInt64) OrderAmounts {
		return OrderAmounts{money(vs[0].Int64), money(vs[1].Int64), money(vs[2].Int64), money(vs[3].Int64)}
	}
	g.Sum, g.Min, g.Max = amounts(sums), amounts(mins), amounts(maxs)
	var avg [4]sql.NullInt64
	for i := range sums {
		avg[i] = sql.NullInt64{Int64: divRound(sums[i].Int64, g.Count), Valid: true}
	}
	g.Avg = amounts(avg)
	return g, nil
}

// divRound is sum / n in stored units, rounded to the cent, half to even.
func divRound(sum, n int64) int64 {
	if n == 0 {
		return 0
	}
	q, err := decimal.MustNew(sum, scale).Quo(decimal.MustNew(n, 0))
	if err != nil {
		return 0
	}
	v, _ := e4(q.Round(2)) // a quotient of stored units fits them
	return v
}

func nullString(s sql.NullString) *string {
	if !s.Valid || s.String == "" {
		return nil
	}
	return &s.String
}
