package loaders

import (
	"github.com/trestlehq/trestle/cache"
	"github.com/trestlehq/trestle/events"
	"github.com/trestlehq/trestle/graph/model"
)

// Invalidate drops every cache entry a change affects, so the next read of
// any of them goes upstream: the record itself, and what the loaders derive
// from it (a customer's balance and lifetime value, an order's invoices).
// Invalidating a kind also retires every cached list page of it.
func (f *Factory) Invalidate(c events.Change) {
	switch c.Kind {
	case events.KindOrder:
		ids := []string{c.Key}
		if c.Customer != "" {
			ids = append(ids, "ltv:"+c.Customer)
		}
		f.cache.Invalidate(model.SystemShop, cache.Orders, ids...)
	case events.KindProduct:
		f.cache.Invalidate(model.SystemShop, cache.Products, c.Key)
	case events.KindStock:
		f.cache.Invalidate(model.SystemERP, cache.Stock, c.Key)
	case events.KindInvoice:
		ids := []string{c.Key}
		if c.Customer != "" {
			ids = append(ids, "customer:"+c.Customer)
		}
		if c.Order != "" {
			ids = append(ids, "order:"+c.Order)
		}
		f.cache.Invalidate(model.SystemERP, cache.Invoices, ids...)
	case events.KindCustomer:
		f.cache.Invalidate(c.System, cache.Customers, c.Key)
	}
}
