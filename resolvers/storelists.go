package resolvers

import (
	"context"
	"errors"
	"strings"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/loaders"
	"github.com/trestlehq/trestle/store"
)

// The lists that orderBy sorts are the reporting store's: it sorts, filters
// and counts them and gives the page's keys with their cursors, and the rows
// themselves are the live graph's, read through the loaders.

// storeFirst checks first: for a list the store sorts (20 when not given,
// as the schema's default).
func storeFirst(first *int) (int, error) {
	n := 20
	if first != nil {
		n = *first
	}
	if n < 0 || n > store.MaxListPage {
		return 0, badInput("first must be between 0 and %d for a list sorted by orderBy, which the reporting store serves, not %d "+
			"(a live list, without orderBy, takes up to 100)", store.MaxListPage, n)
	}
	return n, nil
}

// listSort is a sort field and direction of the graph's as the store names
// them: LIFETIME_VALUE is "lifetime_value".
func listSort(field string, dir model.SortDirection) store.ListSort {
	return store.ListSort{By: strings.ToLower(field), Desc: dir == model.SortDirectionDesc}
}

// storePageInfo is the page info of a store list's page.
func storePageInfo[T any](p store.ListPage[T]) *model.PageInfo {
	pi := &model.PageInfo{HasNextPage: p.HasNext, HasPreviousPage: p.HasPrev}
	if len(p.Cursors) > 0 {
		pi.StartCursor, pi.EndCursor = &p.Cursors[0], &p.Cursors[len(p.Cursors)-1]
	}
	return pi
}

// storeCustomers answers customers(orderBy:) from the store. A customer the
// directory knows is its entry; one it does not know yet, the store's keys.
func (r *Resolver) storeCustomers(ctx context.Context, f consolidate.Filter, orderBy *model.CustomerOrder, first *int, after *string) (*model.CustomerConnection, error) {
	n, err := storeFirst(first)
	if err != nil {
		return nil, err
	}
	fresh, err := r.freshness(ctx)
	if err != nil {
		return nil, err
	}
	page, err := r.Store.CustomerList(ctx, store.CustomerListQuery{Sort: listSort(string(orderBy.Field), orderBy.Direction),
		Search: f.Search, KnownTo: f.KnownTo, LifecycleStage: f.LifecycleStage, After: deref(after), First: n})
	if err != nil {
		return nil, err
	}
	conn := &model.CustomerConnection{TotalCount: page.Total, PageInfo: storePageInfo(page), Freshness: fresh}
	customers := make([]*model.Customer, len(page.Rows))
	for i := range page.Rows {
		if e, ok := r.directory(ctx).ByKey(page.Rows[i].Key); ok {
			customers[i] = customerFor(e)
		} else {
			customers[i] = reportCustomer(&page.Rows[i])
		}
		conn.Edges = append(conn.Edges, model.CustomerEdge{Cursor: page.Cursors[i], Node: customers[i]})
	}
	var pre prefetch
	r.prefetchCustomers(&pre, ctx, customers, selectionOf(ctx).at("edges", "node"))
	pre.run()
	return conn, nil
}

// storeInvoices answers invoices(orderBy:) from the store, with the same
// filter as the ERP's list; customer is the ERP customer, "" for all.
func (r *Resolver) storeInvoices(ctx context.Context, customer string, filter *model.InvoiceFilter, orderBy *model.InvoiceOrder,
	first *int, after *string) (*model.InvoiceConnection, error) {
	n, err := storeFirst(first)
	if err != nil {
		return nil, err
	}
	q := store.InvoiceListQuery{Sort: listSort(string(orderBy.Field), orderBy.Direction), Customer: customer, After: deref(after), First: n}
	if q.InvoiceFilter, err = storeInvoiceFilter(filter); err != nil {
		return nil, err
	}
	fresh, err := r.freshness(ctx)
	if err != nil {
		return nil, err
	}
	page, err := r.Store.InvoiceList(ctx, q)
	if err != nil {
		return nil, err
	}
	invs, errs := loaders.For(ctx).Invoice.LoadMany(ctx, page.Rows)()
	conn := &model.InvoiceConnection{TotalCount: page.Total, PageInfo: storePageInfo(page), Freshness: fresh}
	var found []*model.Invoice
	for i, inv := range invs {
		// An invoice the ERP no longer has was deleted since the store
		// read it: the page goes on without it.
		if missing, err := gone(errs, i); err != nil {
			return nil, err
		} else if !missing {
			found = append(found, inv)
			conn.Edges = append(conn.Edges, model.InvoiceEdge{Cursor: page.Cursors[i], Node: inv})
		}
	}
	r.prefetchInvoices(ctx, found, selectionOf(ctx).at("edges", "node"))
	return conn, nil
}

// storeProducts answers products(orderBy:) from the store. The shop's
// search also reads descriptions, which the store does not hold: a search
// is refused rather than answered otherwise.
func (r *Resolver) storeProducts(ctx context.Context, filter *model.ProductFilter, orderBy *model.ProductOrder, first *int, after *string) (*model.ProductConnection, error) {
	n, err := storeFirst(first)
	if err != nil {
		return nil, err
	}
	q := store.ProductListQuery{Sort: listSort(string(orderBy.Field), orderBy.Direction), After: deref(after), First: n}
	if filter != nil {
		if filter.Search != nil {
			return nil, badInput("filter.search cannot be combined with orderBy: the shop's search reads descriptions too, " +
				"which the reporting store does not hold; filter by skus or stockStatus, or search without orderBy")
		}
		q.SKUs, q.StockStatus = filter.Skus, deref(filter.StockStatus)
	}
	fresh, err := r.freshness(ctx)
	if err != nil {
		return nil, err
	}
	page, err := r.Store.ProductList(ctx, q)
	if err != nil {
		return nil, err
	}
	products, _, err := productsBySKU(ctx, page.Rows, 0, len(page.Rows))
	if err != nil {
		return nil, err
	}
	conn := &model.ProductConnection{TotalCount: page.Total, PageInfo: storePageInfo(page), Freshness: fresh}
	for i, p := range products {
		if p != nil { // nil: no longer in the shop
			conn.Edges = append(conn.Edges, model.ProductEdge{Cursor: page.Cursors[i], Node: p})
		}
	}
	prefetchStock(ctx, products, selectionOf(ctx).at("edges", "node"))
	return conn, nil
}

// gone reports whether a loaded entity was not found; any other failure is
// the error.
func gone(errs []error, i int) (bool, error) {
	if errs == nil || errs[i] == nil {
		return false, nil
	}
	if errors.Is(errs[i], loaders.ErrNotFound) {
		return true, nil
	}
	return false, errs[i]
}

// storeInvoiceFilter is the graph's invoice filter as the store takes it.
func storeInvoiceFilter(filter *model.InvoiceFilter) (store.InvoiceFilter, error) {
	var f store.InvoiceFilter
	if filter == nil {
		return f, nil
	}
	var err error
	if f.Statuses, err = upstreamStatuses(filter.Status, model.ERPStatus); err != nil {
		return f, err
	}
	if r := filter.IssueDate; r != nil {
		f.IssuedFrom, f.IssuedTo = deref(r.From), deref(r.To)
	}
	f.DueBefore, f.OpenOnly = deref(filter.DueBefore), deref(filter.Outstanding)
	return f, nil
}
