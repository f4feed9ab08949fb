package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/govalues/decimal"
)

// AgingQuery asks for receivables aging.
type AgingQuery struct {
	AsOf     time.Time // a date: 00:00 UTC of the day ages are counted on
	Customer string    // a customer's key; empty is all
	OrderBy  string    // "total", "over_90" or "most_overdue"
	Limit    int
}

// Aging is money owed by how long past due: current (not yet due), 1-30,
// 31-60, 61-90 and over 90 days.
type Aging struct {
	Current, Days1to30, Days31to60, Days61to90, Over90, Total decimal.Decimal
}

// CustomerAging is one customer's receivables in one currency.
type CustomerAging struct {
	Customer CustomerRef
	Currency string
	Invoices int64
	Aging
}

// agingColumns are the buckets' sums over invoices i, given asOf and the
// day bounds as arguments (see agingArgs), in Aging's order.
const agingColumns = `
	sum(CASE WHEN i.due_date IS NULL OR i.due_date >= ? THEN i.outstanding_e4 ELSE 0 END),
	sum(CASE WHEN i.due_date < ? AND i.due_date >= ? THEN i.outstanding_e4 ELSE 0 END),
	sum(CASE WHEN i.due_date < ? AND i.due_date >= ? THEN i.outstanding_e4 ELSE 0 END),
	sum(CASE WHEN i.due_date < ? AND i.due_date >= ? THEN i.outstanding_e4 ELSE 0 END),
	sum(CASE WHEN i.due_date < ? THEN i.outstanding_e4 ELSE 0 END),
	sum(i.outstanding_e4)`

// agingArgs are agingColumns' arguments: a due date d days before asOf is
// d days past due.
func agingArgs(asOf time.Time) []any {
	day := func(d int) int64 { return asOf.AddDate(0, 0, -d).UnixNano() }
	return []any{day(0), day(0), day(30), day(30), day(60), day(60), day(90), day(90)}
}

// ReceivablesAging sums what each customer owes on submitted invoices by
// how long past due, per currency, and the totals of every customer.
func (s *Store) ReceivablesAging(ctx context.Context, q AgingQuery) (totals, customers []CustomerAging, err error) {
	order, ok := agingOrders[q.OrderBy]
	if !ok {
		return nil, nil, fmt.Errorf("%w: no aging sort %q", ErrReport, q.OrderBy)
	}
	if err := s.consolidateCustomers(ctx); err != nil {
		return nil, nil, err
	}
	cond, args := "", agingArgs(q.AsOf)
	if q.Customer != "" {
		cond, args = " AND customer_key = ?", append(args, q.Customer)
	}
	// Each invoice with the key of its customer (the ERP customer's
	// consolidated one), and the open ones only.
	from := `FROM (` + withInvoiceCustomers(`(SELECT * FROM invoices WHERE doc_status = 1 AND outstanding_e4 > 0)`) + `) AS i WHERE 1 = 1` + cond
	rows, err := s.db.QueryContext(ctx, `SELECT customer_key, max(customer_email), max(customer_crm_id), max(customer_shop_id), max(customer_erp_id),
	outstanding_currency, count(*), `+agingColumns+` AS total `+from+`
GROUP BY customer_key, outstanding_currency`, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("receivables aging: %w", err)
	}
	defer rows.Close()
	byCurrency := map[string]*CustomerAging{}
	var all []CustomerAging
	for rows.Next() {
		var c CustomerAging
		var email, crm sql.NullString
		var shop sql.NullInt64
		var b [6]int64
		if err := rows.Scan(&c.Customer.Key, &email, &crm, &shop, &c.Customer.ERPID, &c.Currency, &c.Invoices,
			&b[0], &b[1], &b[2], &b[3], &b[4], &b[5]); err != nil {
			return nil, nil, fmt.Errorf("receivables aging: %w", err)
		}
		c.Customer.Email, c.Customer.CRMID, c.Customer.ShopID = email.String, crm.String, shop.Int64
		c.Aging = Aging{money(b[0]), money(b[1]), money(b[2]), money(b[3]), money(b[4]), money(b[5])}
		all = append(all, c)
		t := byCurrency[c.Currency]
		if t == nil {
			t = &CustomerAging{Currency: c.Currency}
			byCurrency[c.Currency] = t
		}
		t.Invoices += c.Invoices
		t.Aging = t.Aging.add(c.Aging)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("receivables aging: %w", err)
	}
	slices.SortFunc(all, order)
	all = all[:min(len(all), rowBound(q.Limit))]
	for _, t := range byCurrency {
		totals = append(totals, *t)
	}
	slices.SortFunc(totals, func(a, b CustomerAging) int { return strings.Compare(a.Currency, b.Currency) })
	return totals, all, nil
}

// agingOrders sort customers' agings, greatest first, then by customer and
// currency so that the order is the same every time.
var agingOrders = map[string]func(a, b CustomerAging) int{
	"total":   func(a, b CustomerAging) int { return byAmounts(a, b, a.Total, b.Total) },
	"over_90": func(a, b CustomerAging) int { return byAmounts(a, b, a.Over90, b.Over90) },
	"most_overdue": func(a, b CustomerAging) int {
		return byAmounts(a, b, a.Over90, b.Over90, a.Days61to90, b.Days61to90, a.Days31to60, b.Days31to60, a.Days1to30, b.Days1to30)
	},
}

// byAmounts compares pairs of amounts, greatest first, then the customers'
// keys and currencies.
func byAmounts(a, b CustomerAging, pairs ...decimal.Decimal) int {
	for i := 0; i < len(pairs); i += 2 {
		if c := pairs[i+1].Cmp(pairs[i]); c != 0 {
			return c
		}
	}
	if c := strings.Compare(a.Customer.Key, b.Customer.Key); c != 0 {
		return c
	}
	return strings.Compare(a.Currency, b.Currency)
}

// add is the sum of two agings.
func (a Aging) add(b Aging) Aging {
	sum := func(x, y decimal.Decimal) decimal.Decimal { s, _ := x.Add(y); return s }
	return Aging{sum(a.Current, b.Current), sum(a.Days1to30, b.Days1to30), sum(a.Days31to60, b.Days31to60),
		sum(a.Days61to90, b.Days61to90), sum(a.Over90, b.Over90), sum(a.Total, b.Total)}
}
