package store

import (
	"context"
	"database/sql"
	"testing"

	"github.com/trestlehq/trestle/graph/model"
)

// The readers below read records back for the tests; the reports' readers
// come with the reports.

func readOrder(t *testing.T, s *Store, id int64) (model.Order, bool) {
	t.Helper()
	ctx := context.Background()
	var o model.Order
	var total, tax, ship, disc int64
	var created, modified, paid, completed sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT id, number, status, currency, total_e4, total_tax_e4, shipping_total_e4, discount_total_e4, customer_id, billing_email, billing_name, created_at, paid_at, completed_at, modified_at FROM orders WHERE id = ?`, id).
		Scan(&o.ID, &o.Number, &o.Status, &o.Currency, &total, &tax, &ship, &disc, &o.CustomerID, &o.BillingEmail, &o.BillingName, &created, &paid, &completed, &modified)
	if err == sql.ErrNoRows {
		return o, false
	}
	if err != nil {
		t.Fatal(err)
	}
	o.Total, o.TotalTax, o.ShippingTotal, o.DiscountTotal = money(total), money(tax), money(ship), money(disc)
	o.CreatedAt, o.ModifiedAt, o.PaidAt, o.CompletedAt = timeOf(created), timeOf(modified), optTime(paid), optTime(completed)
	rows, err := s.db.QueryContext(ctx, `SELECT id, product_id, sku, name, currency, quantity, price_e4, subtotal_e4, total_e4, total_tax_e4 FROM order_lines WHERE order_id = ? ORDER BY id`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var l model.OrderLine
		var price, sub, tot, tx int64
		if err := rows.Scan(&l.ID, &l.ProductID, &l.SKU, &l.Name, &l.Currency, &l.Quantity, &price, &sub, &tot, &tx); err != nil {
			t.Fatal(err)
		}
		l.Price, l.Subtotal, l.Total, l.TotalTax = money(price), money(sub), money(tot), money(tx)
		o.Lines = append(o.Lines, l)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return o, true
}

func readProduct(t *testing.T, s *Store, id int64) (model.Product, bool) {
	t.Helper()
	var p model.Product
	var price, regular int64
	var sale, qty, modified sql.NullInt64
	err := s.db.QueryRowContext(context.Background(), `SELECT id, sku, name, status, currency, price_e4, regular_price_e4, sale_price_e4, manage_stock, stock_quantity, stock_status, modified_at FROM products WHERE id = ?`, id).
		Scan(&p.ID, &p.SKU, &p.Name, &p.Status, &p.Currency, &price, &regular, &sale, &p.ManageStock, &qty, &p.StockStatus, &modified)
	if err == sql.ErrNoRows {
		return p, false
	}
	if err != nil {
		t.Fatal(err)
	}
	p.Price, p.RegularPrice, p.SalePrice, p.ModifiedAt = money(price), money(regular), optMoney(sale), timeOf(modified)
	if qty.Valid {
		q := int(qty.Int64)
		p.StockQuantity = &q
	}
	return p, true
}

func readStock(t *testing.T, s *Store, sku, warehouse string) (model.StockLevel, bool) {
	t.Helper()
	l := model.StockLevel{SKU: sku, Warehouse: warehouse}
	var onHand, reserved, ordered, projected int64
	var modified sql.NullInt64
	err := s.db.QueryRowContext(context.Background(), `SELECT on_hand_e4, reserved_e4, ordered_e4, projected_e4, modified_at FROM stock WHERE sku = ? AND warehouse = ?`, sku, warehouse).
		Scan(&onHand, &reserved, &ordered, &projected, &modified)
	if err == sql.ErrNoRows {
		return l, false
	}
	if err != nil {
		t.Fatal(err)
	}
	l.OnHand, l.Reserved, l.Ordered, l.Projected, l.ModifiedAt = quantity(onHand), quantity(reserved), quantity(ordered), quantity(projected), timeOf(modified)
	return l, true
}

func readInvoice(t *testing.T, s *Store, id string) (model.Invoice, bool) {
	t.Helper()
	var v model.Invoice
	var total, outstanding int64
	var issue, due, modified sql.NullInt64
	err := s.db.QueryRowContext(context.Background(), `SELECT id, customer_id, status, doc_status, issue_date, due_date, currency, total_e4, outstanding_currency, outstanding_e4, order_ref, modified_at FROM invoices WHERE id = ?`, id).
		Scan(&v.ID, &v.CustomerID, &v.Status, &v.DocStatus, &issue, &due, &v.Total.Currency, &total, &v.Outstanding.Currency, &outstanding, &v.OrderRef, &modified)
	if err == sql.ErrNoRows {
		return v, false
	}
	if err != nil {
		t.Fatal(err)
	}
	v.IssueDate, v.DueDate, v.ModifiedAt = timeOf(issue), timeOf(due), timeOf(modified)
	v.Total.Amount, v.Outstanding.Amount = money(total), money(outstanding)
	return v, true
}

func readContact(t *testing.T, s *Store, id string) (model.Contact, bool) {
	t.Helper()
	var c model.Contact
	var created, modified sql.NullInt64
	err := s.db.QueryRowContext(context.Background(), `SELECT id, email, first_name, last_name, phone, company, lifecycle_stage, owner_id, created_at, modified_at FROM crm_contacts WHERE id = ?`, id).
		Scan(&c.ID, &c.Email, &c.FirstName, &c.LastName, &c.Phone, &c.Company, &c.LifecycleStage, &c.OwnerID, &created, &modified)
	if err == sql.ErrNoRows {
		return c, false
	}
	if err != nil {
		t.Fatal(err)
	}
	c.CreatedAt, c.UpdatedAt = timeOf(created), timeOf(modified)
	return c, true
}

func readShopCustomer(t *testing.T, s *Store, id int64) (model.ShopCustomer, bool) {
	t.Helper()
	var c model.ShopCustomer
	var created, modified sql.NullInt64
	err := s.db.QueryRowContext(context.Background(), `SELECT id, email, first_name, last_name, company, phone, is_paying_customer, created_at, modified_at FROM shop_customers WHERE id = ?`, id).
		Scan(&c.ID, &c.Email, &c.FirstName, &c.LastName, &c.Company, &c.Phone, &c.IsPayingCustomer, &created, &modified)
	if err == sql.ErrNoRows {
		return c, false
	}
	if err != nil {
		t.Fatal(err)
	}
	c.CreatedAt, c.ModifiedAt = timeOf(created), timeOf(modified)
	return c, true
}

func readERPCustomer(t *testing.T, s *Store, id string) (model.ERPCustomer, bool) {
	t.Helper()
	var c model.ERPCustomer
	var limitCur sql.NullString
	var limit, created, modified sql.NullInt64
	err := s.db.QueryRowContext(context.Background(), `SELECT id, name, email, phone, type, customer_group, territory, currency, credit_limit_currency, credit_limit_e4, disabled, created_at, modified_at FROM erp_customers WHERE id = ?`, id).
		Scan(&c.ID, &c.Name, &c.Email, &c.Phone, &c.Type, &c.Group, &c.Territory, &c.Currency, &limitCur, &limit, &c.Disabled, &created, &modified)
	if err == sql.ErrNoRows {
		return c, false
	}
	if err != nil {
		t.Fatal(err)
	}
	if limit.Valid {
		c.CreditLimit = &model.Money{Amount: money(limit.Int64), Currency: limitCur.String}
	}
	c.CreatedAt, c.ModifiedAt = timeOf(created), timeOf(modified)
	return c, true
}
