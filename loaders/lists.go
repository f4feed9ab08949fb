package loaders

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/trestlehq/trestle/cache"
	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sources/erpnext"
	"github.com/trestlehq/trestle/sources/rest"
	"github.com/trestlehq/trestle/sources/woocommerce"
)

// page is a cached list page: the keys of its records and the list's size.
// The records themselves live in the entity cache under their own keys, so
// a list and a read by key share them.
type page[K comparable, V any] struct {
	keys    []K
	partial []*V // the records themselves, when they are partial
	total   int
	hasMore bool
}

// listed is what one upstream list call returned.
type listed[V any] struct {
	records []V
	total   int
	hasMore bool
}

// listPage answers a list page from the cache or reads it (with one read
// for concurrent requests of the same page). What a read returns is put in
// the entity cache and in the operation's loader under each record's key,
// and the page's records are then loaded through the loader. The page's
// cache key includes the kind's invalidation count, so a change to any
// record of the kind retires every cached page of it.
//
// Partial records (read without some of their fields) are kept in the page
// alone: they never stand in for the whole record in the entity cache or
// the loader.
func listPage[K comparable, V any](ctx context.Context, f *Factory, loader *Loader[K, *V], system model.System, kind cache.Kind,
	query string, partial bool, key func(*V) K, id func(K) string, read func(context.Context) (listed[V], error)) ([]*V, page[K, V], error) {
	loader.reads.add(cache.ListRead(system, kind))
	epoch := f.cache.Epoch(system, kind)
	pageKey := fmt.Sprintf("list:%d:%s", epoch, query)
	r := cache.Fetch(ctx, f.cache, system, kind, []string{pageKey}, func(ctx context.Context, _ []string) (map[string]*page[K, V], error) {
		res, err := read(ctx)
		if err != nil {
			return nil, err
		}
		p := &page[K, V]{total: res.total, hasMore: res.hasMore}
		if partial {
			p.partial = make([]*V, len(res.records))
			for i := range res.records {
				p.partial[i] = &res.records[i]
			}
			return map[string]*page[K, V]{pageKey: p}, nil
		}
		p.keys = make([]K, len(res.records))
		byID := make(map[string]*V, len(res.records))
		for i := range res.records {
			v := &res.records[i]
			k := key(v)
			p.keys[i] = k
			byID[id(k)] = v
			loader.prime(ctx, k, v)
		}
		cache.Put(f.cache, system, kind, epoch, byID)
		return map[string]*page[K, V]{pageKey: p}, nil
	})[0]
	if r.Err != nil {
		return nil, page[K, V]{}, r.Err
	}
	if partial {
		return r.Value.partial, *r.Value, nil
	}
	records, err := loadAll(ctx, loader.LoadMany(ctx, r.Value.keys))
	return records, *r.Value, err
}

// OrderPage is one page of shop orders.
type OrderPage struct {
	Orders []*model.Order
	Total  int
}

// ListOrders reads a page of shop orders. A page read within the orders TTL
// (and with no order changed since) is answered from the cache.
func (l *Loaders) ListOrders(ctx context.Context, q woocommerce.OrderQuery) (OrderPage, error) {
	query := fmt.Sprintf("%+v", q) // every field selects, so every field keys the page
	orders, p, err := listPage(ctx, l.factory, l.Order, model.SystemShop, cache.Orders, query, q.WithoutLines,
		func(o *model.Order) int64 { return o.ID }, formatInt,
		func(ctx context.Context) (listed[model.Order], error) {
			res, err := l.factory.shop.ListOrders(ctx, q)
			return listed[model.Order]{records: res.Orders, total: res.Total}, err
		})
	return OrderPage{Orders: orders, Total: p.total}, err
}

// ProductPage is one page of shop products.
type ProductPage struct {
	Products []*model.Product
	Total    int
}

// ListProducts reads a page of shop products, from the cache as ListOrders
// does.
func (l *Loaders) ListProducts(ctx context.Context, q woocommerce.ProductQuery) (ProductPage, error) {
	query := fmt.Sprintf("%+v", q)
	products, p, err := listPage(ctx, l.factory, l.Product, model.SystemShop, cache.Products, query, false,
		func(p *model.Product) string { return p.SKU }, identity,
		func(ctx context.Context) (listed[model.Product], error) {
			res, err := l.factory.shop.ListProducts(ctx, q)
			return listed[model.Product]{records: res.Products, total: res.Total}, err
		})
	return ProductPage{Products: products, Total: p.total}, err
}

// InvoicePage is one page of ERP invoices.
type InvoicePage struct {
	Invoices []*model.Invoice
	Total    int
	HasMore  bool
}

// ListInvoices reads a page of ERP invoices and the size of the whole list,
// from the cache as ListOrders does.
func (l *Loaders) ListInvoices(ctx context.Context, q erpnext.InvoiceQuery) (InvoicePage, error) {
	query := fmt.Sprintf("%+v", q)
	invs, p, err := listPage(ctx, l.factory, l.Invoice, model.SystemERP, cache.Invoices, query, false,
		func(inv *model.Invoice) string { return inv.ID }, identity,
		func(ctx context.Context) (listed[model.Invoice], error) {
			// The page and the list's size are two calls to the ERP; they go
			// out together.
			var total int
			var countErr error
			done := make(chan struct{})
			go func() {
				defer close(done)
				total, countErr = l.factory.erp.CountInvoices(ctx, q)
			}()
			res, err := l.factory.erp.ListInvoices(ctx, q)
			<-done
			return listed[model.Invoice]{records: res.Invoices, total: total, hasMore: res.HasMore}, errors.Join(err, countErr)
		})
	return InvoicePage{Invoices: invs, Total: p.total, HasMore: p.hasMore}, err
}

// loadAll waits for the records of a page, dropping those that vanished
// upstream since the page was read.
func loadAll[V any](ctx context.Context, thunk func() ([]*V, []error)) ([]*V, error) {
	vals, errs := thunk()
	out := vals[:0]
	for i, v := range vals {
		if errs != nil && errs[i] != nil {
			if errs[i] == ErrNotFound {
				continue
			}
			return nil, errs[i]
		}
		out = append(out, v)
	}
	return out, nil
}

// lifetimeParallel bounds the per-customer order walks of one batch: the
// shop lists orders of one customer per call.
const lifetimeParallel = 8

// lifetimeValues sums, per shop customer, the orders that count as sales,
// walking each customer's order pages. A customer without sales has a value
// of nothing in the shop's currency.
func (f *Factory) lifetimeValues(ctx context.Context, ids []int64) (map[int64]*model.Money, error) {
	sums, err := rest.FanOut(ctx, ids, 1, lifetimeParallel, func(ctx context.Context, chunk []int64) ([]*model.Money, error) {
		orders, err := f.walkOrders(ctx, woocommerce.OrderQuery{CustomerID: chunk[0], Statuses: consolidate.SalesStatuses})
		if err != nil {
			return nil, err
		}
		sum, err := consolidate.LifetimeValue(orders)
		if sum == nil && err == nil {
			var currency string
			currency, err = f.shop.Currency(ctx)
			sum = &model.Money{Currency: currency}
		}
		return []*model.Money{sum}, err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[int64]*model.Money, len(ids))
	for i, id := range ids {
		out[id] = sums[i]
	}
	return out, nil
}

// maxWalkPages bounds the order pages one customer's history is read from.
const maxWalkPages = 20

// walkOrders reads every order a query selects, a hundred a page, newest
// first. The pages are read oldest first, so an order placed during the
// walk lands on a later page instead of pushing one already read onto the
// next; an order seen twice (it changed between pages) counts once.
func (f *Factory) walkOrders(ctx context.Context, q woocommerce.OrderQuery) ([]*model.Order, error) {
	q.PerPage, q.OldestFirst = 100, true
	var out []*model.Order
	seen := map[int64]bool{}
	for q.Page = 1; q.Page <= maxWalkPages; q.Page++ {
		res, err := f.shop.ListOrders(ctx, q)
		if err != nil {
			return nil, err
		}
		for i := range res.Orders {
			if o := &res.Orders[i]; !seen[o.ID] {
				seen[o.ID] = true
				out = append(out, o)
			}
		}
		if q.Page >= res.TotalPages {
			slices.Reverse(out)
			return out, nil
		}
	}
	return nil, fmt.Errorf("order history of more than %d orders", maxWalkPages*100)
}

// GuestOrders reads the orders placed without an account with this e-mail
// address (normalised), newest first. The shop finds them by its order
// search, which also matches names and other addresses, so only orders whose
// billing address is this one are kept. A guest's history is read whole and
// cached like a list page.
func (l *Loaders) GuestOrders(ctx context.Context, email string) ([]*model.Order, error) {
	orders, _, err := listPage(ctx, l.factory, l.Order, model.SystemShop, cache.Orders, "guest|"+email, false,
		func(o *model.Order) int64 { return o.ID }, formatInt,
		func(ctx context.Context) (listed[model.Order], error) {
			all, err := l.factory.walkOrders(ctx, woocommerce.OrderQuery{GuestsOnly: true, Search: email})
			var mine []model.Order
			for _, o := range all {
				if consolidate.GuestOrderOf(o, email) {
					mine = append(mine, *o)
				}
			}
			return listed[model.Order]{records: mine, total: len(mine)}, err
		})
	return orders, err
}
