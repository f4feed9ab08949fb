// Package loaders batches the reads of one GraphQL operation: each loader
// collects the keys its resolvers ask for within a short window, answers
// what it can from the entity cache, and sends the rest upstream as one
// batched call per system. Loaders are made per operation (and per
// subscription event), never shared, so one client's keys never wait on
// another's window; sharing across operations is the cache's job.
package loaders

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/graph-gophers/dataloader/v7"
	"go.opentelemetry.io/otel/attribute"

	"github.com/trestlehq/trestle/cache"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/metrics"
	"github.com/trestlehq/trestle/sources/erpnext"
	"github.com/trestlehq/trestle/sources/rest"
	"github.com/trestlehq/trestle/sources/woocommerce"
	"github.com/trestlehq/trestle/tracing"
)

// The batched reads the loaders make of each system, declared here at the
// consumer.
type (
	// Shop reads shop records by key, and pages through orders and products.
	Shop interface {
		ListOrders(ctx context.Context, q woocommerce.OrderQuery) (woocommerce.OrderPage, error)
		ListProducts(ctx context.Context, q woocommerce.ProductQuery) (woocommerce.ProductPage, error)
		Currency(ctx context.Context) (string, error)
		Orders(ctx context.Context, ids []int64) ([]model.Order, error)
		Customers(ctx context.Context, ids []int64) ([]model.ShopCustomer, error)
		ProductsBySKU(ctx context.Context, skus []string) ([]model.Product, error)
	}
	// CRM reads contacts by key.
	CRM interface {
		Contacts(ctx context.Context, ids []string) ([]model.Contact, error)
	}
	// ERP reads ERP records by key, and pages through invoices.
	ERP interface {
		ListInvoices(ctx context.Context, q erpnext.InvoiceQuery) (erpnext.InvoicePage, error)
		CountInvoices(ctx context.Context, q erpnext.InvoiceQuery) (int, error)
		Customers(ctx context.Context, names []string) ([]model.ERPCustomer, error)
		Invoices(ctx context.Context, names []string) ([]model.Invoice, error)
		InvoicesByOrder(ctx context.Context, orderRefs []string) ([]model.Invoice, error)
		InvoicesByCustomer(ctx context.Context, customers []string) ([]model.Invoice, error)
		Stock(ctx context.Context, skus []string) ([]model.StockLevel, error)
	}
)

// ErrNotFound is a loader's result for a key the upstream does not have.
var ErrNotFound = cache.ErrNotFound

// Factory makes the loaders of each operation.
type Factory struct {
	shop  Shop
	crm   CRM
	erp   ERP
	cache *cache.Entities
	wait  time.Duration
	// observe, when set, is told of every batch (ObserveBatches).
	observe func(loader string, keys int)
}

// ObserveBatches has observe told of every batch: its loader's name and
// how many keys it carried. Call it before the factory is used.
func (f *Factory) ObserveBatches(observe func(loader string, keys int)) { f.observe = observe }

// NewFactory makes loaders over the three systems and the cache. wait is how
// long a loader collects keys before it calls upstream; about a millisecond
// is enough for the resolvers of one level of a query to ask.
func NewFactory(shop Shop, crm CRM, erp ERP, c *cache.Entities, wait time.Duration) *Factory {
	return &Factory{shop: shop, crm: crm, erp: erp, cache: c, wait: wait}
}

// Loaders are one operation's loaders.
type Loaders struct {
	factory *Factory
	stale   *staleReads
	reads   *reads

	Order            *Loader[int64, *model.Order]
	ShopCustomer     *Loader[int64, *model.ShopCustomer]
	Product          *Loader[string, *model.Product] // by SKU
	Contact          *Loader[string, *model.Contact]
	ERPCustomer      *Loader[string, *model.ERPCustomer]
	Invoice          *Loader[string, *model.Invoice]
	OrderInvoices    *Loader[int64, []model.Invoice]     // by shop order id
	CustomerInvoices *Loader[string, []model.Invoice]    // by ERP customer
	Stock            *Loader[string, []model.StockLevel] // by SKU
	// LifetimeValue sums a shop customer's sales; by shop customer id.
	LifetimeValue *Loader[int64, *model.Money]
}

// Loader is a dataloader that answers keys the entity cache holds at once,
// and can be handed a whole level's keys together (Prefetch).
type Loader[K comparable, V any] struct {
	*dataloader.Loader[K, V]
	results *dataloader.InMemoryCache[K, V]
	batch   dataloader.BatchFunc[K, V]
	peek    func(K) (V, bool, error)

	system  model.System
	kind    cache.Kind
	cacheID func(K) string // the key's id in the entity cache
	stale   *staleReads
	reads   *reads
}

// Load returns the value of key: at once when the operation or the entity
// cache has it, else from the next batch. Waiting out a batch window for a
// cached key would only add latency.
func (l *Loader[K, V]) Load(ctx context.Context, key K) dataloader.Thunk[V] {
	if l.reads != nil { // not making the key when no answers are kept
		l.reads.add(cache.Read(l.system, l.kind, l.cacheID(key)))
	}
	thunk, loaded := l.results.Get(ctx, key)
	if !loaded {
		if v, ok, err := l.peek(key); ok {
			metrics.CountCache(ctx, 1, 0)
			return func() (V, error) { return v, err }
		}
		thunk = l.Loader.Load(ctx, key)
	}
	return func() (V, error) {
		v, err := thunk()
		if l.stale.any.Load() {
			l.stale.shown(ctx, l.system, l.kind, l.cacheID(key))
		}
		return v, err
	}
}

// LoadMany returns the values of keys in their order: those the operation
// or the entity cache has at once, the rest from the next batch. Unlike the
// dataloader's own, it starts no goroutine per key. The errors are nil when
// none failed, else one per key.
func (l *Loader[K, V]) LoadMany(ctx context.Context, keys []K) dataloader.ThunkMany[V] {
	thunks := make([]dataloader.Thunk[V], len(keys))
	for i, k := range keys {
		thunks[i] = l.Load(ctx, k)
	}
	return func() ([]V, []error) {
		vals := make([]V, len(keys))
		var errs []error
		for i, thunk := range thunks {
			v, err := thunk()
			vals[i] = v
			if err != nil {
				if errs == nil {
					errs = make([]error, len(keys))
				}
				errs[i] = err
			}
		}
		return vals, errs
	}
}

// Prefetch loads the keys this operation has not loaded yet in one batch,
// now, and keeps the results (errors too) for the operation's later loads
// of them. A list resolver calls it with the keys its items will ask for, so
// the batch holds them all however the items' resolvers are scheduled.
func (l *Loader[K, V]) Prefetch(ctx context.Context, keys []K) {
	seen := make(map[K]bool, len(keys))
	var missing []K
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		if _, ok := l.results.Get(ctx, k); !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return
	}
	for i, r := range l.batch(ctx, missing) {
		l.results.Set(ctx, missing[i], func() (V, error) { return r.Data, r.Error })
	}
}

// prime keeps a value read by a list for the operation's later loads.
func (l *Loader[K, V]) prime(ctx context.Context, key K, v V) {
	l.results.Set(ctx, key, func() (V, error) { return v, nil })
}

// New makes the loaders of one operation.
func (f *Factory) New() *Loaders { return f.new(false) }

// NewFresh makes loaders that never serve an entity past its TTL, failing
// the read instead: for a change's event, which must carry the value as
// it is now.
func (f *Factory) NewFresh() *Loaders { return f.new(true) }

func (f *Factory) new(fresh bool) *Loaders {
	stale := &staleReads{refuse: fresh}
	var noted *reads // only for the answers kept
	if f.cache.Responses() != nil {
		noted = &reads{}
	}
	return &Loaders{
		factory: f,
		stale:   stale,
		reads:   noted,
		Order: newLoader(f, stale, noted, model.SystemShop, cache.Orders, "", formatInt, func(ctx context.Context, ids []int64) (map[int64]*model.Order, error) {
			recs, err := f.shop.Orders(ctx, ids)
			return byKey(recs, err, func(o *model.Order) int64 { return o.ID })
		}),
		ShopCustomer: newLoader(f, stale, noted, model.SystemShop, cache.Customers, "", formatInt, func(ctx context.Context, ids []int64) (map[int64]*model.ShopCustomer, error) {
			recs, err := f.shop.Customers(ctx, ids)
			return byKey(recs, err, func(c *model.ShopCustomer) int64 { return c.ID })
		}),
		Product: newLoader(f, stale, noted, model.SystemShop, cache.Products, "", identity, func(ctx context.Context, skus []string) (map[string]*model.Product, error) {
			recs, err := f.shop.ProductsBySKU(ctx, skus)
			return byKey(recs, err, func(p *model.Product) string { return p.SKU })
		}),
		Contact: newLoader(f, stale, noted, model.SystemCRM, cache.Customers, "", identity, func(ctx context.Context, ids []string) (map[string]*model.Contact, error) {
			recs, err := f.crm.Contacts(ctx, ids)
			return byKey(recs, err, func(c *model.Contact) string { return c.ID })
		}),
		ERPCustomer: newLoader(f, stale, noted, model.SystemERP, cache.Customers, "", identity, func(ctx context.Context, names []string) (map[string]*model.ERPCustomer, error) {
			recs, err := f.erp.Customers(ctx, names)
			return byKey(recs, err, func(c *model.ERPCustomer) string { return c.ID })
		}),
		Invoice: newLoader(f, stale, noted, model.SystemERP, cache.Invoices, "", identity, func(ctx context.Context, names []string) (map[string]*model.Invoice, error) {
			recs, err := f.erp.Invoices(ctx, names)
			return byKey(recs, err, func(i *model.Invoice) string { return i.ID })
		}),
		OrderInvoices: newLoader(f, stale, noted, model.SystemERP, cache.Invoices, "order:", formatInt, func(ctx context.Context, ids []int64) (map[int64][]model.Invoice, error) {
			refs := make([]string, len(ids))
			for i, id := range ids {
				refs[i] = formatInt(id)
			}
			invs, err := f.erp.InvoicesByOrder(ctx, refs)
			return groupBy(ids, invs, err, func(inv model.Invoice) (int64, bool) {
				id, err := strconv.ParseInt(inv.OrderRef, 10, 64)
				return id, err == nil
			})
		}),
		CustomerInvoices: newLoader(f, stale, noted, model.SystemERP, cache.Invoices, "customer:", identity, func(ctx context.Context, names []string) (map[string][]model.Invoice, error) {
			invs, err := f.erp.InvoicesByCustomer(ctx, names)
			return groupBy(names, invs, err, func(inv model.Invoice) (string, bool) { return inv.CustomerID, true })
		}),
		Stock: newLoader(f, stale, noted, model.SystemERP, cache.Stock, "", identity, func(ctx context.Context, skus []string) (map[string][]model.StockLevel, error) {
			levels, err := f.erp.Stock(ctx, skus)
			bySKU, err := groupBy(skus, levels, err, func(s model.StockLevel) (string, bool) { return s.SKU, true })
			for _, ls := range bySKU {
				slices.SortFunc(ls, func(a, b model.StockLevel) int { return strings.Compare(a.Warehouse, b.Warehouse) })
			}
			return bySKU, err
		}),
		LifetimeValue: newLoader(f, stale, noted, model.SystemShop, cache.Orders, "ltv:", formatInt, f.lifetimeValues),
	}
}

// newLoader makes a loader whose batches go through the entity cache: hits
// are answered at once, misses (less those another operation is fetching
// right now) are loaded upstream in one call, and results come back in key
// order with ErrNotFound for keys the upstream does not have.
func newLoader[K comparable, V any](f *Factory, stale *staleReads, reads *reads, system model.System, kind cache.Kind, prefix string, id func(K) string,
	load func(context.Context, []K) (map[K]V, error)) *Loader[K, V] {
	name := string(system) + "/" + string(kind) + strings.TrimSuffix("/"+prefix, "/")
	name = strings.TrimSuffix(name, ":")
	spanName := "loader " + name
	batch := func(ctx context.Context, keys []K) []*dataloader.Result[V] {
		ctx, span := tracing.Start(ctx, spanName)
		defer span.End()
		metrics.CountBatch(ctx, name, len(keys))
		if f.observe != nil {
			f.observe(name, len(keys))
		}
		ids := make([]string, len(keys))
		byID := make(map[string]K, len(keys))
		for i, k := range keys {
			ids[i] = prefix + id(k)
			byID[ids[i]] = k
		}
		fetched := cache.Fetch(ctx, f.cache, system, kind, ids, func(ctx context.Context, missing []string) (map[string]V, error) {
			ks := make([]K, len(missing))
			for i, m := range missing {
				ks[i] = byID[m]
			}
			found, err := load(ctx, ks)
			out := make(map[string]V, len(found))
			for k, v := range found {
				out[prefix+id(k)] = v
			}
			return out, err
		})
		hits := 0
		for _, r := range fetched {
			if r.Hit {
				hits++
			}
		}
		metrics.CountCache(ctx, hits, len(fetched)-hits)
		if span.IsRecording() {
			span.SetAttributes(attribute.String("trestle.loader", name), attribute.Int("trestle.batch.keys", len(keys)),
				attribute.Int("trestle.cache.hits", hits), attribute.Int("trestle.cache.misses", len(fetched)-hits))
		}
		results := make([]*dataloader.Result[V], len(keys))
		for i, r := range fetched {
			if r.Stale != nil {
				if stale.refuse {
					r = cache.Result[V]{Err: r.Stale}
				} else {
					stale.add(system, kind, ids[i], r.FetchedAt, r.Stale)
				}
			}
			if errors.Is(r.Err, context.DeadlineExceeded) {
				// The request's time ran out waiting for the upstream.
				r.Err = &rest.Error{System: system, Route: string(kind), Class: rest.ErrUnavailable, Timeout: true,
					Detail: "no answer within the request's time"}
			}
			results[i] = &dataloader.Result[V]{Data: r.Value, Error: r.Err}
		}
		return results
	}
	results := dataloader.NewCache[K, V]()
	return &Loader[K, V]{
		Loader:  dataloader.NewBatchedLoader(batch, dataloader.WithWait[K, V](f.wait), dataloader.WithCache[K, V](results)),
		results: results,
		batch:   batch,
		peek:    func(k K) (V, bool, error) { return cache.Peek[V](f.cache, system, kind, prefix+id(k)) },
		system:  system,
		kind:    kind,
		cacheID: func(k K) string { return prefix + id(k) },
		stale:   stale,
		reads:   reads,
	}
}

// byKey indexes the records an adapter returned.
func byKey[K comparable, V any](records []V, err error, key func(*V) K) (map[K]*V, error) {
	if err != nil {
		return nil, err
	}
	out := make(map[K]*V, len(records))
	for i := range records {
		out[key(&records[i])] = &records[i]
	}
	return out, nil
}

// groupBy sorts the records of a one-to-many read under their keys. Every
// key asked for gets an entry, empty when nothing belongs to it.
func groupBy[K comparable, V any](keys []K, records []V, err error, key func(V) (K, bool)) (map[K][]V, error) {
	if err != nil {
		return nil, err
	}
	out := make(map[K][]V, len(keys))
	for _, k := range keys {
		out[k] = []V{}
	}
	for _, r := range records {
		if k, ok := key(r); ok {
			if _, asked := out[k]; asked {
				out[k] = append(out[k], r)
			}
		}
	}
	return out, nil
}

func formatInt(i int64) string { return strconv.FormatInt(i, 10) }
func identity(s string) string { return s }

// Found turns a loader's not-found into a nil result without error, as a
// missing record is a null field, not a failure.
func Found[V any](v V, err error) (V, error) {
	if errors.Is(err, ErrNotFound) {
		var zero V
		return zero, nil
	}
	return v, err
}

type ctxKey struct{}

// With returns a context that carries the operation's loaders.
func With(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// WithNew returns a context that carries loaders of their own, made by f
// when first asked for: a subscription event that reads nothing through
// them (most fields of a change are the change's own) costs no loaders.
func WithNew(ctx context.Context, f *Factory) context.Context {
	return context.WithValue(ctx, ctxKey{}, &pending{factory: f})
}

// pending is loaders not made yet.
type pending struct {
	once    sync.Once
	factory *Factory
	made    *Loaders
}

// For returns the loaders of the operation ctx belongs to.
func For(ctx context.Context) *Loaders {
	switch l := ctx.Value(ctxKey{}).(type) {
	case *Loaders:
		return l
	case *pending:
		l.once.Do(func() { l.made = l.factory.New() })
		return l.made
	}
	return nil
}
