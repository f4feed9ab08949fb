package loaders

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

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
type page[K comparable] struct {
	keys    []K
	total   int
	hasMore bool
}

// OrderPage is one page of shop orders.
type OrderPage struct {
	Orders []*model.Order
	Total  int
}

// ListOrders reads a page of shop orders. A page read within the orders TTL
// (and with no order changed since) is answered from the cache.
func (l *Loaders) ListOrders(ctx context.Context, q woocommerce.OrderQuery) (OrderPage, error) {
	f := l.factory
	epoch := f.cache.Epoch(model.SystemShop, cache.Orders)
	key := fmt.Sprintf("list:%d:%d|%s|%s|%s|%d|%d|%t", epoch, q.CustomerID, strings.Join(q.Statuses, ","),
		stamp(q.CreatedAfter), stamp(q.CreatedBefore), q.Page, q.PerPage, q.OldestFirst)
	p, err := cachedPage(ctx, f, model.SystemShop, cache.Orders, key, func(ctx context.Context) (page[int64], error) {
		res, err := f.shop.ListOrders(ctx, q)
		if err != nil {
			return page[int64]{}, err
		}
		ids := make([]int64, len(res.Orders))
		byID := make(map[string]*model.Order, len(res.Orders))
		for i := range res.Orders {
			o := &res.Orders[i]
			ids[i] = o.ID
			byID[formatInt(o.ID)] = o
			l.Order.prime(ctx, o.ID, o)
		}
		cache.Put(f.cache, model.SystemShop, cache.Orders, epoch, byID)
		return page[int64]{keys: ids, total: res.Total}, nil
	})
	if err != nil {
		return OrderPage{}, err
	}
	orders, err := loadAll(ctx, l.Order.LoadMany(ctx, p.keys))
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
	f := l.factory
	epoch := f.cache.Epoch(model.SystemShop, cache.Products)
	key := fmt.Sprintf("list:%d:%s|%s|%d|%d", epoch, q.Search, q.StockStatus, q.Offset, q.PerPage)
	p, err := cachedPage(ctx, f, model.SystemShop, cache.Products, key, func(ctx context.Context) (page[string], error) {
		res, err := f.shop.ListProducts(ctx, q)
		if err != nil {
			return page[string]{}, err
		}
		skus := make([]string, len(res.Products))
		bySKU := make(map[string]*model.Product, len(res.Products))
		for i := range res.Products {
			pr := &res.Products[i]
			skus[i] = pr.SKU
			bySKU[pr.SKU] = pr
			l.Product.prime(ctx, pr.SKU, pr)
		}
		cache.Put(f.cache, model.SystemShop, cache.Products, epoch, bySKU)
		return page[string]{keys: skus, total: res.Total}, nil
	})
	if err != nil {
		return ProductPage{}, err
	}
	products, err := loadAll(ctx, l.Product.LoadMany(ctx, p.keys))
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
	f := l.factory
	epoch := f.cache.Epoch(model.SystemERP, cache.Invoices)
	key := fmt.Sprintf("list:%d:%s|%s|%s|%s|%s|%t|%d|%d", epoch, q.Customer, strings.Join(q.Statuses, ","),
		stamp(q.IssuedFrom), stamp(q.IssuedTo), stamp(q.DueBefore), q.OpenOnly, q.Offset, q.Limit)
	p, err := cachedPage(ctx, f, model.SystemERP, cache.Invoices, key, func(ctx context.Context) (page[string], error) {
		var (
			res   erpnext.InvoicePage
			total int
			errs  [2]error
			done  = make(chan struct{})
		)
		go func() {
			defer close(done)
			total, errs[1] = f.erp.CountInvoices(ctx, q)
		}()
		res, errs[0] = f.erp.ListInvoices(ctx, q)
		<-done
		for _, err := range errs {
			if err != nil {
				return page[string]{}, err
			}
		}
		names := make([]string, len(res.Invoices))
		byName := make(map[string]*model.Invoice, len(res.Invoices))
		for i := range res.Invoices {
			inv := &res.Invoices[i]
			names[i] = inv.ID
			byName[inv.ID] = inv
			l.Invoice.prime(ctx, inv.ID, inv)
		}
		cache.Put(f.cache, model.SystemERP, cache.Invoices, epoch, byName)
		return page[string]{keys: names, total: total, hasMore: res.HasMore}, nil
	})
	if err != nil {
		return InvoicePage{}, err
	}
	invs, err := loadAll(ctx, l.Invoice.LoadMany(ctx, p.keys))
	return InvoicePage{Invoices: invs, Total: p.total, HasMore: p.hasMore}, err
}

// cachedPage answers a list page from the cache or reads it, with one read
// for concurrent requests of the same page.
func cachedPage[K comparable](ctx context.Context, f *Factory, system model.System, kind cache.Kind, key string,
	read func(context.Context) (page[K], error)) (*page[K], error) {
	r := cache.Fetch(ctx, f.cache, system, kind, []string{key}, func(ctx context.Context, _ []string) (map[string]*page[K], error) {
		p, err := read(ctx)
		if err != nil {
			return nil, err
		}
		return map[string]*page[K]{key: &p}, nil
	})[0]
	return r.Value, r.Err
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

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

// lifetimeParallel bounds the per-customer order walks of one batch: the
// shop lists orders of one customer per call.
const lifetimeParallel = 8

// lifetimeValues sums, per shop customer, the orders that count as sales,
// walking each customer's order pages.
func (f *Factory) lifetimeValues(ctx context.Context, ids []int64) (map[int64]*model.Money, error) {
	sums, err := rest.FanOut(ctx, ids, 1, lifetimeParallel, func(ctx context.Context, chunk []int64) ([]*model.Money, error) {
		sum := &model.Money{}
		for pg := 1; ; pg++ {
			res, err := f.shop.ListOrders(ctx, woocommerce.OrderQuery{CustomerID: chunk[0], Statuses: consolidate.SalesStatuses, Page: pg, PerPage: 100})
			if err != nil {
				return nil, err
			}
			for _, o := range res.Orders {
				if sum.Currency == "" {
					sum.Currency = o.Currency
				}
				if o.Currency != sum.Currency {
					return nil, fmt.Errorf("customer %d has orders in %s and %s", chunk[0], sum.Currency, o.Currency)
				}
				if sum.Amount, err = sum.Amount.Add(o.Total); err != nil {
					return nil, err
				}
			}
			if pg >= res.TotalPages {
				return []*model.Money{sum}, nil
			}
		}
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
