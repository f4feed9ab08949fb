package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/govalues/decimal"
)

// OrderQuery selects orders by creation time: From inclusive, To
// exclusive; a zero bound is open. An order without a creation time is
// read only when both are.
type OrderQuery struct {
	From, To time.Time
}

// OrderRow is one order as reports and exports read it: its totals and
// the consolidated customer it belongs to.
type OrderRow struct {
	ID                          int64
	Number, Status, Currency    string
	Created                     time.Time
	Paid, Completed             *time.Time
	Total, Tax, Shipping        decimal.Decimal
	Discount                    decimal.Decimal
	CustomerName, CustomerEmail string
}

// OrderLineRow is one order line as exports read it, with its order.
type OrderLineRow struct {
	Order                       *OrderRow
	ID, ProductID, Quantity     int64
	SKU, Name                   string
	Price, Subtotal, Total, Tax decimal.Decimal
}

// orderColumns are an OrderRow's columns of order_customers, as
// scanOrder reads them.
const orderColumns = `o.id, o.number, o.status, o.currency, o.created_at, o.paid_at, o.completed_at,
	o.total_e4, o.total_tax_e4, o.shipping_total_e4, o.discount_total_e4, o.customer_name, o.customer_email`

// ordersCreated selects the orders created in a range, oldest first.
const ordersCreated = `
WHERE o.created_at >= ? AND o.created_at < ? OR o.created_at IS NULL AND ?
ORDER BY o.created_at, o.id`

// EachOrder hands each order of q to each, oldest first, reading them as
// it goes: memory stays constant however many there are. It stops at the
// first error each returns.
func (s *Store) EachOrder(ctx context.Context, q OrderQuery, each func(*OrderRow) error) error {
	var r OrderRow
	var o orderScan
	return s.eachRow(ctx, "read orders", `SELECT `+orderColumns+` FROM order_customers o`+ordersCreated, q,
		func(rows *sql.Rows) error {
			if err := rows.Scan(o.dest(&r)...); err != nil {
				return err
			}
			o.fill(&r)
			return each(&r)
		})
}

// EachOrderLine hands each line of the orders of q to each, with its
// order, oldest order first, in constant memory as EachOrder.
func (s *Store) EachOrderLine(ctx context.Context, q OrderQuery, each func(*OrderLineRow) error) error {
	r := OrderLineRow{Order: &OrderRow{}}
	var o orderScan
	var price, subtotal, total, tax int64
	return s.eachRow(ctx, "read order lines", `SELECT `+orderColumns+`,
	l.id, l.product_id, l.sku, l.name, l.quantity, l.price_e4, l.subtotal_e4, l.total_e4, l.total_tax_e4
FROM order_customers o JOIN order_lines l ON l.order_id = o.id`+ordersCreated+`, l.id`, q,
		func(rows *sql.Rows) error {
			if err := rows.Scan(append(o.dest(r.Order), &r.ID, &r.ProductID, &r.SKU, &r.Name, &r.Quantity,
				&price, &subtotal, &total, &tax)...); err != nil {
				return err
			}
			o.fill(r.Order)
			r.Price, r.Subtotal, r.Total, r.Tax = money(price), money(subtotal), money(total), money(tax)
			return each(&r)
		})
}

// orderScan holds the columns of an OrderRow that need converting.
type orderScan struct {
	created, paid, completed sql.NullInt64
	total, tax, ship, disc   int64
}

func (o *orderScan) dest(r *OrderRow) []any {
	return []any{&r.ID, &r.Number, &r.Status, &r.Currency, &o.created, &o.paid, &o.completed,
		&o.total, &o.tax, &o.ship, &o.disc, &r.CustomerName, &r.CustomerEmail}
}

func (o *orderScan) fill(r *OrderRow) {
	r.Created, r.Paid, r.Completed = timeOf(o.created), optTime(o.paid), optTime(o.completed)
	r.Total, r.Tax, r.Shipping, r.Discount = money(o.total), money(o.tax), money(o.ship), money(o.disc)
}

// eachRow runs query over the orders created in q's range, with the
// customers consolidated, and hands each row to scan; what stops it is
// reported as what.
func (s *Store) eachRow(ctx context.Context, what, query string, q OrderQuery, scan func(*sql.Rows) error) error {
	from, to := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.From.IsZero() {
		from = q.From.UnixNano()
	}
	if !q.To.IsZero() {
		to = q.To.UnixNano()
	}
	if err := s.consolidateCustomers(ctx); err != nil {
		return err
	}
	rows, err := s.db.QueryContext(ctx, query, from, to, q.From.IsZero() && q.To.IsZero())
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
