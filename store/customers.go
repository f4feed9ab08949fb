package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/graph/model"
)

// customerFields are the customer fields the customers view draws from the
// systems' records, each by its consolidation rule: a record stores what
// the rule's Value gives for each field its system owns (customer_*), and
// the view takes the first owner, in the rule's order, with a value.
var customerFields = []struct {
	column string
	rule   consolidate.Rule
}{
	{"name", consolidate.Name},
	{"company", consolidate.Company},
	{"phone", consolidate.Phone},
	{"lifecycle_stage", consolidate.LifecycleStage},
	{"owner", consolidate.Owner},
}

// customerTables are the customer record tables by system, with how a
// record is ordered among its system's records with the same join key: the
// oldest joins, the others stand alone, as in the directory.
var customerTables = []struct {
	system model.System
	table  string
}{
	{model.SystemCRM, "crm_contacts"},
	{model.SystemShop, "shop_customers"},
	{model.SystemERP, "erp_customers"},
}

// ownedValues gives what one system's record answers for each customer
// field, in customerFields order: the rule's value where the system owns
// the field, NULL where it does not.
func ownedValues(r consolidate.Records, s model.System) []any {
	vs := make([]any, len(customerFields))
	for i, f := range customerFields {
		for _, o := range f.rule.Owners {
			if o == s {
				vs[i] = f.rule.Value(r, s)
			}
		}
	}
	return vs
}

// customersView joins the customer records of the three systems on their
// join key: one row per customer with each system's key, the normalised
// e-mail address (first of CRM, shop, ERP) and each field from its owning
// system. A record without a join key, or a later one of a system's
// duplicates, is a customer of its own keyed "crm:…", "shop:…" or "erp:…".
// It is made from consolidate's rules when the store opens, so it follows
// them without a migration.
func customersView() string {
	// Each record with its customer's key and, in columns of its system's,
	// its e-mail address and owned fields; grouped by the key, each column
	// holds the one record of its system the customer has, if any.
	columns := []string{"email_normalized"}
	for _, f := range customerFields {
		columns = append(columns, "customer_"+f.column)
	}
	var b strings.Builder
	b.WriteString("CREATE VIEW customers AS\nWITH records AS (")
	for i, t := range customerTables {
		if i > 0 {
			b.WriteString("\nUNION ALL ")
		}
		fmt.Fprintf(&b, `SELECT CASE WHEN join_key <> '' AND NOT EXISTS (SELECT 1 FROM %[2]s d WHERE d.join_key = r.join_key
	AND (COALESCE(d.created_at, 0) < COALESCE(r.created_at, 0) OR COALESCE(d.created_at, 0) = COALESCE(r.created_at, 0) AND d.id < r.id))
	THEN join_key ELSE '%[1]s:' || id END AS key`, t.system, t.table)
		for _, u := range customerTables {
			typ := "TEXT"
			if u.system == model.SystemShop {
				typ = "BIGINT"
			}
			if u.system == t.system {
				fmt.Fprintf(&b, ", id AS %s_id", u.system)
			} else {
				fmt.Fprintf(&b, ", CAST(NULL AS %s) AS %s_id", typ, u.system)
			}
			for _, c := range columns {
				if u.system == t.system {
					fmt.Fprintf(&b, ", %s AS %s_%s", c, u.system, c)
				} else {
					fmt.Fprintf(&b, ", CAST(NULL AS TEXT) AS %s_%s", u.system, c)
				}
			}
		}
		fmt.Fprintf(&b, " FROM %s r", t.table)
	}
	// The casts give the columns a type, so that SQLite indexes them for
	// the joins of the views on this one.
	b.WriteString(")\nSELECT key")
	for _, t := range customerTables {
		typ := "TEXT"
		if t.system == model.SystemShop {
			typ = "BIGINT"
		}
		fmt.Fprintf(&b, ", CAST(max(%[1]s_id) AS %[2]s) AS %[1]s_id", t.system, typ)
	}
	b.WriteString(", CAST(" + coalesce("email_normalized", model.SystemCRM, model.SystemShop, model.SystemERP) + " AS TEXT) AS email")
	for _, f := range customerFields {
		fmt.Fprintf(&b, ", %s AS %s", coalesce("customer_"+f.column, f.rule.Owners...), f.column)
	}
	b.WriteString("\nFROM records GROUP BY key")
	return b.String()
}

// coalesce is the first non-empty value of a column among the systems'
// records of a customer.
func coalesce(column string, systems ...model.System) string {
	parts := make([]string, len(systems))
	for i, s := range systems {
		parts[i] = fmt.Sprintf("NULLIF(max(%s_%s), '')", s, column)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "COALESCE(" + strings.Join(parts, ", ") + ")"
}

// orderCustomersView is each order with the consolidated customer it
// belongs to, as the customer directory finds it: by the shop account,
// else by the billing address (of customers sharing an address, the one
// joined on it). An order whose customer the store does not know keeps
// its billing name and address, and its customer's key is "email:" and
// the address, as a global ID names a guest.
// It reads consolidated_customers, which consolidateCustomers brings up
// to date first. The CAST gives the address a type, so that SQLite
// indexes it for the join.
var orderCustomersView = "CREATE VIEW order_customers AS " + withCustomers("orders")

// withCustomers selects the rows of orders (a table, or a subquery with its
// customer_id, billing_email_normalized and billing_name) with the columns
// of their customers (customer_key, customer_name, …), as
// orderCustomersView says.
//
// A report's groups of orders, which never show customer_name, give
// noBillingName: the greatest of each group's names would cost a third of
// its grouping.
func withCustomers(orders string) string {
	return `WITH by_email AS MATERIALIZED (
	SELECT CAST(email AS TEXT) AS email, key, crm_id, shop_id, erp_id, name, lifecycle_stage, owner FROM (
		SELECT *, ROW_NUMBER() OVER (PARTITION BY email ORDER BY key <> email, key) AS n
		FROM consolidated_customers WHERE email IS NOT NULL) AS ranked
	WHERE n = 1)
SELECT o.*,
	COALESCE(s.key, e.key, 'email:' || NULLIF(o.billing_email_normalized, '')) AS customer_key,
	COALESCE(s.crm_id, e.crm_id) AS customer_crm_id,
	COALESCE(s.shop_id, e.shop_id, NULLIF(o.customer_id, 0)) AS customer_shop_id,
	COALESCE(s.erp_id, e.erp_id) AS customer_erp_id,
	COALESCE(s.name, e.name, o.billing_name, '') AS customer_name,
	COALESCE(s.email, e.email, o.billing_email_normalized) AS customer_email,
	COALESCE(s.lifecycle_stage, e.lifecycle_stage) AS customer_lifecycle_stage,
	COALESCE(s.owner, e.owner) AS customer_owner
FROM ` + orders + ` o
LEFT JOIN consolidated_customers s ON s.shop_id = o.customer_id
LEFT JOIN by_email e ON e.email = o.billing_email_normalized`
}

// consolidateCustomers makes consolidated_customers the customers view's
// rows again when a customer record was written since it was last made:
// the view costs tens of milliseconds over thousands of customers, the
// table an index lookup. Replicas may make it at once: each does it in a
// transaction, the later one again.
func (s *Store) consolidateCustomers(ctx context.Context) error {
	var customers, consolidated int64
	if err := s.db.QueryRowContext(ctx, `SELECT customers, consolidated FROM versions`).Scan(&customers, &consolidated); err != nil {
		return fmt.Errorf("consolidate customers: %w", err)
	}
	if customers == consolidated {
		return nil
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return fmt.Errorf("consolidate customers: %w", err)
	}
	defer tx.Rollback()
	cols := "key, crm_id, shop_id, erp_id, email"
	for _, f := range customerFields {
		cols += ", " + f.column
	}
	for _, q := range []string{`DELETE FROM consolidated_customers`,
		`INSERT INTO consolidated_customers (` + cols + `) SELECT ` + cols + ` FROM customers`,
		`UPDATE versions SET consolidated = customers`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("consolidate customers: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("consolidate customers: %w", err)
	}
	return nil
}

// dropViewStatements drop the views, those built on others first.
var dropViewStatements = []string{`DROP VIEW IF EXISTS order_customers`, `DROP VIEW IF EXISTS customers`}

// dropViews drops the views.
func dropViews(ctx context.Context, db db) error {
	for _, v := range dropViewStatements {
		if _, err := db.ExecContext(ctx, v); err != nil {
			return fmt.Errorf("drop views: %w", err)
		}
	}
	return nil
}

// createViews (re)creates the views, which follow the code rather than the
// data.
func createViews(ctx context.Context, db db) error {
	tx, err := db.BeginTx(ctx)
	if err != nil {
		return fmt.Errorf("create views: %w", err)
	}
	defer tx.Rollback()
	for _, v := range append(slices.Clone(dropViewStatements), customersView(), orderCustomersView) {
		if _, err := tx.ExecContext(ctx, v); err != nil {
			return fmt.Errorf("create views: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create views: %w", err)
	}
	return nil
}

// noBillingName is the billing name of a report's group of orders.
const noBillingName = "'' AS billing_name"
