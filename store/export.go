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

// orderRows reads orders oldest first, with their customers.
const orderRows = `
SELECT id, number, status, currency, created_at, paid_at, completed_at,
	total_e4, total_tax_e4, shipping_total_e4, discount_total_e4, customer_name, customer_email
FROM order_customers
WHERE created_at >= ? AND created_at < ? OR created_at IS NULL AND ?
ORDER BY created_at, id`

// EachOrder hands each order of q to each, oldest first, reading them as
// it goes: memory stays constant however many there are. It stops at the
// first error each returns.
func (s *Store) EachOrder(ctx context.Context, q OrderQuery, each func(*OrderRow) error) error {
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
	rows, err := s.db.QueryContext(ctx, orderRows, from, to, q.From.IsZero() && q.To.IsZero())
	if err != nil {
		return fmt.Errorf("read orders: %w", err)
	}
	defer rows.Close()
	var r OrderRow
	var created, paid, completed sql.NullInt64
	var total, tax, ship, disc int64
	for rows.Next() {
		if err := rows.Scan(&r.ID, &r.Number, &r.Status, &r.Currency, &created, &paid, &completed,
			&total, &tax, &ship, &disc, &r.CustomerName, &r.CustomerEmail); err != nil {
			return fmt.Errorf("read orders: %w", err)
		}
		r.Created, r.Paid, r.Completed = timeOf(created), optTime(paid), optTime(completed)
		r.Total, r.Tax, r.Shipping, r.Discount = money(total), money(tax), money(ship), money(disc)
		if err := each(&r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read orders: %w", err)
	}
	return nil
}
