package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/graph/model"
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

// InvoiceMismatch is an ERP invoice whose grand total differs from that
// of the shop order it bills (by its po_no), or is in another currency.
type InvoiceMismatch struct {
	Invoice                        string
	OrderID                        int64
	OrderNumber                    string
	InvoiceCurrency, OrderCurrency string
	InvoiceTotal, OrderTotal       decimal.Decimal
}

// Difference is the invoice's total less the order's; false when they are
// in different currencies, which no difference can be taken of.
func (m InvoiceMismatch) Difference() (decimal.Decimal, bool) {
	if m.InvoiceCurrency != m.OrderCurrency {
		return decimal.Zero, false
	}
	d, err := m.InvoiceTotal.Sub(m.OrderTotal)
	return d, err == nil
}

// InvoiceMismatches lists the invoices (a cancelled one does not count)
// whose total differs from their order's by at least minDifference (0: by
// anything), or that are in another currency than their order: those in
// another currency first, then the greatest difference, at most limit,
// and how many there are in all.
func (s *Store) InvoiceMismatches(ctx context.Context, minDifference decimal.Decimal, limit int) ([]InvoiceMismatch, int, error) {
	least, err := e4(minDifference.Abs())
	if err != nil {
		return nil, 0, fmt.Errorf("%w: minDifference %s", ErrReport, minDifference)
	}
	least = max(least, 1)
	rows, err := s.db.QueryContext(ctx, `SELECT i.id, o.id, o.number, i.currency, i.total_e4, o.currency, o.total_e4, count(*) OVER ()
FROM orders o JOIN invoices i ON i.order_ref = CAST(o.id AS TEXT)
WHERE i.doc_status < 2 AND (i.currency <> o.currency OR abs(i.total_e4 - o.total_e4) >= ?)
ORDER BY CASE WHEN i.currency = o.currency THEN abs(i.total_e4 - o.total_e4) END DESC NULLS FIRST, o.id, `+s.bytewise("i.id")+`
LIMIT ?`, least, rowBound(limit))
	if err != nil {
		return nil, 0, fmt.Errorf("invoice mismatches: %w", err)
	}
	defer rows.Close()
	var out []InvoiceMismatch
	total := 0
	for rows.Next() {
		var m InvoiceMismatch
		var inv, ord int64
		if err := rows.Scan(&m.Invoice, &m.OrderID, &m.OrderNumber, &m.InvoiceCurrency, &inv, &m.OrderCurrency, &ord, &total); err != nil {
			return nil, 0, fmt.Errorf("invoice mismatches: %w", err)
		}
		m.InvoiceTotal, m.OrderTotal = money(inv), money(ord)
		out = append(out, m)
	}
	return out, total, rows.Err()
}

// MissingCustomer is a consolidated customer one system or two have no
// record of.
type MissingCustomer struct {
	Customer       CustomerRef
	Name           string
	Known, Missing []model.System // in customerTables order
}

// MissingCustomers lists the consolidated customers with no record in
// from (empty: in one system or more), those known to the most systems
// first, then by key (byte by byte), at most limit, and how many there
// are in all.
func (s *Store) MissingCustomers(ctx context.Context, from model.System, limit int) ([]MissingCustomer, int, error) {
	var conds []string
	for _, t := range customerTables {
		if from == "" || from == t.system {
			conds = append(conds, string(t.system)+"_id IS NULL")
		}
	}
	if len(conds) == 0 {
		return nil, 0, fmt.Errorf("%w: no system %q", ErrReport, from)
	}
	if err := s.consolidateCustomers(ctx); err != nil {
		return nil, 0, err
	}
	missing := make([]string, len(customerTables))
	for i, t := range customerTables {
		missing[i] = "CASE WHEN " + string(t.system) + "_id IS NULL THEN 1 ELSE 0 END"
	}
	rows, err := s.db.QueryContext(ctx, `SELECT key, email, crm_id, shop_id, erp_id, name, count(*) OVER ()
FROM consolidated_customers WHERE `+strings.Join(conds, " OR ")+`
ORDER BY `+strings.Join(missing, " + ")+`, `+s.bytewise("key")+` LIMIT ?`, rowBound(limit))
	if err != nil {
		return nil, 0, fmt.Errorf("missing customers: %w", err)
	}
	defer rows.Close()
	var out []MissingCustomer
	total := 0
	for rows.Next() {
		var m MissingCustomer
		var name sql.NullString
		ref, err := scanCustomer(rows, &name, &total)
		if err != nil {
			return nil, 0, fmt.Errorf("missing customers: %w", err)
		}
		m.Customer, m.Name = ref, name.String
		for _, t := range customerTables {
			if ref.knows(t.system) {
				m.Known = append(m.Known, t.system)
			} else {
				m.Missing = append(m.Missing, t.system)
			}
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("missing customers: %w", err)
	}
	return out, total, nil
}

// customerColumns are the columns scanCustomer reads, of
// consolidated_customers c.
const customerColumns = "c.key, c.email, c.crm_id, c.shop_id, c.erp_id"

// scanCustomer reads a row's customer (customerColumns) and then dest.
func scanCustomer(rows *sql.Rows, dest ...any) (CustomerRef, error) {
	var ref CustomerRef
	var email, crm, erp sql.NullString
	var shop sql.NullInt64
	err := rows.Scan(append([]any{&ref.Key, &email, &crm, &shop, &erp}, dest...)...)
	ref.Email, ref.CRMID, ref.ShopID, ref.ERPID = email.String, crm.String, shop.Int64, erp.String
	return ref, err
}

// knows reports whether the customer has a record in the system.
func (c CustomerRef) knows(s model.System) bool {
	return consolidate.Knows(model.Customer{CRMID: c.CRMID, ShopID: c.ShopID, ERPID: c.ERPID}, s)
}

// CustomerField is a customer field the systems can disagree on.
type CustomerField string

// The fields FieldDisagreements compares, in their order.
const (
	FieldName    CustomerField = "name"
	FieldCompany CustomerField = "company"
	FieldPhone   CustomerField = "phone"
)

// comparedFields are the fields compared, in their order, each with the
// form its values are compared in: the digits of a phone number (as the
// join by phone compares them), the words of a name in lower case.
var comparedFields = []struct {
	field CustomerField
	form  func(string) string
}{
	{FieldName, words}, {FieldCompany, words}, {FieldPhone, func(v string) string {
		if n := consolidate.NormalizePhone(v); n != "" {
			return n
		}
		return words(v)
	}},
}

func words(v string) string { return strings.Join(strings.Fields(strings.ToLower(v)), " ") }

// fieldOrder is a field's place in comparedFields; -1 for none.
func fieldOrder(f CustomerField) int {
	for i, c := range comparedFields {
		if c.field == f {
			return i
		}
	}
	return -1
}

// systemOrder is a system's place in customerTables.
func systemOrder(s model.System) int {
	for i, t := range customerTables {
		if t.system == s {
			return i
		}
	}
	return -1
}

// SystemValue is what one system's record gives a customer field.
type SystemValue struct {
	System model.System
	Value  string
}

// FieldDisagreement is a customer field the records of one consolidated
// customer give different values.
type FieldDisagreement struct {
	Customer CustomerRef
	Field    CustomerField
	Values   []SystemValue // each system's that has one, in customerTables order
	Distinct int           // how many different values there are
}

// FieldDisagreements lists the fields of fields (none: every one) whose
// values differ between the systems' records of one customer: the systems
// that own the field by its consolidation rule and have a value, compared
// as comparedFields says. A record whose name is its company's too (the
// ERP names a company customer after it) names no person, and is left out
// of the name's. Those with the most different values come first, then by
// customer and field; at most limit, and how many there are in all.
func (s *Store) FieldDisagreements(ctx context.Context, fields []CustomerField, limit int) ([]FieldDisagreement, int, error) {
	for _, f := range fields {
		if fieldOrder(f) < 0 {
			return nil, 0, fmt.Errorf("%w: no customer field %q", ErrReport, f)
		}
	}
	if err := s.consolidateCustomers(ctx); err != nil {
		return nil, 0, err
	}
	// Each customer known to two systems or more, with each record's
	// values of the compared fields.
	var cols, joins, known []string
	for i, t := range customerTables {
		r := fmt.Sprintf("r%d", i)
		for _, f := range comparedFields {
			cols = append(cols, fmt.Sprintf("%s.customer_%s", r, f.field))
		}
		joins = append(joins, fmt.Sprintf("LEFT JOIN %s %s ON %[2]s.id = c.%s_id", t.table, r, t.system))
		known = append(known, fmt.Sprintf("CASE WHEN c.%s_id IS NULL THEN 0 ELSE 1 END", t.system))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+customerColumns+`, `+strings.Join(cols, ", ")+`
FROM consolidated_customers c `+strings.Join(joins, " ")+`
WHERE `+strings.Join(known, " + ")+` > 1`)
	if err != nil {
		return nil, 0, fmt.Errorf("field disagreements: %w", err)
	}
	defer rows.Close()
	var out []FieldDisagreement
	company := fieldOrder(FieldCompany)
	values := make([]sql.NullString, len(cols))
	dest := make([]any, len(values))
	for i := range values {
		dest[i] = &values[i]
	}
	for rows.Next() {
		ref, err := scanCustomer(rows, dest...)
		if err != nil {
			return nil, 0, fmt.Errorf("field disagreements: %w", err)
		}
		for j, f := range comparedFields {
			if len(fields) > 0 && !slices.Contains(fields, f.field) {
				continue
			}
			d := FieldDisagreement{Customer: ref, Field: f.field}
			forms := map[string]bool{}
			for i, t := range customerTables {
				record := values[i*len(comparedFields):]
				v := strings.TrimSpace(record[j].String)
				if v == "" || f.field == FieldName && words(v) == words(record[company].String) {
					continue
				}
				d.Values = append(d.Values, SystemValue{System: t.system, Value: v})
				forms[f.form(v)] = true
			}
			if d.Distinct = len(forms); d.Distinct > 1 {
				out = append(out, d)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("field disagreements: %w", err)
	}
	slices.SortFunc(out, func(a, b FieldDisagreement) int {
		return cmp.Or(cmp.Compare(b.Distinct, a.Distinct), strings.Compare(a.Customer.Key, b.Customer.Key), cmp.Compare(fieldOrder(a.Field), fieldOrder(b.Field)))
	})
	return out[:min(len(out), rowBound(limit))], len(out), nil
}

// DuplicateRecord is one of the records a system keeps of one person: the
// customer it is (the oldest joins the others' systems, the later ones
// stand alone, as the customers view has them).
type DuplicateRecord struct {
	ID       string // the system's key
	Customer CustomerRef
}

// Duplicates are the records one system keeps with the same join key.
type Duplicates struct {
	System  model.System
	JoinKey string
	Records []DuplicateRecord // the one that joins first, then the others by age
}

// DuplicateCustomers lists the join keys that more than one record of a
// system carries, of system (empty: of any), the most records first, then
// by system and key, at most limit, and how many there are in all.
func (s *Store) DuplicateCustomers(ctx context.Context, system model.System, limit int) ([]Duplicates, int, error) {
	if err := s.consolidateCustomers(ctx); err != nil {
		return nil, 0, err
	}
	var out []Duplicates
	found := false
	for _, t := range customerTables {
		if system != "" && system != t.system {
			continue
		}
		found = true
		rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT `+customerColumns+`, r.join_key, CAST(r.id AS TEXT), COALESCE(r.created_at, 0)
FROM %[1]s r JOIN consolidated_customers c ON c.%[2]s_id = r.id
WHERE r.join_key IN (SELECT join_key FROM %[1]s WHERE join_key <> '' GROUP BY join_key HAVING count(*) > 1)`, t.table, t.system))
		if err != nil {
			return nil, 0, fmt.Errorf("duplicate customers: %w", err)
		}
		// Each key's records: the one that joins first, then the others
		// by age, as the view orders them.
		type record struct {
			DuplicateRecord
			joins bool
			at    int64
		}
		byKey := map[string][]record{}
		err = func() error {
			defer rows.Close()
			for rows.Next() {
				var key string
				var r record
				if r.Customer, err = scanCustomer(rows, &key, &r.ID, &r.at); err != nil {
					return err
				}
				r.joins = r.Customer.Key == key
				byKey[key] = append(byKey[key], r)
			}
			return rows.Err()
		}()
		if err != nil {
			return nil, 0, fmt.Errorf("duplicate customers: %w", err)
		}
		for key, rs := range byKey {
			slices.SortFunc(rs, func(a, b record) int {
				if a.joins != b.joins {
					return map[bool]int{true: -1, false: 1}[a.joins]
				}
				return cmp.Or(cmp.Compare(a.at, b.at), strings.Compare(a.ID, b.ID))
			})
			d := Duplicates{System: t.system, JoinKey: key}
			for _, r := range rs {
				d.Records = append(d.Records, r.DuplicateRecord)
			}
			out = append(out, d)
		}
	}
	if !found {
		return nil, 0, fmt.Errorf("%w: no system %q", ErrReport, system)
	}
	slices.SortFunc(out, func(a, b Duplicates) int {
		return cmp.Or(cmp.Compare(len(b.Records), len(a.Records)), cmp.Compare(systemOrder(a.System), systemOrder(b.System)), strings.Compare(a.JoinKey, b.JoinKey))
	})
	return out[:min(len(out), rowBound(limit))], len(out), nil
}
