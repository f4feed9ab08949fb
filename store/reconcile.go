package store

import (
	"context"
	"fmt"
	"time"

	"github.com/govalues/decimal"
)

// StockMismatch is a SKU whose stock the shop counts otherwise than the
// ERP: the shop's stock_quantity against what the ERP has available (on
// hand less reserved) over every warehouse.
type StockMismatch struct {
	SKU, Name    string
	ShopStock    int64
	ERPAvailable decimal.Decimal
	Difference   decimal.Decimal // the shop's less the ERP's
}

// StockMismatches lists the SKUs whose shop stock differs from the ERP's
// by at least minDifference (0: by anything), the greatest difference
// first, at most limit, and how many there are in all. A SKU the ERP has
// no stock of counts as 0 there.
func (s *Store) StockMismatches(ctx context.Context, minDifference decimal.Decimal, limit int) ([]StockMismatch, int, error) {
	least, err := e4(minDifference.Abs())
	if err != nil {
		return nil, 0, fmt.Errorf("%w: minDifference %s", ErrReport, minDifference)
	}
	least = max(least, 1)
	rows, err := s.db.QueryContext(ctx, `SELECT sku, name, stock_quantity, erp, count(*) OVER () FROM (
	SELECT p.sku, p.name, p.stock_quantity, COALESCE(sum(s.on_hand_e4 - s.reserved_e4), 0) AS erp
	FROM products p LEFT JOIN stock s ON s.sku = p.sku
	WHERE p.manage_stock AND p.stock_quantity IS NOT NULL AND p.sku <> ''
	GROUP BY p.sku, p.name, p.stock_quantity) AS m
WHERE abs(stock_quantity * 10000 - erp) >= ?
ORDER BY abs(stock_quantity * 10000 - erp) DESC, sku
LIMIT ?`, least, rowBound(limit))
	if err != nil {
		return nil, 0, fmt.Errorf("stock mismatches: %w", err)
	}
	defer rows.Close()
	var out []StockMismatch
	total := 0
	for rows.Next() {
		var m StockMismatch
		var erp int64
		if err := rows.Scan(&m.SKU, &m.Name, &m.ShopStock, &erp, &total); err != nil {
			return nil, 0, fmt.Errorf("stock mismatches: %w", err)
		}
		m.ERPAvailable = quantity(erp)
		m.Difference = quantity(m.ShopStock*10000 - erp)
		out = append(out, m)
	}
	return out, total, rows.Err()
}

// UninvoicedOrder is a completed shop order the ERP has not invoiced.
type UninvoicedOrder struct {
	ID          int64
	Number      string
	CompletedAt time.Time
	Currency    string
	Total       decimal.Decimal
}

// UninvoicedOrders lists the orders completed before completedBefore that
// no ERP invoice bills (a cancelled invoice does not count), the longest
// completed first, at most limit, and how many there are in all.
func (s *Store) UninvoicedOrders(ctx context.Context, completedBefore time.Time, limit int) ([]UninvoicedOrder, int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, number, completed_at, currency, total_e4, count(*) OVER () FROM orders o
WHERE status = 'completed' AND completed_at < ?
	AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.order_ref = CAST(o.id AS TEXT) AND i.doc_status < 2)
ORDER BY completed_at, id
LIMIT ?`, completedBefore.UnixNano(), rowBound(limit))
	if err != nil {
		return nil, 0, fmt.Errorf("uninvoiced orders: %w", err)
	}
	defer rows.Close()
	var out []UninvoicedOrder
	total := 0
	for rows.Next() {
		var u UninvoicedOrder
		var completed, amount int64
		if err := rows.Scan(&u.ID, &u.Number, &completed, &u.Currency, &amount, &total); err != nil {
			return nil, 0, fmt.Errorf("uninvoiced orders: %w", err)
		}
		u.CompletedAt, u.Total = time.Unix(0, completed).UTC(), money(amount)
		out = append(out, u)
	}
	return out, total, rows.Err()
}
