package resolvers

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/loaders"
	"github.com/trestlehq/trestle/sources/erpnext"
	"github.com/trestlehq/trestle/sources/woocommerce"
)

// orders answers an order connection from the shop's order list. customer
// is the shop account to list, 0 for all.
func (r *Resolver) orders(ctx context.Context, customer int64, filter *model.OrderFilter, orderBy *model.OrderOrder,
	first *int, after *string) (*model.OrderConnection, error) {
	n, offset, err := pageWindow(first, after)
	if err != nil {
		return nil, err
	}
	q := woocommerce.OrderQuery{CustomerID: customer, PerPage: max(n, 1)}
	if offset%q.PerPage != 0 {
		return nil, badInput("after does not fall on a page of %d; keep first the same while paging", q.PerPage)
	}
	q.Page = offset/q.PerPage + 1
	if filter != nil {
		if q.Statuses, err = upstreamStatuses(filter.Status, model.ShopStatus); err != nil {
			return nil, err
		}
		if filter.CreatedAt != nil {
			q.CreatedAfter, q.CreatedBefore = deref(filter.CreatedAt.From), deref(filter.CreatedAt.To)
		}
	}
	if orderBy != nil && orderBy.Direction == model.SortDirectionAsc {
		q.OldestFirst = true
	}
	// Line items are most of an order's bytes: only asked for when shown.
	q.WithoutLines = !selectionOf(ctx).at("edges", "node").has("lines")
	page, err := loaders.For(ctx).ListOrders(ctx, q)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		page.Orders = nil
	}
	return r.orderConnection(ctx, page.Orders, offset, page.Total), nil
}

// orderConnection is the page of orders that starts at offset in a list of
// total, with what the selection reads below them prefetched.
func (r *Resolver) orderConnection(ctx context.Context, orders []*model.Order, offset, total int) *model.OrderConnection {
	r.prefetchOrders(ctx, orders, selectionOf(ctx).at("edges", "node"))
	conn := &model.OrderConnection{TotalCount: total}
	for i, o := range orders {
		conn.Edges = append(conn.Edges, model.OrderEdge{Cursor: offsetCursor(offset + i), Node: o})
	}
	conn.PageInfo = pageInfo(offset, len(conn.Edges), total)
	return conn
}

// customers answers a customer connection from the directory, in key order;
// a cursor is the key of the customer it points at.
func (r *Resolver) customers(ctx context.Context, f consolidate.Filter, first *int, after *string) (*model.CustomerConnection, error) {
	n, err := firstOf(first)
	if err != nil {
		return nil, err
	}
	start := ""
	if after != nil && *after != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*after)
		if err != nil || len(raw) == 0 {
			return nil, badInput("after is not a cursor of this list")
		}
		start = string(raw)
	}
	if err := r.directoryReady(ctx); err != nil {
		return nil, err
	}
	// A list the directory failed to read leaves its customers out, and
	// the others without their keys in it: the list says so, and is
	// answered with what the directory holds.
	graphql.AddError(ctx, reportGaps(ctx, r.directory(ctx).Gaps()))
	p := r.directory(ctx).List(f, start, n)
	conn := &model.CustomerConnection{TotalCount: p.Total, PageInfo: &model.PageInfo{HasNextPage: p.HasNext, HasPreviousPage: p.HasPrev}}
	customers := make([]*model.Customer, len(p.Entries))
	for i, e := range p.Entries {
		customers[i] = customerFor(e)
		cursor := base64.RawURLEncoding.EncodeToString([]byte(e.Key()))
		conn.Edges = append(conn.Edges, model.CustomerEdge{Cursor: cursor, Node: customers[i]})
	}
	if len(conn.Edges) > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[len(conn.Edges)-1].Cursor
	}
	var pre prefetch
	r.prefetchCustomers(&pre, ctx, customers, selectionOf(ctx).at("edges", "node"))
	pre.run()
	return conn, nil
}

// customerOrders answers a customer's orders: by shop account, or, for a
// customer without one, the guest orders under their e-mail address.
func (r *Resolver) customerOrders(ctx context.Context, c *model.Customer, filter *model.OrderFilter, orderBy *model.OrderOrder,
	first *int, after *string) (*model.OrderConnection, error) {
	switch {
	case c == nil:
		return &model.OrderConnection{PageInfo: &model.PageInfo{}}, nil
	case c.ShopID != 0:
		return r.orders(ctx, c.ShopID, filter, orderBy, first, after)
	}
	// Without a shop account the orders are a guest's, unless the shop's
	// list could not be read to tell.
	if err := r.unjoined(ctx, c, model.SystemShop); err != nil {
		return nil, err
	}
	if c.Email != "" {
		return r.guestOrders(ctx, c.Email, filter, orderBy, first, after)
	}
	return &model.OrderConnection{PageInfo: &model.PageInfo{}}, nil
}

// guestOrders answers an order connection from a guest's whole order
// history (orders without an account under this e-mail address), filtered,
// sorted and paged here: the shop cannot select them exactly.
func (r *Resolver) guestOrders(ctx context.Context, email string, filter *model.OrderFilter, orderBy *model.OrderOrder,
	first *int, after *string) (*model.OrderConnection, error) {
	n, offset, err := pageWindow(first, after)
	if err != nil {
		return nil, err
	}
	history, err := loaders.For(ctx).GuestOrders(ctx, email)
	if err != nil {
		return nil, err
	}
	var statuses []string
	var from, to time.Time
	if filter != nil {
		if statuses, err = upstreamStatuses(filter.Status, model.ShopStatus); err != nil {
			return nil, err
		}
		if filter.CreatedAt != nil {
			from, to = deref(filter.CreatedAt.From), deref(filter.CreatedAt.To)
		}
	}
	var orders []*model.Order
	for _, o := range history {
		if (len(statuses) == 0 || slices.Contains(statuses, o.Status)) &&
			(from.IsZero() || o.CreatedAt.After(from)) && (to.IsZero() || o.CreatedAt.Before(to)) {
			orders = append(orders, o)
		}
	}
	// The history comes newest first, as the shop lists it.
	if orderBy != nil && orderBy.Direction == model.SortDirectionAsc {
		slices.Reverse(orders)
	}
	total := len(orders)
	orders = orders[min(offset, total):]
	orders = orders[:min(n, len(orders))]
	return r.orderConnection(ctx, orders, offset, total), nil
}

// invoices answers an invoice connection from the ERP's invoice list.
// customer is the ERP customer to list, "" for all.
func (r *Resolver) invoices(ctx context.Context, customer string, filter *model.InvoiceFilter, first *int, after *string) (*model.InvoiceConnection, error) {
	n, offset, err := pageWindow(first, after)
	if err != nil {
		return nil, err
	}
	q := erpnext.InvoiceQuery{Customer: customer, Offset: offset, Limit: max(n, 1)}
	if filter != nil {
		if q.Statuses, err = upstreamStatuses(filter.Status, model.ERPStatus); err != nil {
			return nil, err
		}
		if filter.IssueDate != nil {
			q.IssuedFrom, q.IssuedTo = deref(filter.IssueDate.From), deref(filter.IssueDate.To)
		}
		q.DueBefore = deref(filter.DueBefore)
		q.OpenOnly = deref(filter.Outstanding)
	}
	page, err := loaders.For(ctx).ListInvoices(ctx, q)
	if err != nil {
		return nil, err
	}
	conn := &model.InvoiceConnection{TotalCount: page.Total}
	if n == 0 {
		page.Invoices = nil
	}
	r.prefetchInvoices(ctx, page.Invoices, selectionOf(ctx).at("edges", "node"))
	for i, inv := range page.Invoices {
		conn.Edges = append(conn.Edges, model.InvoiceEdge{Cursor: offsetCursor(offset + i), Node: inv})
	}
	conn.PageInfo = pageInfo(offset, len(conn.Edges), page.Total)
	return conn, nil
}

// productsBySKU answers a page of the products named by SKU, in the order
// given, with nil for SKUs the shop does not list.
func productsBySKU(ctx context.Context, skus []string, offset, n int) ([]*model.Product, int, error) {
	page := skus[min(offset, len(skus)):]
	page = page[:min(n, len(page))]
	found, errs := loaders.For(ctx).Product.LoadMany(ctx, page)()
	for i := range found {
		if errs != nil && errs[i] != nil {
			if !errors.Is(errs[i], loaders.ErrNotFound) {
				return nil, 0, errs[i]
			}
			found[i] = nil
		}
	}
	return found, len(skus), nil
}

// prefetchStock loads the ERP stock of these products (nil for those not
// found) together, when their selection reads it.
func prefetchStock(ctx context.Context, products []*model.Product, sel selection) {
	if !sel.has("stock") && !sel.has("available") {
		return
	}
	skus := make([]string, 0, len(products))
	for _, p := range products {
		if p != nil {
			skus = append(skus, p.SKU)
		}
	}
	loaders.For(ctx).Stock.Prefetch(ctx, skus)
}

// customerFromID resolves a customer global ID given as a filter.
func (r *Resolver) customerFromID(ctx context.Context, id string) (*model.Customer, error) {
	key, err := parseID(id, "Customer")
	if err != nil {
		return nil, err
	}
	return r.customerByKey(ctx, key)
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
