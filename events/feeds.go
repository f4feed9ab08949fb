package events

import (
	"context"
	"strconv"
	"time"

	"github.com/trestlehq/trestle/graph/model"
)

// The adapters' changed-since reads, as the feeds use them.
type (
	shopChanges interface {
		OrdersModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.Order, error)
		ProductsModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.Product, error)
	}
	crmChanges interface {
		ContactsModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.Contact, error)
	}
	erpChanges interface {
		InvoicesModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.Invoice, error)
		CustomersModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.ERPCustomer, error)
		StockModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.StockLevel, error)
	}
)

// feed makes a Feed of one changed-since read and how a record becomes a
// change.
func feed[R any](name string, read func(context.Context, time.Time, int) ([]R, error), change func(R) Change) Feed {
	return Feed{Name: name, Read: func(ctx context.Context, since time.Time, limit int) ([]Change, error) {
		records, err := read(ctx, since, limit)
		if err != nil {
			return nil, err
		}
		out := make([]Change, len(records))
		for i, r := range records {
			out[i] = change(r)
		}
		return out, nil
	}}
}

// created is the operation a polled record reports: created when it has
// not been modified since it was made.
func created(createdAt, modifiedAt time.Time) Op {
	if !createdAt.IsZero() && createdAt.Equal(modifiedAt) {
		return OpCreated
	}
	return OpUpdated
}

// ShopFeeds polls WooCommerce: orders and products by modified_after.
// (WooCommerce cannot list customers by modification time; their changes
// come by webhook or with the directory's refresh.)
func ShopFeeds(shop shopChanges) []Feed {
	return []Feed{
		feed("shop orders", shop.OrdersModifiedSince, func(o model.Order) Change {
			c := Change{System: model.SystemShop, Kind: KindOrder, Key: strconv.FormatInt(o.ID, 10),
				Op: created(o.CreatedAt, o.ModifiedAt), At: o.ModifiedAt}
			if o.CustomerID != 0 {
				c.Customer = strconv.FormatInt(o.CustomerID, 10)
			}
			return c
		}),
		feed("shop products", shop.ProductsModifiedSince, func(p model.Product) Change {
			key := p.SKU
			if key == "" {
				key = strconv.FormatInt(p.ID, 10)
			}
			return Change{System: model.SystemShop, Kind: KindProduct, Key: key, Op: OpUpdated, At: p.ModifiedAt}
		}),
	}
}

// CRMFeeds polls HubSpot: contacts by a search on lastmodifieddate.
func CRMFeeds(crm crmChanges) []Feed {
	return []Feed{
		feed("crm contacts", crm.ContactsModifiedSince, func(c model.Contact) Change {
			return Change{System: model.SystemCRM, Kind: KindCustomer, Key: c.ID, Op: created(c.CreatedAt, c.UpdatedAt), At: c.UpdatedAt}
		}),
	}
}

// ERPFeeds polls ERPNext: sales invoices, customers and bins by modified.
func ERPFeeds(erp erpChanges) []Feed {
	return []Feed{
		feed("erp invoices", erp.InvoicesModifiedSince, func(i model.Invoice) Change {
			return Change{System: model.SystemERP, Kind: KindInvoice, Key: i.ID, Op: OpUpdated, At: i.ModifiedAt,
				Customer: i.CustomerID, Order: i.OrderRef}
		}),
		feed("erp customers", erp.CustomersModifiedSince, func(c model.ERPCustomer) Change {
			return Change{System: model.SystemERP, Kind: KindCustomer, Key: c.ID, Op: created(c.CreatedAt, c.ModifiedAt), At: c.ModifiedAt}
		}),
		feed("erp stock", erp.StockModifiedSince, func(s model.StockLevel) Change {
			return Change{System: model.SystemERP, Kind: KindStock, Key: s.SKU, Op: OpUpdated, At: s.ModifiedAt}
		}),
	}
}
