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
	"github.com/trestlehq/trestle/events"
	"github.com/trestlehq/trestle/graph/model"
)

// table is one record table: its key columns and the columns a put writes
// (the key columns first, modified_at and read_at last).
type table struct {
	name   string
	system model.System
	kind   Kind
	key    []string
	cols   []string
}

var (
	ordersTable   = table{"orders", model.SystemShop, events.KindOrder, []string{"id"}, []string{"id", "number", "status", "currency", "total_e4", "total_tax_e4", "shipping_total_e4", "discount_total_e4", "customer_id", "billing_email", "billing_name", "created_at", "paid_at", "completed_at", "billing_email_normalized"}}
	productsTable = table{"products", model.SystemShop, events.KindProduct, []string{"id"}, []string{"id", "sku", "name", "status", "currency", "price_e4", "regular_price_e4", "sale_price_e4", "manage_stock", "stock_quantity", "stock_status"}}
	stockTable    = table{"stock", model.SystemERP, events.KindStock, []string{"sku", "warehouse"}, []string{"sku", "warehouse", "on_hand_e4", "reserved_e4", "ordered_e4", "projected_e4"}}
	invoicesTable = table{"invoices", model.SystemERP, events.KindInvoice, []string{"id"}, []string{"id", "customer_id", "status", "doc_status", "issue_date", "due_date", "currency", "total_e4", "outstanding_currency", "outstanding_e4", "order_ref"}}
	customerCols  = []string{"join_key", "email_normalized", "customer_name", "customer_company", "customer_phone", "customer_lifecycle_stage", "customer_owner"}
	contactsTable = table{"crm_contacts", model.SystemCRM, events.KindCustomer, []string{"id"}, append([]string{"id", "email", "first_name", "last_name", "phone", "company", "lifecycle_stage", "owner_id", "created_at"}, customerCols...)}
	shopCustTable = table{"shop_customers", model.SystemShop, events.KindCustomer, []string{"id"}, append([]string{"id", "email", "first_name", "last_name", "company", "phone", "is_paying_customer", "created_at"}, customerCols...)}
	erpCustTable  = table{"erp_customers", model.SystemERP, events.KindCustomer, []string{"id"}, append([]string{"id", "name", "email", "phone", "type", "customer_group", "territory", "currency", "credit_limit_currency", "credit_limit_e4", "disabled", "created_at"}, customerCols...)}
	tables        = []table{ordersTable, productsTable, stockTable, invoicesTable, contactsTable, shopCustTable, erpCustTable}
)

// upsert inserts a row or updates it when the row is newer than the stored
// one, or as new and read no earlier (an upstream that stamps whole seconds
// gives two states of a record one time: the one read later is the later
// state), unless the record was deleted at or after the row's time. The
// arguments are the columns, modified_at, read_at, then the key the
// deletion is recorded under and modified_at again.
func (t table) upsert() string {
	cols := append(append([]string{}, t.cols...), "modified_at", "read_at")
	set := make([]string, 0, len(cols))
	for _, c := range cols[len(t.key):] {
		set = append(set, c+" = excluded."+c)
	}
	return fmt.Sprintf(`INSERT INTO %s AS t (%s) SELECT %s
WHERE NOT EXISTS (SELECT 1 FROM deletions WHERE system = '%s' AND kind = '%s' AND key = ? AND deleted_at >= ?)
ON CONFLICT (%s) DO UPDATE SET %s
WHERE excluded.modified_at > t.modified_at OR excluded.modified_at = t.modified_at AND excluded.read_at >= t.read_at`,
		t.name, strings.Join(cols, ", "), strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", "),
		t.system, t.kind, strings.Join(t.key, ", "), strings.Join(set, ", "))
}

// row is one record's put: its column values, its modification time and
// the key a deletion of it is recorded under.
type row struct {
	values   []any
	modified time.Time
	key      string
}

// put writes rows in one transaction, in order; after runs for each row the
// upsert wrote (it was new or not older than the stored one).
func (s *Store) put(ctx context.Context, t table, readAt time.Time, n int, rowOf func(i int) (row, error), after func(tx tx, i int) error) error {
	if n == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return fmt.Errorf("put %s: %w", t.name, err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, t.upsert())
	if err != nil {
		return fmt.Errorf("put %s: %w", t.name, err)
	}
	defer stmt.Close()
	read := readAt.UTC().UnixNano()
	for i := range n {
		r, err := rowOf(i)
		if err != nil {
			return fmt.Errorf("put %s %q: %w", t.name, r.key, err)
		}
		mod := r.modified.UnixNano()
		res, err := stmt.ExecContext(ctx, append(r.values, mod, read, r.key, mod)...)
		if err != nil {
			return fmt.Errorf("put %s %q: %w", t.name, r.key, err)
		}
		if after == nil {
			continue
		}
		if written, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("put %s %q: %w", t.name, r.key, err)
		} else if written > 0 {
			if err := after(tx, i); err != nil {
				return fmt.Errorf("put %s %q: %w", t.name, r.key, err)
			}
		}
	}
	if err := customersChanged(ctx, tx, t); err != nil {
		return fmt.Errorf("put %s: %w", t.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("put %s: %w", t.name, err)
	}
	return nil
}

// customersChanged counts a write of customer records, which makes
// consolidated_customers stale.
func customersChanged(ctx context.Context, tx tx, t table) error {
	if t.kind != events.KindCustomer {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE versions SET customers = customers + 1`)
	return err
}

// amounts converts amounts (decimal.Decimal, or *decimal.Decimal for one
// that may be absent) to stored units, stopping at the first error.
func amounts(ds ...any) ([]any, error) {
	out := make([]any, len(ds))
	for i, d := range ds {
		var err error
		switch d := d.(type) {
		case decimal.Decimal:
			out[i], err = e4(d)
		case *decimal.Decimal:
			out[i], err = optE4(d)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PutOrders writes shop orders with their lines; an order's stored lines
// are replaced with its lines whenever the order is written.
func (s *Store) PutOrders(ctx context.Context, readAt time.Time, orders []model.Order) error {
	read := readAt.UTC().UnixNano()
	var deleteLines, insertLine *sql.Stmt
	return s.put(ctx, ordersTable, readAt, len(orders), func(i int) (row, error) {
		o := &orders[i]
		r := row{modified: o.ModifiedAt, key: strconv.FormatInt(o.ID, 10)}
		a, err := amounts(o.Total, o.TotalTax, o.ShippingTotal, o.DiscountTotal)
		if err != nil {
			return r, err
		}
		r.values = []any{o.ID, o.Number, o.Status, o.Currency, a[0], a[1], a[2], a[3], o.CustomerID, o.BillingEmail, o.BillingName, ns(o.CreatedAt), optNs(o.PaidAt), optNs(o.CompletedAt), model.NormalizeEmail(o.BillingEmail)}
		return r, nil
	}, func(tx tx, i int) error {
		// Prepared once a transaction (which closes them when it ends).
		if deleteLines == nil {
			var err error
			if deleteLines, err = tx.PrepareContext(ctx, `DELETE FROM order_lines WHERE order_id = ?`); err != nil {
				return fmt.Errorf("replace lines: %w", err)
			}
			if insertLine, err = tx.PrepareContext(ctx, `INSERT INTO order_lines (order_id, id, product_id, sku, name, currency, quantity, price_e4, subtotal_e4, total_e4, total_tax_e4, modified_at, read_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
				return fmt.Errorf("replace lines: %w", err)
			}
		}
		o := &orders[i]
		if _, err := deleteLines.ExecContext(ctx, o.ID); err != nil {
			return fmt.Errorf("replace lines: %w", err)
		}
		for _, l := range o.Lines {
			a, err := amounts(l.Price, l.Subtotal, l.Total, l.TotalTax)
			if err != nil {
				return fmt.Errorf("line %d: %w", l.ID, err)
			}
			if _, err := insertLine.ExecContext(ctx, o.ID, l.ID, l.ProductID, l.SKU, l.Name, l.Currency, l.Quantity, a[0], a[1], a[2], a[3], o.ModifiedAt.UnixNano(), read); err != nil {
				return fmt.Errorf("line %d: %w", l.ID, err)
			}
		}
		return nil
	})
}

// PutProducts writes shop products.
func (s *Store) PutProducts(ctx context.Context, readAt time.Time, products []model.Product) error {
	return s.put(ctx, productsTable, readAt, len(products), func(i int) (row, error) {
		p := &products[i]
		r := row{modified: p.ModifiedAt, key: strconv.FormatInt(p.ID, 10)}
		a, err := amounts(p.Price, p.RegularPrice, p.SalePrice)
		if err != nil {
			return r, err
		}
		r.values = []any{p.ID, p.SKU, p.Name, p.Status, p.Currency, a[0], a[1], a[2], p.ManageStock, p.StockQuantity, p.StockStatus}
		return r, nil
	}, nil)
}

// PutStock writes ERP stock levels, one per SKU and warehouse.
func (s *Store) PutStock(ctx context.Context, readAt time.Time, levels []model.StockLevel) error {
	return s.put(ctx, stockTable, readAt, len(levels), func(i int) (row, error) {
		l := &levels[i]
		r := row{modified: l.ModifiedAt, key: l.SKU}
		a, err := amounts(l.OnHand, l.Reserved, l.Ordered, l.Projected)
		if err != nil {
			return r, err
		}
		r.values = []any{l.SKU, l.Warehouse, a[0], a[1], a[2], a[3]}
		return r, nil
	}, nil)
}

// PutInvoices writes ERP sales invoices.
func (s *Store) PutInvoices(ctx context.Context, readAt time.Time, invoices []model.Invoice) error {
	return s.put(ctx, invoicesTable, readAt, len(invoices), func(i int) (row, error) {
		v := &invoices[i]
		r := row{modified: v.ModifiedAt, key: v.ID}
		a, err := amounts(v.Total.Amount, v.Outstanding.Amount)
		if err != nil {
			return r, err
		}
		r.values = []any{v.ID, v.CustomerID, v.Status, v.DocStatus, ns(v.IssueDate), ns(v.DueDate), v.Total.Currency, a[0], v.Outstanding.Currency, a[1], v.OrderRef}
		return r, nil
	}, nil)
}

// PutContacts writes CRM contacts.
func (s *Store) PutContacts(ctx context.Context, readAt time.Time, contacts []model.Contact) error {
	return s.put(ctx, contactsTable, readAt, len(contacts), func(i int) (row, error) {
		c := &contacts[i]
		vs := []any{c.ID, c.Email, c.FirstName, c.LastName, c.Phone, c.Company, c.LifecycleStage, c.OwnerID, ns(c.CreatedAt), s.join.Contact(c), model.NormalizeEmail(c.Email)}
		vs = append(vs, ownedValues(consolidate.Records{Contact: c}, model.SystemCRM)...)
		return row{values: vs, modified: c.UpdatedAt, key: c.ID}, nil
	}, nil)
}

// PutShopCustomers writes shop customer accounts.
func (s *Store) PutShopCustomers(ctx context.Context, readAt time.Time, customers []model.ShopCustomer) error {
	return s.put(ctx, shopCustTable, readAt, len(customers), func(i int) (row, error) {
		c := &customers[i]
		vs := []any{c.ID, c.Email, c.FirstName, c.LastName, c.Company, c.Phone, c.IsPayingCustomer, ns(c.CreatedAt), s.join.ShopCustomer(c), model.NormalizeEmail(c.Email)}
		vs = append(vs, ownedValues(consolidate.Records{Shop: c}, model.SystemShop)...)
		return row{values: vs, modified: c.ModifiedAt, key: strconv.FormatInt(c.ID, 10)}, nil
	}, nil)
}

// PutERPCustomers writes ERP customers.
func (s *Store) PutERPCustomers(ctx context.Context, readAt time.Time, customers []model.ERPCustomer) error {
	return s.put(ctx, erpCustTable, readAt, len(customers), func(i int) (row, error) {
		c := &customers[i]
		r := row{modified: c.ModifiedAt, key: c.ID}
		var limitCur, limit any
		if c.CreditLimit != nil {
			v, err := e4(c.CreditLimit.Amount)
			if err != nil {
				return r, fmt.Errorf("credit limit: %w", err)
			}
			limitCur, limit = c.CreditLimit.Currency, v
		}
		r.values = []any{c.ID, c.Name, c.Email, c.Phone, c.Type, c.Group, c.Territory, c.Currency, limitCur, limit, c.Disabled, ns(c.CreatedAt), s.join.ERPCustomer(c), model.NormalizeEmail(c.Email)}
		r.values = append(r.values, ownedValues(consolidate.Records{ERP: c}, model.SystemERP)...)
		return r, nil
	}, nil)
}

// Delete removes a record deleted upstream at the given time, unless the
// stored row is newer, and remembers the deletion so that an older write
// arriving later does not bring it back. A stock key is a SKU: its levels
// in every warehouse go. An order's lines go with it.
func (s *Store) Delete(ctx context.Context, system model.System, kind Kind, key string, at time.Time) error {
	var t table
	for _, c := range tables {
		if c.system == system && c.kind == kind {
			t = c
		}
	}
	if t.name == "" {
		return fmt.Errorf("delete %s %s %q: %w", system, kind, key, ErrUnknownKind)
	}
	var k any = key
	if t.name == "orders" || t.name == "products" || t.name == "shop_customers" {
		id, err := strconv.ParseInt(key, 10, 64)
		if err != nil {
			return fmt.Errorf("delete %s %q: key is not a number", t.name, key)
		}
		k = id
	}
	when := at.UTC().UnixNano()
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return fmt.Errorf("delete %s %q: %w", t.name, key, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO deletions (system, kind, key, deleted_at) VALUES (?, ?, ?, ?)
ON CONFLICT (system, kind, key) DO UPDATE SET deleted_at = CASE WHEN excluded.deleted_at > deletions.deleted_at THEN excluded.deleted_at ELSE deletions.deleted_at END`, system, kind, key, when); err != nil {
		return fmt.Errorf("delete %s %q: %w", t.name, key, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+t.name+` WHERE `+t.key[0]+` = ? AND modified_at <= ?`, k, when); err != nil {
		return fmt.Errorf("delete %s %q: %w", t.name, key, err)
	}
	if t.name == "orders" {
		if _, err := tx.ExecContext(ctx, `DELETE FROM order_lines WHERE order_id = ? AND NOT EXISTS (SELECT 1 FROM orders WHERE id = ?)`, k, k); err != nil {
			return fmt.Errorf("delete %s %q lines: %w", t.name, key, err)
		}
	}
	if err := customersChanged(ctx, tx, t); err != nil {
		return fmt.Errorf("delete %s %q: %w", t.name, key, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete %s %q: %w", t.name, key, err)
	}
	return nil
}

// fallenDue names the submitted invoices with money outstanding due before
// today (a date: 00:00 UTC) whose status is not yet Overdue.
func (s *Store) fallenDue(ctx context.Context, today time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM invoices WHERE doc_status = 1 AND outstanding_e4 > 0 AND due_date < ? AND status <> 'Overdue'`,
		today.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("read the invoices fallen due: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("read the invoices fallen due: %w", err)
		}
		names = append(names, name)
	}
	return names, rows.Err()
}

// productIDs are the stored products a shop change's key names: by SKU, or
// by id.
func (s *Store) productIDs(ctx context.Context, key string) ([]int64, error) {
	id, _ := strconv.ParseInt(key, 10, 64) // 0, no product's, when not a number
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM products WHERE sku = ? OR id = ?`, key, id)
	if err != nil {
		return nil, fmt.Errorf("find product %q: %w", key, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("find product %q: %w", key, err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
