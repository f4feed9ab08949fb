package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/graph/model"
)

// MaxListPage is the most rows a page of a list the store sorts holds.
const MaxListPage = 1000

// ListPage is one page of a list the store sorts: its rows' keys in order,
// each row's cursor, and where the page lies in the whole list.
type ListPage[T any] struct {
	Rows    []T
	Cursors []string // Cursors[i] continues the list after Rows[i]
	Total   int      // rows the filter selects, on every page
	HasNext bool     // rows follow the page
	HasPrev bool     // rows precede the page
}

// ListSort is how a list is sorted: by one of its sorts, and ties by the
// rows' keys in the same direction, so that every row has one place.
type ListSort struct {
	By   string
	Desc bool
}

// CustomerListQuery asks for a page of customers, sorted by "lifetime_value",
// "open_balance", "name" or "created".
type CustomerListQuery struct {
	Sort           ListSort
	Search         string       // in name, company or e-mail, ASCII letters without case
	KnownTo        model.System // only customers this system knows; "" for all
	LifecycleStage string       // ASCII letters without case
	After          string       // a cursor of this list in this sort; "" from the start
	First          int
}

// InvoiceListQuery asks for a page of invoices, sorted by "due_date",
// "outstanding" or "posting_date"; its filters are the ERP's list's.
type InvoiceListQuery struct {
	InvoiceFilter
	Sort     ListSort
	Customer string // an ERP customer
	After    string
	First    int
}

// InvoiceFilter selects invoices as the graph's InvoiceFilter does.
type InvoiceFilter struct {
	Statuses   []string  // the ERP's names; none is all
	IssuedFrom time.Time // posting date on or after this day; zero is open
	IssuedTo   time.Time // posting date on or before this day; zero is open
	DueBefore  time.Time // due date before this day; zero is any
	OpenOnly   bool      // submitted, with something outstanding
}

// where is the filter's conditions on invoices i and their arguments.
func (f InvoiceFilter) where() (conds []string, args []any) {
	if len(f.Statuses) > 0 {
		conds, args = append(conds, "i.status IN "+argList(len(f.Statuses))), append(args, anys(f.Statuses)...)
	}
	if !f.IssuedFrom.IsZero() {
		conds, args = append(conds, "i.issue_date >= ?"), append(args, f.IssuedFrom.UnixNano())
	}
	if !f.IssuedTo.IsZero() {
		conds, args = append(conds, "i.issue_date <= ?"), append(args, f.IssuedTo.UnixNano())
	}
	if !f.DueBefore.IsZero() {
		conds, args = append(conds, "i.due_date < ?"), append(args, f.DueBefore.UnixNano())
	}
	if f.OpenOnly {
		conds = append(conds, "i.doc_status = 1 AND i.outstanding_e4 > 0")
	}
	return conds, args
}

// ProductListQuery asks for a page of products (those with a SKU), sorted
// by "shop_stock", "erp_available", "sku" or "name".
type ProductListQuery struct {
	Sort        ListSort
	SKUs        []string // only these; none is all
	StockStatus string   // the shop's: instock, outofstock or onbackorder
	After       string
	First       int
}

// list is a list the store sorts: its rows, each a key (k) and the value
// sorted by (v), from FROM … WHERE … (from, where, args).
type list struct {
	name   string // the list's, for cursors and messages
	sorts  map[string]sortBy
	key    string   // the key's expression
	extras []string // more columns a row is read with
	from   string
	where  []string
	args   []any
}

// sortBy is one sort of a list: the value's expression, over from and
// what join adds to it.
type sortBy struct {
	value, join string
	text        bool // the value is text, compared byte by byte
}

// customerSorts are the customers' sorts over consolidated_customers c,
// each as the live graph's field reads it; a missing value is 0. The sums
// are grouped once and joined, which is faster than a sum per customer.
func (s *Store) customerSorts() map[string]sortBy {
	return map[string]sortBy{
		// A shop account's orders that count as sales; for a customer
		// without one, the guest orders under their address: as
		// lifetimeValue adds them.
		"lifetime_value": {value: "COALESCE(a.total, g.total, 0)", join: `
	LEFT JOIN (SELECT customer_id, sum(total_e4) AS total FROM orders
		WHERE customer_id <> 0 AND status IN (` + salesStatuses() + `) GROUP BY customer_id) AS a ON a.customer_id = c.shop_id
	LEFT JOIN (SELECT billing_email_normalized AS email, sum(total_e4) AS total FROM orders
		WHERE customer_id = 0 AND status IN (` + salesStatuses() + `) GROUP BY billing_email_normalized) AS g
		ON c.shop_id IS NULL AND g.email = c.email`},
		// Submitted invoices' outstanding amounts, as openBalance adds them.
		"open_balance": {value: "COALESCE(b.owed, 0)", join: `
	LEFT JOIN (SELECT customer_id, sum(outstanding_e4) AS owed FROM invoices WHERE doc_status = 1 GROUP BY customer_id) AS b
		ON b.customer_id = c.erp_id`},
		"name": {value: s.fold("COALESCE(c.name, '')"), text: true},
		// The first of the customer's records to be created.
		"created": {value: `COALESCE((SELECT min(t) FROM (SELECT created_at AS t FROM crm_contacts WHERE id = c.crm_id
	UNION ALL SELECT created_at FROM shop_customers WHERE id = c.shop_id
	UNION ALL SELECT created_at FROM erp_customers WHERE id = c.erp_id) AS r), 0)`},
	}
}

// salesStatuses are consolidate.SalesStatuses as SQL literals.
func salesStatuses() string {
	quoted := make([]string, len(consolidate.SalesStatuses))
	for i, s := range consolidate.SalesStatuses {
		quoted[i] = "'" + s + "'"
	}
	return strings.Join(quoted, ", ")
}

// CustomerList pages through the consolidated customers in a sort.
func (s *Store) CustomerList(ctx context.Context, q CustomerListQuery) (ListPage[CustomerRef], error) {
	if err := s.consolidateCustomers(ctx); err != nil {
		return ListPage[CustomerRef]{}, err
	}
	l := list{name: "customers", sorts: s.customerSorts(), key: "c.key",
		extras: []string{"c.email", "c.crm_id", "c.shop_id", "c.erp_id"}, from: "consolidated_customers c"}
	switch q.KnownTo {
	case "":
	case model.SystemCRM, model.SystemShop, model.SystemERP:
		l.where = append(l.where, "c."+string(q.KnownTo)+"_id IS NOT NULL")
	default:
		return ListPage[CustomerRef]{}, fmt.Errorf("%w: no system %q", ErrReport, q.KnownTo)
	}
	if q.LifecycleStage != "" {
		l.where, l.args = append(l.where, s.fold("COALESCE(c.lifecycle_stage, '')")+" = "+s.fold("?")), append(l.args, q.LifecycleStage)
	}
	if q.Search != "" {
		like := "%" + likeEscaper.Replace(q.Search) + "%"
		l.where = append(l.where, "("+s.fold("COALESCE(c.name, '')")+" LIKE "+s.fold("?")+` ESCAPE '\' OR `+
			s.fold("COALESCE(c.company, '')")+" LIKE "+s.fold("?")+` ESCAPE '\' OR `+
			s.fold("COALESCE(c.email, '')")+" LIKE "+s.fold("?")+` ESCAPE '\')`)
		l.args = append(l.args, like, like, like)
	}
	return listPage(ctx, s, l, q.Sort, q.After, q.First, func(key string, extras []any) CustomerRef {
		return CustomerRef{Key: key, Email: extras[0].(*sql.NullString).String, CRMID: extras[1].(*sql.NullString).String,
			ShopID: extras[2].(*sql.NullInt64).Int64, ERPID: extras[3].(*sql.NullString).String}
	}, func() []any {
		return []any{new(sql.NullString), new(sql.NullString), new(sql.NullInt64), new(sql.NullString)}
	})
}

// InvoiceList pages through the invoices in a sort; a page's rows are the
// invoices' names.
func (s *Store) InvoiceList(ctx context.Context, q InvoiceListQuery) (ListPage[string], error) {
	l := list{name: "invoices", key: "i.id", from: "invoices i", sorts: map[string]sortBy{
		"due_date": {value: "COALESCE(i.due_date, 0)"}, "outstanding": {value: "i.outstanding_e4"},
		"posting_date": {value: "COALESCE(i.issue_date, 0)"}}}
	l.where, l.args = q.where()
	if q.Customer != "" {
		l.where, l.args = append(l.where, "i.customer_id = ?"), append(l.args, q.Customer)
	}
	return s.keyList(ctx, l, q.Sort, q.After, q.First)
}

// ProductList pages through the products in a sort; a page's rows are the
// products' SKUs.
func (s *Store) ProductList(ctx context.Context, q ProductListQuery) (ListPage[string], error) {
	l := list{name: "products", key: "p.sku", from: "products p", sorts: map[string]sortBy{
		"shop_stock":    {value: "COALESCE(p.stock_quantity, 0)"},
		"erp_available": {value: "COALESCE((SELECT sum(st.on_hand_e4 - st.reserved_e4) FROM stock st WHERE st.sku = p.sku), 0)"},
		"sku":           {value: "p.sku", text: true},
		"name":          {value: s.fold("p.name"), text: true}}}
	where := []string{"p.sku <> ''"}
	if len(q.SKUs) > 0 {
		where, l.args = append(where, "p.sku IN "+argList(len(q.SKUs))), append(l.args, anys(q.SKUs)...)
	}
	if q.StockStatus != "" {
		where, l.args = append(where, "p.stock_status = ?"), append(l.args, q.StockStatus)
	}
	l.where = where
	return s.keyList(ctx, l, q.Sort, q.After, q.First)
}

// keyList pages through a list whose rows are their keys.
func (s *Store) keyList(ctx context.Context, l list, sort ListSort, after string, first int) (ListPage[string], error) {
	return listPage(ctx, s, l, sort, after, first, func(key string, _ []any) string { return key }, func() []any { return nil })
}

// listPage reads the page of a list that follows the cursor after (a
// keyset: the sort's value and the key of the row it follows, so a cursor
// keeps its place while rows come and go), and how many rows the list
// has. Each row is made by row from its key and its extras, read into what
// extras gives.
func listPage[T any](ctx context.Context, s *Store, l list, sort ListSort, after string, first int,
	row func(key string, extras []any) T, extras func() []any) (ListPage[T], error) {
	var out ListPage[T]
	by, ok := l.sorts[sort.By]
	if !ok {
		return out, fmt.Errorf("%w: %s cannot be sorted by %q", ErrReport, l.name, sort.By)
	}
	if first < 0 || first > MaxListPage {
		return out, fmt.Errorf("%w: first: a page of %s holds 0 to %d rows, not %d", ErrReport, l.name, MaxListPage, first)
	}
	text := by.text
	c := cursorOf{List: l.name, Sort: sort}
	if err := c.decode(after, text); err != nil {
		return out, err
	}
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM "+l.from+whereClause(l.where), l.args...).Scan(&out.Total); err != nil {
		return out, fmt.Errorf("%s list: %w", l.name, err)
	}
	// The key and a text value compare byte by byte in both dialects.
	k, v := s.bytewise("k"), "v"
	if text {
		v = s.bytewise("v")
	}
	dir, cmp := " ASC", " > "
	if sort.Desc {
		dir, cmp = " DESC", " < "
	}
	args := append([]any(nil), l.args...)
	cond := ""
	if c.Set {
		cond = " WHERE (" + v + cmp + "? OR " + v + " = ? AND " + k + cmp + "?)"
		args = append(args, c.Value, c.Value, c.Key)
	}
	cols := append([]string{l.key + " AS k", by.value + " AS v"}, l.extras...)
	// One row more than the page tells whether rows follow it.
	query := "SELECT * FROM (SELECT " + strings.Join(cols, ", ") + " FROM " + l.from + by.join + whereClause(l.where) + ") AS b" + cond +
		" ORDER BY " + v + dir + ", " + k + dir + " LIMIT " + strconv.Itoa(first+1)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return out, fmt.Errorf("%s list: %w", l.name, err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var key string
		var num sql.NullInt64
		var str sql.NullString
		dest := []any{&key, &num}
		if text {
			dest[1] = &str
		}
		ex := extras()
		dest = append(dest, ex...)
		if err := rows.Scan(dest...); err != nil {
			return out, fmt.Errorf("%s list: %w", l.name, err)
		}
		if n++; n > first {
			out.HasNext = true
			break
		}
		next := cursorOf{List: l.name, Sort: sort, Set: true, Key: key}
		if text {
			next.Value = str.String
		} else {
			next.Value = num.Int64
		}
		out.Rows, out.Cursors = append(out.Rows, row(key, ex)), append(out.Cursors, next.encode())
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("%s list: %w", l.name, err)
	}
	// A cursor is a row's, so rows precede the page (unless they all went
	// since, which would take another count to tell).
	out.HasPrev = c.Set
	return out, nil
}

// cursorOf is where a page of a list in a sort begins: after the row with
// this value and key.
type cursorOf struct {
	List  string
	Sort  ListSort
	Set   bool // false: from the start
	Value any  // int64, or string for a text sort
	Key   string
}

// cursorVersion leads every cursor, so that a later form can tell an
// earlier one.
const cursorVersion = "k1"

func (c cursorOf) order() string {
	dir := "asc"
	if c.Sort.Desc {
		dir = "desc"
	}
	return c.List + " by " + c.Sort.By + " " + dir
}

func (c cursorOf) encode() string {
	raw, _ := json.Marshal([]any{cursorVersion, c.order(), c.Value, c.Key})
	return base64.RawURLEncoding.EncodeToString(raw)
}

// errCursor is a cursor that is not one of the list's.
var errCursor = errors.New("after is not a cursor of this list: give an endCursor it returned")

// decode reads a cursor of c's list and sort into c; "" is the start.
func (c *cursorOf) decode(s string, text bool) error {
	if s == "" {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	var parts []json.RawMessage
	if err != nil || json.Unmarshal(raw, &parts) != nil || len(parts) != 4 {
		return fmt.Errorf("%w: %w", ErrReport, errCursor)
	}
	var version, order string
	if json.Unmarshal(parts[0], &version) != nil || version != cursorVersion ||
		json.Unmarshal(parts[1], &order) != nil || json.Unmarshal(parts[3], &c.Key) != nil {
		return fmt.Errorf("%w: %w", ErrReport, errCursor)
	}
	if order != c.order() {
		return fmt.Errorf("%w: after is a cursor of %s, not of %s: page with the orderBy it came from", ErrReport, order, c.order())
	}
	if text {
		var v string
		err = json.Unmarshal(parts[2], &v)
		c.Value = v
	} else {
		var v int64
		err = json.Unmarshal(parts[2], &v)
		c.Value = v
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrReport, errCursor)
	}
	c.Set = true
	return nil
}

// fold lower-cases an expression's ASCII letters, and only those, in both
// dialects (SQLite's lower() folds ASCII only; PostgreSQL's follows the
// locale).
func (s *Store) fold(expr string) string {
	if s.db.d.name == "postgres" {
		return "translate(" + expr + ", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
	}
	return "lower(" + expr + ")"
}

// bytewise compares a text expression byte by byte, as SQLite does: in
// PostgreSQL, whatever the database's collation.
func (s *Store) bytewise(expr string) string {
	if s.db.d.name == "postgres" {
		return expr + ` COLLATE "C"`
	}
	return expr
}

// likeEscaper escapes LIKE's wildcards, with \ as ESCAPE.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}
