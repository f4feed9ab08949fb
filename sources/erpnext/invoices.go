package erpnext

import (
	"context"
	"fmt"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/graph/model"
)

// invoiceRow is a Sales Invoice as the list API returns the fields asked
// for. Amounts decode from the number literal itself, never through float64.
type invoiceRow struct {
	Name              string          `json:"name"`
	Customer          string          `json:"customer"`
	Status            string          `json:"status"`
	DocStatus         int             `json:"docstatus"`
	PostingDate       string          `json:"posting_date"`
	DueDate           string          `json:"due_date"`
	Currency          string          `json:"currency"`
	GrandTotal        decimal.Decimal `json:"grand_total"`
	OutstandingAmount decimal.Decimal `json:"outstanding_amount"`
	PONo              string          `json:"po_no"`
	Modified          string          `json:"modified"`
}

var invoiceFields = fieldList("name", "customer", "status", "docstatus", "posting_date", "due_date",
	"currency", "grand_total", "outstanding_amount", "po_no", "modified")

// Invoices reads sales invoices by document name. Names the site does not
// have are absent from the result, which comes in no particular order.
func (c *Client) Invoices(ctx context.Context, names []string) ([]model.Invoice, error) {
	out, err := fanOut(ctx, c, names, func(ctx context.Context, chunk []string) ([]model.Invoice, error) {
		return c.invoices(ctx, "invoices.by_name", filter{"name", "in", chunk})
	})
	if err != nil {
		return nil, fmt.Errorf("read invoices: %w", err)
	}
	return out, nil
}

// InvoicesByOrder reads the sales invoices that bill the given shop orders
// (po_no, the shop order id as a string). An order may have several, a
// credit note besides the invoice, and all are returned, in no particular
// order.
func (c *Client) InvoicesByOrder(ctx context.Context, orderRefs []string) ([]model.Invoice, error) {
	out, err := fanOut(ctx, c, orderRefs, func(ctx context.Context, chunk []string) ([]model.Invoice, error) {
		return c.invoices(ctx, "invoices.by_order", filter{"po_no", "in", chunk})
	})
	if err != nil {
		return nil, fmt.Errorf("read invoices by order: %w", err)
	}
	return out, nil
}

// InvoicesByCustomer reads every sales invoice of the given ERP customers,
// in no particular order.
func (c *Client) InvoicesByCustomer(ctx context.Context, customers []string) ([]model.Invoice, error) {
	out, err := fanOut(ctx, c, customers, func(ctx context.Context, chunk []string) ([]model.Invoice, error) {
		return c.invoices(ctx, "invoices.by_customer", filter{"customer", "in", chunk})
	})
	if err != nil {
		return nil, fmt.Errorf("read invoices by customer: %w", err)
	}
	return out, nil
}

// InvoicesModifiedSince reads up to limit sales invoices changed after since,
// oldest change first; limit <= 0 means 10,000 (see walkModified for the
// cut at limit).
func (c *Client) InvoicesModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.Invoice, error) {
	rows, err := walkModified(ctx, c, listCall{route: "invoices.modified", doctype: "Sales Invoice", fields: invoiceFields},
		since, limit, func(r invoiceRow) string { return r.Modified })
	if err != nil {
		return nil, fmt.Errorf("read invoices modified since %s: %w", since.UTC().Format(time.RFC3339), err)
	}
	out, err := c.mapInvoices(rows)
	if err != nil {
		return nil, fmt.Errorf("read invoices modified since %s: %w", since.UTC().Format(time.RFC3339), err)
	}
	return out, nil
}

// CountInvoicesModifiedAfter is how many sales invoices changed after the
// given time, those InvoicesModifiedSince would read, counted in one call.
func (c *Client) CountInvoicesModifiedAfter(ctx context.Context, after time.Time) (int, error) {
	n, err := c.countModified(ctx, "invoices.count_modified", "Sales Invoice", after)
	if err != nil {
		return 0, fmt.Errorf("count invoices modified after %s: %w", after.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

func (c *Client) invoices(ctx context.Context, route string, f filter) ([]model.Invoice, error) {
	rows, err := listAll[invoiceRow](ctx, c, listCall{
		route: route, doctype: "Sales Invoice", fields: invoiceFields, filters: []filter{f}, order: "name asc",
	})
	if err != nil {
		return nil, err
	}
	return c.mapInvoices(rows)
}

// InvoiceQuery selects a page of sales invoices for a report. Zero fields
// do not filter.
type InvoiceQuery struct {
	Customer   string    // the ERP customer's document name
	Statuses   []string  // Draft, Unpaid, Partly Paid, Paid, Overdue, Cancelled, ...
	IssuedFrom time.Time // posting date on or after this day
	IssuedTo   time.Time // posting date on or before this day
	DueBefore  time.Time // due date before this day
	OpenOnly   bool      // only submitted invoices with an outstanding amount (a cancelled one keeps its amount, but nothing is owed)
	Offset     int
	Limit      int // 1 to 500; 0 means 50
}

// InvoicePage is one page of ListInvoices.
type InvoicePage struct {
	Invoices []model.Invoice
	HasMore  bool // another page follows
}

// MaxInvoicePage is the largest page ListInvoices serves.
const MaxInvoicePage = 500

func (q InvoiceQuery) filters() []filter {
	var fs []filter
	if q.Customer != "" {
		fs = append(fs, filter{"customer", "=", q.Customer})
	}
	if len(q.Statuses) > 0 {
		fs = append(fs, filter{"status", "in", q.Statuses})
	}
	if !q.IssuedFrom.IsZero() {
		fs = append(fs, filter{"posting_date", ">=", q.IssuedFrom.Format(dateLayout)})
	}
	if !q.IssuedTo.IsZero() {
		fs = append(fs, filter{"posting_date", "<=", q.IssuedTo.Format(dateLayout)})
	}
	if !q.DueBefore.IsZero() {
		fs = append(fs, filter{"due_date", "<", q.DueBefore.Format(dateLayout)})
	}
	if q.OpenOnly {
		fs = append(fs, filter{"docstatus", "=", 1}, filter{"outstanding_amount", ">", 0})
	}
	return fs
}

// ListInvoices reads one page of the invoices a query selects, newest
// posting date first, then by name descending, an order that is stable
// between pages. It asks for one row more than the page to learn whether
// another page follows.
func (c *Client) ListInvoices(ctx context.Context, q InvoiceQuery) (InvoicePage, error) {
	limit := q.Limit
	switch {
	case limit == 0:
		limit = 50
	case limit < 0 || limit > MaxInvoicePage:
		return InvoicePage{}, fmt.Errorf("list invoices: page size %d is not within 1 to %d", limit, MaxInvoicePage)
	}
	var p page[invoiceRow]
	err := c.list(ctx, listCall{
		route: "invoices.list", doctype: "Sales Invoice", fields: invoiceFields, filters: q.filters(),
		order: "posting_date desc, name desc", start: max(q.Offset, 0), limit: limit + 1,
	}, &p)
	if err != nil {
		return InvoicePage{}, fmt.Errorf("list invoices: %w", err)
	}
	more := len(p.Data) > limit
	if more {
		p.Data = p.Data[:limit]
	}
	invs, err := c.mapInvoices(p.Data)
	if err != nil {
		return InvoicePage{}, fmt.Errorf("list invoices: %w", err)
	}
	return InvoicePage{Invoices: invs, HasMore: more}, nil
}

// CountInvoices is how many invoices a query selects (Offset and Limit
// aside), for a connection's totalCount.
func (c *Client) CountInvoices(ctx context.Context, q InvoiceQuery) (int, error) {
	n, err := c.count(ctx, "invoices.count", "Sales Invoice", q.filters())
	if err != nil {
		return 0, fmt.Errorf("count invoices: %w", err)
	}
	return n, nil
}

func (c *Client) mapInvoices(rows []invoiceRow) ([]model.Invoice, error) {
	out := make([]model.Invoice, 0, len(rows))
	for i := range rows {
		inv, err := c.invoice(&rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, nil
}

func (c *Client) invoice(r *invoiceRow) (model.Invoice, error) {
	posting, err := date(r.PostingDate)
	if err != nil {
		return model.Invoice{}, badField("Sales Invoice", r.Name, "posting_date")
	}
	due, err := date(r.DueDate)
	if err != nil {
		return model.Invoice{}, badField("Sales Invoice", r.Name, "due_date")
	}
	modified, err := c.datetime(r.Modified)
	if err != nil {
		return model.Invoice{}, badField("Sales Invoice", r.Name, "modified")
	}
	return model.Invoice{
		ID:          r.Name,
		CustomerID:  r.Customer,
		Status:      r.Status,
		DocStatus:   r.DocStatus,
		IssueDate:   posting,
		DueDate:     due,
		Total:       model.Money{Amount: money(r.GrandTotal), Currency: r.Currency},
		Outstanding: model.Money{Amount: money(r.OutstandingAmount), Currency: r.Currency},
		OrderRef:    r.PONo,
		ModifiedAt:  modified,
	}, nil
}
