package erpnext

import (
	"context"
	"fmt"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sources/rest"
)

// customerRow is a Customer as the list API returns the fields asked for.
// Frappe sends null for an empty Data field; it decodes as "".
type customerRow struct {
	Name            string `json:"name"`
	CustomerName    string `json:"customer_name"`
	CustomerType    string `json:"customer_type"`
	CustomerGroup   string `json:"customer_group"`
	Territory       string `json:"territory"`
	EmailID         string `json:"email_id"`
	MobileNo        string `json:"mobile_no"`
	DefaultCurrency string `json:"default_currency"`
	Disabled        int    `json:"disabled"`
	Creation        string `json:"creation"`
	Modified        string `json:"modified"`
}

var customerFields = fieldList("name", "customer_name", "customer_type", "customer_group", "territory",
	"email_id", "mobile_no", "default_currency", "disabled", "creation", "modified")

// creditLimitRow is a Customer Credit Limit child row.
type creditLimitRow struct {
	Parent      string          `json:"parent"`
	Company     string          `json:"company"`
	CreditLimit decimal.Decimal `json:"credit_limit"`
	Idx         int             `json:"idx"`
}

var creditLimitFields = fieldList("parent", "company", "credit_limit", "idx")

// Customers reads ERP customers by document name. Names the site does not
// have are absent from the result, which comes in no particular order.
func (c *Client) Customers(ctx context.Context, names []string) ([]model.ERPCustomer, error) {
	out, err := fanOut(ctx, c, names, func(ctx context.Context, chunk []string) ([]model.ERPCustomer, error) {
		return c.customers(ctx, "customers.by_name", filter{"name", "in", chunk})
	})
	if err != nil {
		return nil, fmt.Errorf("read customers: %w", err)
	}
	return out, nil
}

// CustomersByEmail reads the ERP customers whose email_id is one of emails.
// The site compares case-insensitively and ignores trailing spaces, but an
// address stored with a leading space (" anna@example.com") matches no "in"
// list, since Frappe strips every listed value. That is why the gateway
// keeps its own index of normalised addresses rather than trusting this
// lookup alone. The result comes in no particular order.
func (c *Client) CustomersByEmail(ctx context.Context, emails []string) ([]model.ERPCustomer, error) {
	out, err := fanOut(ctx, c, emails, func(ctx context.Context, chunk []string) ([]model.ERPCustomer, error) {
		return c.customers(ctx, "customers.by_email", filter{"email_id", "in", chunk})
	})
	if err != nil {
		return nil, fmt.Errorf("read customers by e-mail: %w", err)
	}
	return out, nil
}

// CustomersModifiedSince reads up to limit customers changed after since,
// oldest change first; limit <= 0 means 10,000 (see walkModified for the
// cut at limit).
func (c *Client) CustomersModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.ERPCustomer, error) {
	rows, err := walkModified(ctx, c, listCall{route: "customers.modified", doctype: "Customer", fields: customerFields},
		since, limit, func(r customerRow) string { return r.Modified })
	if err != nil {
		return nil, fmt.Errorf("read customers modified since %s: %w", since.UTC().Format(time.RFC3339), err)
	}
	out, err := c.withCreditLimits(ctx, rows)
	if err != nil {
		return nil, fmt.Errorf("read customers modified since %s: %w", since.UTC().Format(time.RFC3339), err)
	}
	return out, nil
}

// CountCustomersModifiedAfter is how many customers changed after the
// given time, those CustomersModifiedSince would read, counted in one call.
func (c *Client) CountCustomersModifiedAfter(ctx context.Context, after time.Time) (int, error) {
	n, err := c.countModified(ctx, "customers.count_modified", "Customer", after)
	if err != nil {
		return 0, fmt.Errorf("count customers modified after %s: %w", after.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

func (c *Client) customers(ctx context.Context, route string, f filter) ([]model.ERPCustomer, error) {
	rows, err := listAll[customerRow](ctx, c, listCall{
		route: route, doctype: "Customer", fields: customerFields, filters: []filter{f}, order: "name asc",
	})
	if err != nil {
		return nil, err
	}
	return c.withCreditLimits(ctx, rows)
}

// withCreditLimits maps customers and fills in their credit limits, read
// from the child table in one call per hundred customers. The child rows
// are listed through their parent DocType, as Frappe requires.
func (c *Client) withCreditLimits(ctx context.Context, rows []customerRow) ([]model.ERPCustomer, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = r.Name
	}
	ls, err := rest.FanOut(ctx, names, maxKeys, c.parallel, func(ctx context.Context, chunk []string) ([]creditLimitRow, error) {
		return listAll[creditLimitRow](ctx, c, listCall{
			route: "customers.credit_limits", doctype: "Customer Credit Limit", parent: "Customer",
			fields: creditLimitFields, filters: []filter{{"parent", "in", chunk}}, order: "parent asc, idx asc",
		})
	})
	if err != nil {
		return nil, err
	}
	limits := make(map[string]creditLimitRow, len(ls))
	for _, l := range ls {
		if c.company != "" && l.Company != c.company {
			continue
		}
		if _, ok := limits[l.Parent]; !ok {
			limits[l.Parent] = l // rows come in idx order: the first counts
		}
	}
	out := make([]model.ERPCustomer, 0, len(rows))
	for _, r := range rows {
		m, err := c.customer(r, limits)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (c *Client) customer(r customerRow, limits map[string]creditLimitRow) (model.ERPCustomer, error) {
	modified, err := c.datetime(r.Modified)
	if err != nil {
		return model.ERPCustomer{}, badField("Customer", r.Name, "modified")
	}
	creation, err := c.datetime(r.Creation)
	if err != nil {
		return model.ERPCustomer{}, badField("Customer", r.Name, "creation")
	}
	m := model.ERPCustomer{
		ID:         r.Name,
		Name:       r.CustomerName,
		Email:      r.EmailID,
		Phone:      r.MobileNo,
		Type:       r.CustomerType,
		Group:      r.CustomerGroup,
		Territory:  r.Territory,
		Currency:   r.DefaultCurrency,
		Disabled:   r.Disabled != 0,
		CreatedAt:  creation,
		ModifiedAt: modified,
	}
	if l, ok := limits[r.Name]; ok && !l.CreditLimit.IsZero() {
		cur := c.currency
		if cur == "" {
			cur = r.DefaultCurrency
		}
		m.CreditLimit = &model.Money{Amount: money(l.CreditLimit), Currency: cur}
	}
	return m, nil
}

// money gives an amount at least the two decimals of a currency; Python
// prints 119.0 and the decimal keeps that scale otherwise. Padding adds
// zeros only, so the value is unchanged.
func money(d decimal.Decimal) decimal.Decimal { return d.Pad(2) }
